/**
 * A ChatGPT sign-in (auth.json's id, access and refresh tokens) held by the key proxy, which
 * refreshes it itself, as Codex would: when the access token expires (its JWT `exp`, less a
 * margin) or the backend answers 401. The request is the one Codex 0.171.0 makes (seen by
 * running it against a loopback token endpoint): `POST` JSON `{client_id, grant_type:
 * "refresh_token", refresh_reason, refresh_token}` with `proactive_expiry` or
 * `unauthorized_recovery`, its `originator` and `user-agent` those of the Codex request that
 * needed it. One refresh at a time: every request that needs one waits for the same.
 * Each refresh rewrites auth.json in the proxy's private directory (0600, atomically), the
 * file the post step keeps.
 */
import type { IncomingHttpHeaders } from 'node:http'
import * as path from 'node:path'
import { AUTH_CLAIMS, jwtPayload, REFRESH_FAILURES, RESEED } from '../../inputs/auth-json.js'
import { replaceFile } from '../../job/files.js'
import type { Fetch } from './upstreams/upstream.js'

/** Codex's token endpoint when CODEX_REFRESH_TOKEN_URL_OVERRIDE names none. */
export const DEFAULT_REFRESH_URL = 'https://auth.openai.com/oauth/token'
/** Codex's OAuth client id, as its refresh request carries it. */
const CLIENT_ID = 'app_EMoamEEZ73f0CkXaXp7hrann'
/** Refreshed this long before the access token's `exp`: a request under way never meets its expiry. */
const MARGIN_MS = 5 * 60_000
/** The sign-in as it stands, in the proxy's directory: what the post step keeps. */
export const SIGNIN_FILE = 'auth.json'

export type RefreshReason = 'proactive_expiry' | 'unauthorized_recovery'

interface AuthFile {
  tokens: { id_token: string; access_token: string; refresh_token: string; account_id?: string }
  last_refresh?: string
  [key: string]: unknown
}

/** What the token endpoint's refusal says, as the action documents it. */
export function refusalMessage(status: number, text: string): string {
  const known = REFRESH_FAILURES.find((failure) => failure.pattern.test(text))
  const why = known ? known.meaning : `HTTP ${status}`
  return `The key proxy could not refresh the ChatGPT sign-in: the token endpoint refused its refresh token (${why}). To re-seed, ${RESEED} and store the auth.json it writes in the auth-json secret.`
}

/**
 * The `originator` and `user-agent` Codex's own refresh would carry, from one of its requests:
 * its user agent is `<originator>/<version> (<os>) <terminal>`, to which its backend client
 * adds ` (<originator>; <version>)`, which its token request does not carry.
 */
