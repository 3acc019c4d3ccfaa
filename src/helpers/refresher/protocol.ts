import { type OidcRequest } from '../../net/github-oidc.js'
import { jwtExpiry, jwtIssuedAt } from '../../secrets/jwt.js'
import { type HelperStatus } from '../detach.js'

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
