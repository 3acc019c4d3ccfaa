import { existsSync, readFileSync } from 'node:fs'
import * as path from 'node:path'
import * as core from '@actions/core'
import type { CreatedPaths } from './cleanup.js'
import { MAX_LIFETIME_MS, startDetached } from './detached.js'
import { makePrivateDir, runnerTemp } from './files.js'
import type { HttpClient } from './http.js'
import type { WorkloadIdentity } from './inputs.js'
import { jwtIssuedAt, oidcRequestFromEnv, replaceFile, requestIdToken, type OidcRequest } from './oidc.js'
import { jwtExpiry, maskSecret } from './secrets.js'
import { saveValue, StateKey } from './state.js'

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
export interface RefresherStatus {
  pid: number
  state: 'running' | 'stopped'
  refreshes: number
  lastRefresh?: string
  lastError?: string
}


/**
 * When to fetch the next token: half-way through the current one's life (iat to exp), so
 * that a failed attempt leaves time for retries before it expires.
 */
export function refreshDelay(token: string, obtainedAt: number, now: number): number {
  const issued = jwtIssuedAt(token)?.getTime() ?? obtainedAt
  const expires = jwtExpiry(token)?.getTime() ?? obtainedAt + 5 * 60_000
  return Math.max(200, issued + (expires - issued) / 2 - now)
}

export interface StartedIdentity {
  tokenFile: string
  expiresAt?: Date
  refresherPid: number
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
  core.info(`GitHub OIDC token for audience ${identity.audience} written to ${tokenFile}${expiresAt ? `; it expires at ${expiresAt.toISOString()}` : ''}`)

  const config: RefresherConfig = { request, file: tokenFile, statusFile: path.join(dir, 'refresher.json'), deadline: Date.now() + MAX_LIFETIME_MS, ca: options.ca, idleTimeoutMs: options.idleTimeoutMs }
  const child = startDetached('refresher', config)
  saveValue(StateKey.RefresherPid, String(child.pid))
  child.unref()
  core.info(`OIDC token refresher started (pid ${child.pid}); the post step stops it.`)
  return { tokenFile, expiresAt, refresherPid: child.pid }
}

/** True when `pid` is our refresher (where the OS lets us check), so a reused PID is never signalled. */
function isRefresher(pid: number): boolean {
  const cmdline = `/proc/${pid}/cmdline`
  if (!existsSync('/proc/self')) return true
  try {
    return readFileSync(cmdline, 'utf8').includes(`${path.sep}refresher${path.sep}index.js`)
  } catch {
    return false
  }
}

/** The post step's part: stop the refresher and report what it did. */
export async function stopRefresher(pidText: string, statusFiles: string[]): Promise<void> {
  const pid = Number(pidText)
  if (!Number.isInteger(pid) || pid <= 0) return
  if (isRefresher(pid)) {
    try {
      process.kill(pid, 'SIGTERM')
    } catch {
      // Already gone: the runner's orphan cleanup or its deadline ended it.
    }
    for (let i = 0; i < 20 && isRefresher(pid); i++) await new Promise((resolve) => setTimeout(resolve, 50))
  }
  for (const file of statusFiles) {
    try {
      const status = JSON.parse(readFileSync(file, 'utf8')) as RefresherStatus
      core.info(`OIDC token refresher (pid ${status.pid}): ${status.refreshes} refreshes${status.lastRefresh ? `, the last at ${status.lastRefresh}` : ''}${status.lastError ? `; last error: ${status.lastError}` : ''}; stopped.`)
    } catch {
      // No status yet: it never got to write one.
    }
  }
}