function client(from: IncomingHttpHeaders): Record<string, string> {
  const agent = typeof from['user-agent'] === 'string' ? from['user-agent'] : undefined
  const named = typeof from.originator === 'string' ? from.originator : agent?.match(/^([\w.-]+)\//)?.[1]
  const out: Record<string, string> = {}
  if (named) out.originator = named
  if (agent)
    out['user-agent'] = named
      ? agent.replace(/ \(([\w.-]+); [\w.-]+\)$/, (suffix, who: string) => (who === named ? '' : suffix))
      : agent
  return out
}

export class SignIn {
  private file: AuthFile
  private pending?: Promise<void>
  /** Why the sign-in cannot be refreshed any more (the documented message); set once, for good. */
  refused?: string
  refreshes = 0
  /** A refreshed sign-in not yet in the file the post step keeps. */
  private unsaved = false

  constructor(
    text: string,
    private readonly url: string,
    private readonly fetch: Fetch,
    private readonly dir: string
  ) {
    this.file = JSON.parse(text) as AuthFile
  }

  /** The access token to send for a request of Codex's (`from`), refreshed first when it is about to expire. */
  async accessToken(from: IncomingHttpHeaders): Promise<string> {
    if (this.unsaved && !this.pending) await this.save()
    const exp = jwtPayload(this.file.tokens.access_token)?.exp
    if (typeof exp === 'number' && exp * 1000 - MARGIN_MS <= Date.now() && !this.refused)
      await this.refresh('proactive_expiry', from).catch(() => undefined)
    return this.file.tokens.access_token
  }

  /** The account the sign-in speaks for: tokens.account_id, else the id_token's claim. */
  get accountId(): string {
    const claims = jwtPayload(this.file.tokens.id_token)?.[AUTH_CLAIMS] as Record<string, unknown> | undefined
    return this.file.tokens.account_id || String(claims?.chatgpt_account_id ?? '')
  }

  /**
   * After the backend answered 401 to `used` (the access token sent): whether a retry may
   * go with a newer one. A refresh another request made meanwhile counts; otherwise one is made.
   */
  async recover(used: string, from: IncomingHttpHeaders): Promise<boolean> {
    if (used === this.file.tokens.access_token && !this.refused)
      await this.refresh('unauthorized_recovery', from).catch(() => undefined)
    return used !== this.file.tokens.access_token
  }

  /** Why the last `recover` gave no newer token: the documented refusal, or a failure the next request may not meet. */
  get unrecovered(): string {
    return (
      this.refused ??
      'The key proxy could not refresh the ChatGPT sign-in just now (the token endpoint failed or could not be reached); the next request tries again. Check the proxy variables (HTTPS_PROXY, NO_PROXY) and ca-certificate if it goes on.'
    )
  }

  /** The refresh under way settled and its file written (or its failure met); undefined when nothing is left to do. */
  settle(): Promise<void> | undefined {
    if (!this.pending && !this.unsaved) return undefined
    return (this.pending ?? Promise.resolve())
      .catch(() => undefined)
      .then(() => (this.unsaved ? this.save() : undefined))
  }

  /** One refresh at a time: a request that needs one while one is under way waits for it. */
  private refresh(reason: RefreshReason, from: IncomingHttpHeaders): Promise<void> {
    this.pending ??= this.refreshOnce(reason, from).finally(() => (this.pending = undefined))
    return this.pending
  }

  private async refreshOnce(reason: RefreshReason, from: IncomingHttpHeaders): Promise<void> {
    const token = this.file.tokens.refresh_token
    if (!token) {
      this.refused =
        'The ChatGPT sign-in is an access-only copy (shared-secret), which is never refreshed, and its access token expired or was refused. Run the refresher job again, which writes a new copy.'
      return
    }
    const headers: Record<string, string> = { 'content-type': 'application/json', ...client(from), accept: '*/*' }
    const body = JSON.stringify({
      client_id: CLIENT_ID,
      grant_type: 'refresh_token',
      refresh_reason: reason,
      refresh_token: token
    })
    const answer = await this.fetch(this.url, 'POST', headers, body)
    // A 5xx, a 429 or 408 (slow down, too slow) or an unreachable endpoint may pass: the next
    // request that needs a refresh tries again. Only a refusal of the token ends the sign-in.
    if (answer.status >= 500 || answer.status === 429 || answer.status === 408)
      throw new Error(`the token endpoint answered HTTP ${answer.status}`)
    if (answer.status !== 200) {
      this.refused = refusalMessage(answer.status, answer.text)
      return
    }
    const fresh = JSON.parse(answer.text) as Partial<AuthFile['tokens']>
    const tokens = { ...this.file.tokens }
    for (const name of ['id_token', 'access_token', 'refresh_token'] as const) {
      const value = fresh[name]
      if (typeof value === 'string' && value) tokens[name] = value
    }
    const file: AuthFile = { ...this.file, tokens, last_refresh: new Date().toISOString() }
    // Used and kept even when the file cannot be written (a full disk): the token endpoint has
    // rotated the refresh token, so the old one is spent and only this one works. The file is
    // written again at each later request and at the stop, for the post step.
    this.file = file
    this.refreshes++
    this.unsaved = true
    await this.save()
  }

  /** Writes the sign-in as it stands to the proxy's auth.json; a failure leaves it to be tried again. */
  private async save(): Promise<void> {
    try {
      await replaceFile(path.join(this.dir, SIGNIN_FILE), JSON.stringify(this.file, null, 2))
      this.unsaved = false
    } catch {
      this.unsaved = true
    }
  }
}
