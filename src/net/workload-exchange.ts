/**
 * The workload identity exchange as Codex 0.171.0 makes it with OPENAI_FEDERATION_RULE_ID and
 * OPENAI_IDENTITY_TOKEN_FILE (seen by running it behind a loopback TLS proxy; docs/credential-sources.md):
 * `POST https://auth.openai.com/oauth/token`, form-encoded `grant_type` (JWT bearer),
 * `assertion` (the GitHub OIDC token), `federation_rule_id`, and `workload_identity_context`
 * when OPENAI_WORKLOAD_IDENTITY_CONTEXT is set. The answer is a ChatGPT access token for an
 * account, which Codex then sends to the ChatGPT backend as its bearer with `chatgpt-account-id`.
 * Codex takes the endpoint from its chatgpt_base_url (production or staging) and has no override.
 * Shared by the main step (the first exchange: its refusal is the user's error) and the key proxy (every renewal).
 */

/** Codex's token endpoints, by the ChatGPT backend it is routed to. */
const PRODUCTION_TOKEN_URL = 'https://auth.openai.com/oauth/token'
const STAGING_TOKEN_URL = 'https://auth.api.openai.org/oauth/token'
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer'
/** The longest life Codex accepts of an exchanged token. */
const MAX_LIFETIME_S = 3600

/** An exchanged access token and the ChatGPT account it acts for. Its token is a secret. */
export interface ExchangedToken {
  accessToken: string
  accountId: string
  userId: string
  planType?: string
  /** Epoch milliseconds. */
  expiresAt: number
}

/**
 * The token endpoint for a ChatGPT backend, as Codex 0.171.0 chooses it; undefined for a
 * backend Codex refuses workload identity with ("supports only trusted production and staging app routing").
 */
export function tokenUrlFor(backend: string): string | undefined {
  const url = new URL(backend)
  const route = url.pathname.replace(/\/+$/, '')
  if (url.protocol !== 'https:' || !['', '/backend-api', '/codex', '/backend-api/codex'].includes(route))
    return undefined
  if (url.host === 'chatgpt.com' || url.host === 'chat.openai.com') return PRODUCTION_TOKEN_URL
  if (url.host === 'chatgpt-staging.com') return STAGING_TOKEN_URL
  return undefined
}

/** The exchange request's body and headers, as Codex sends them (its client adds only accept-encoding). */
export function exchangeRequest(
  ruleId: string,
  assertion: string,
  context?: string
): { headers: Record<string, string>; body: string } {
  const form = new URLSearchParams({ grant_type: JWT_BEARER, assertion, federation_rule_id: ruleId })
  if (context) form.set('workload_identity_context', context)
  return {
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: '*/*' },
    body: form.toString()
  }
}

/**
 * The token endpoint's answer as Codex reads it, or why it is not one: a reason with no
 * text of the answer's (it may hold the token).
 */
export function parseExchange(status: number, text: string, now = Date.now()): ExchangedToken | string {
  if (status < 200 || status >= 300) return `HTTP ${status}${errorCode(text)}`
  let answer: Record<string, unknown>
  try {
    answer = JSON.parse(text) as Record<string, unknown>
  } catch {
    return 'an answer that is not JSON'
  }
  const { access_token, token_type, expires_in, chatgpt_account_id, user_id, chatgpt_plan_type } = answer ?? {}
  if (typeof access_token !== 'string' || !access_token.trim()) return 'an answer without an access token'
  if (typeof token_type !== 'string' || token_type.toLowerCase() !== 'bearer')
    return 'an answer whose token is not a bearer token'
  if (typeof expires_in !== 'number' || !(expires_in > 0) || expires_in > MAX_LIFETIME_S)
    return 'an answer without a usable lifetime'
  if (typeof chatgpt_account_id !== 'string' || !chatgpt_account_id) return 'an answer that names no ChatGPT account'
  if (typeof user_id !== 'string' || !user_id) return 'an answer that names no user'
  return {
    accessToken: access_token,
    accountId: chatgpt_account_id,
    userId: user_id,
    planType: typeof chatgpt_plan_type === 'string' ? chatgpt_plan_type : undefined,
    expiresAt: now + expires_in * 1000
  }
}

/**
 * When to exchange again: as Codex does, before the last 2 minutes of the token's life (or
 * its last half, for a short one).
 */
export function renewAt(token: ExchangedToken, obtainedAt: number): number {
  const lifetime = token.expiresAt - obtainedAt
  return token.expiresAt - Math.min(120_000, lifetime / 2)
}

/** An OAuth error code from the endpoint's answer, if it is a short safe word (never free text). */
function errorCode(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: unknown }
    const code = typeof parsed.error === 'object' ? (parsed.error as { code?: unknown })?.code : parsed.error
    return typeof code === 'string' && /^[\w.-]{1,64}$/.test(code) ? ` (${code})` : ''
  } catch {
    return ''
  }
}
