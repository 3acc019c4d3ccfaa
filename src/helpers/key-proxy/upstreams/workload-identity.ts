/**
 * GitHub OIDC workload identity (federation-rule-id): the proxy makes the exchange Codex
 * 0.171.0 makes natively (net/workload-exchange.ts) and holds its result, a short-lived
 * ChatGPT access token. Natively Codex is in ChatGPT mode with that token as its bearer and
 * the account in `chatgpt-account-id`; through the proxy it is in the same mode, with a
 * placeholder ChatGPT sign-in in auth.json (tokens that name the same account and user, the
 * access token a random secret's proof that a request is Codex's), so the backend sees the
 * requests it would see natively: chatgpt-token.ts routes them and puts the held token in.
 * The token is renewed here before its end (as Codex renews it), from a new GitHub OIDC token
 * each time (the runner's request token never leaves the proxy). After a 401 Codex refreshes
 * its sign-in at CODEX_REFRESH_TOKEN_URL_OVERRIDE, which is the proxy: that refresh, where
 * Codex natively would exchange again, makes the next request exchange again, if the 401 was
 * to the token held now (the proxy saw it pass: `refused`), so that many 401s make one exchange.
 */
import { idTokenFrom, idTokenUrl } from '../../../net/github-oidc.js'
import { exchangeRequest, type ExchangedToken, parseExchange, renewAt } from '../../../net/workload-exchange.js'
import type { ChatgptTokenConfig, WorkloadIdentityConfig } from '../protocol.js'
import { chatgptTokenUpstream } from './chatgpt-token.js'
import { type Fetch, startsWithSecret, type Upstream, withoutQuery } from './upstream.js'

/** Where Codex's refresh of its (placeholder) sign-in arrives: CODEX_REFRESH_TOKEN_URL_OVERRIDE is `<proxy>/oauth/token`. */
export const REFRESH_PATH = '/oauth/token'
/** After a failed renewal, the next attempt waits this long (the held token serves meanwhile). */
const RETRY_MS = 30_000

export function workloadIdentityUpstream(config: WorkloadIdentityConfig, capability: string, fetch: Fetch): Upstream {
  const { signIn } = config
  let held: ExchangedToken = config.first
  let due = renewAt(config.first, config.obtainedAt)
  let renewing: Promise<void> | undefined
  /** Why the last renewal failed, until one succeeds. */
  let failure: unknown
  /** The backend answered 401 to the held token (seen before Codex got the answer, and so before its refresh). */
  let heldRefused = false
  // chatgpt-token.ts reads these at each request: a renewal changes what it adds.
  const current: ChatgptTokenConfig = {
    token: held.accessToken,
    accountId: held.accountId,
    fedramp: false,
    backend: config.backend,
    authapi: ''
  }
  const chatgpt = chatgptTokenUpstream(current, capability, signIn.accessToken)

  async function renew(): Promise<void> {
    const oidc = await fetch(idTokenUrl(config.request), 'GET', {
      authorization: `Bearer ${config.request.token}`,
      accept: 'application/json'
    })
    let assertion: string | undefined
    try {
      assertion = oidc.status === 200 ? idTokenFrom(JSON.parse(oidc.text)) : undefined
    } catch {
      assertion = undefined
    }
    if (!assertion) throw new Error(`the runner's OIDC endpoint answered HTTP ${oidc.status} without a token`)
    const { headers, body } = exchangeRequest(config.ruleId, assertion, config.context)
    const obtainedAt = Date.now()
    const answer = await fetch(config.tokenUrl, 'POST', headers, body)
    const token = parseExchange(answer.status, answer.text, obtainedAt)
    if (typeof token === 'string') throw new Error(`the token endpoint answered ${token}`)
    // Codex refuses a renewal that speaks for another account or user: so does the proxy.
    if (token.accountId !== held.accountId || token.userId !== held.userId)
      throw new Error('the token endpoint named another account than the first exchange')
    held = token
    heldRefused = false
    current.token = token.accessToken
    due = renewAt(token, obtainedAt)
  }

  /**
   * The held token, renewed first when it is due (one renewal at a time); a failed renewal keeps it while it lasts.
   * Once it has ended, no request goes out with it: until the next try, each is told why the last one failed.
   */
  async function fresh(): Promise<void> {
    const now = Date.now()
    if (now < due) {
      if (now < held.expiresAt) return
      if (failure !== undefined) throw failure
    }
    renewing ??= renew()
      .then(() => (failure = undefined))
      .catch((error: unknown) => {
        failure = error
        due = Date.now() + RETRY_MS
        if (Date.now() >= held.expiresAt) throw error
      })
      .finally(() => (renewing = undefined))
    await renewing
  }

  return {
    origin: chatgpt.origin,
    route: (method, url, websocket, incoming) =>
      url.startsWith('/authapi/') ? undefined : chatgpt.route(method, url, websocket, incoming),
    refused(outgoing) {
      if (outgoing.authorization === `Bearer ${held.accessToken}`) heldRefused = true
    },
    async authorize(outgoing, incoming) {
      await fresh()
      return chatgpt.authorize(outgoing, incoming)
    },
    async answer(method, url, _incoming, body) {
      if (method !== 'POST' || withoutQuery(url) !== REFRESH_PATH) return undefined
      // Read outside the try: a body past the proxy's bound is refused as such (413).
      const text = (await body()).toString('utf8')
      let sent: unknown
      try {
        sent = (JSON.parse(text) as { refresh_token?: unknown }).refresh_token
      } catch {
        sent = undefined
      }
      const proven =
        typeof sent === 'string' &&
        sent.length === signIn.refreshToken.length &&
        startsWithSecret(sent, signIn.refreshToken)
      if (!proven) return { status: 401, body: { error: { code: 'refresh_token_invalidated' } } }
      // The backend refused the held token: the next request exchanges again, as Codex would. A
      // refresh after a 401 to a token the proxy no longer holds (a request under way as it
      // exchanged), or with no 401 at all, leaves the token held: many refusals, one exchange.
      if (heldRefused) due = 0
      return {
        status: 200,
        body: { id_token: signIn.idToken, access_token: signIn.accessToken, refresh_token: signIn.refreshToken }
      }
    }
  }
}
