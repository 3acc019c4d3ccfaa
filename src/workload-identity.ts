import * as path from 'node:path'
import * as core from '@actions/core'
import type { CreatedPaths } from './cleanup.js'
import { MAX_LIFETIME_MS, startDetached, stopHelper, type HelperStatus } from './detached.js'
import { makePrivateDir, replaceFile, runnerTemp } from './files.js'
import type { HttpClient } from './http.js'
import type { WorkloadIdentity } from './inputs.js'
import { jwtIssuedAt, oidcRequestFromEnv, requestIdToken, type OidcRequest } from './oidc.js'
import { jwtExpiry, maskSecret } from './secrets.js'
import { saveValue, StateKey } from './state.js'
import { inline } from './untrusted.js'

/** What the refresher process gets on stdin: never in argv, the environment or a file. */
export interface RefresherConfig {
  request: OidcRequest
  file: string
  statusFile: string
  /** Epoch milliseconds after which it stops whatever happens. */
  deadline: number
  ca?: string[]
  idleTimeoutMs: number
}

/** The refresher's report, for the post step's log. Holds no token. */
export interface RefresherStatus extends HelperStatus {
  refreshes: number
  lastRefresh?: string
  lastError?: string
}

/** The refresher's status file, in its private directory. */
const REFRESHER_STATUS = 'refresher.json'

/** The shortest wait between two token requests. */
const MIN_REFRESH_DELAY_MS = 1000

/**
 * When to fetch the next token: half-way through the current one's life (iat to exp), so
 * that a failed attempt leaves time for retries before it expires.
 */
export function refreshDelay(token: string, obtainedAt: number, now: number): number {
  const issued = jwtIssuedAt(token)?.getTime() ?? obtainedAt
  const expires = jwtExpiry(token)?.getTime() ?? obtainedAt + 5 * 60_000
  const delay = issued + (expires - issued) / 2 - now
  // A token that is already past its half-life (or has unreadable times) must not set off a request loop.
  return Number.isFinite(delay) ? Math.max(MIN_REFRESH_DELAY_MS, delay) : MIN_REFRESH_DELAY_MS
}

export interface StartedIdentity {
  tokenFile: string
  expiresAt?: Date
}

/**
 * Gets the first OIDC token, writes it to a 0600 file in a private directory, and starts
 * a detached refresher that keeps the file current for as long as the job runs.
 */
export async function startWorkloadIdentity(http: HttpClient, identity: WorkloadIdentity, created: CreatedPaths, options: { ca?: string[]; idleTimeoutMs: number }): Promise<StartedIdentity> {
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
  core.info(`GitHub OIDC token for audience ${inline(identity.audience)} written to the file OPENAI_IDENTITY_TOKEN_FILE names${expiresAt ? `; it expires at ${expiresAt.toISOString()}` : ''}`)

  const config: RefresherConfig = { request, file: tokenFile, statusFile: path.join(dir, REFRESHER_STATUS), deadline: Date.now() + MAX_LIFETIME_MS, ca: options.ca, idleTimeoutMs: options.idleTimeoutMs }
  const child = startDetached('refresher', config)
  saveValue(StateKey.RefresherDir, dir)
  child.unref()
  core.info(`OIDC token refresher started (pid ${child.pid}); the post step stops it. The runner cannot mask the tokens it fetches: never print the token file.`)
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
    core.info(
      `OIDC token refresher (pid ${status.pid}): ${status.refreshes} refreshes${status.lastRefresh ? `, the last at ${status.lastRefresh}` : ''}${status.lastError ? `; last error: ${inline(status.lastError)}` : ''}; ${status.state === 'stopped' ? 'stopped' : 'asked to stop'}.`
    )
  }
}
