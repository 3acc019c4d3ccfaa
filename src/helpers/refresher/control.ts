import * as core from '@actions/core'
import * as path from 'node:path'
import type { WorkloadIdentity } from '../../inputs/inputs.js'
import { type CreatedPaths } from '../../job/created-paths.js'
import { makePrivateDir, replaceFile, runnerTemp } from '../../job/files.js'
import { saveValue, StateKey } from '../../job/state.js'
import { oidcRequestFromEnv, requestIdToken } from '../../net/github-oidc.js'
import type { HttpClient } from '../../net/http.js'
import { inline } from '../../secrets/inert-output.js'
import { jwtExpiry } from '../../secrets/jwt.js'
import { maskSecret } from '../../secrets/mask.js'
import { MAX_LIFETIME_MS, startDetached, stopHelper } from '../detach.js'
import { type RefresherConfig, type RefresherStatus } from './protocol.js'

/** The refresher's status file, in its private directory. */
const REFRESHER_STATUS = 'refresher.json'

export interface StartedIdentity {
  tokenFile: string
  expiresAt?: Date
}

/**
 * Gets the first OIDC token, writes it to a 0600 file in a private directory, and starts
 * a detached refresher that keeps the file current for as long as the job runs.
 */
export async function startWorkloadIdentity(
  http: HttpClient,
  identity: WorkloadIdentity,
  created: CreatedPaths,
  options: { ca?: string[]; idleTimeoutMs: number }
): Promise<StartedIdentity> {
  const request = oidcRequestFromEnv(identity.audience)
  maskSecret(request.token)
  const token = await requestIdToken(http, request)
  maskSecret(token)
  const dir = await makePrivateDir(runnerTemp(), 'codex-oidc-')
  created.add(dir)
  const tokenFile = path.join(dir, 'token')
  await replaceFile(tokenFile, token)
  const expiresAt = jwtExpiry(token)
  // The path is not logged: the tokens the refresher fetches later are not masked.
  core.info(
    `GitHub OIDC token for audience ${inline(identity.audience)} written to the file OPENAI_IDENTITY_TOKEN_FILE names${expiresAt ? `; it expires at ${expiresAt.toISOString()}` : ''}`
  )

  const config: RefresherConfig = {
    request,
    file: tokenFile,
    statusFile: path.join(dir, REFRESHER_STATUS),
    deadline: Date.now() + MAX_LIFETIME_MS,
    ca: options.ca,
    idleTimeoutMs: options.idleTimeoutMs
  }
  const child = startDetached('refresher', config)
  saveValue(StateKey.RefresherDir, dir)
  child.unref()
  core.info(
    `OIDC token refresher started (pid ${child.pid}); the post step stops it. The runner cannot mask the tokens it fetches: never print the token file.`
  )
  return { tokenFile, expiresAt }
}

/**
 * Stops the refresher that owns `dir` (see stopHelper), reports what it did, and clears the
 * saved directory so that no later step acts on it again.
 */
export async function stopRefresher(dir: string): Promise<void> {
  // Forgotten first: no later step acts on it again, and removing its directory stops it anyway.
  saveValue(StateKey.RefresherDir, '')
  const status = await stopHelper<RefresherStatus>(dir, REFRESHER_STATUS)
  if (status) {
    // The status file is writable by any process of the job: what it says is printed inert.
    core.info(
      inline(
        `OIDC token refresher (pid ${status.pid}): ${status.refreshes} refreshes${status.lastRefresh ? `, the last at ${status.lastRefresh}` : ''}${status.lastError ? `; last error: ${status.lastError}` : ''}; ${status.state === 'stopped' ? 'stopped' : 'asked to stop'}.`
      )
    )
  }
}
