/**
 * A ChatGPT account's access token (a Codex personal access token, `at-…`) for the ChatGPT
 * Codex backend. Codex stays in its ChatGPT mode (its requests, their bodies and headers are
 * what it sends that backend natively), pointed at the proxy by `chatgpt_base_url`
 * (`https://127.0.0.1:PORT/backend-api/`) and CODEX_AUTHAPI_BASE_URL (`…/authapi`), and
 * signed in with a placeholder token, `at-<capability>`, which it sends where it would send
 * its token. The proxy takes only requests that carry it (compared in constant time), puts
 * the real token in its place, and the account's id and FedRAMP flag (learned by the main
 * step at AuthAPI's whoami) where Codex put its own, so that nothing that reaches the proxy
 * can speak for another account.
 *
 * Why not a path prefix as for an API key: in ChatGPT mode Codex 0.171.0 sends its model
 * requests to the origin of chatgpt_base_url + `/backend-api/codex/…`, dropping any path
 * before `/backend-api` (seen by running it against a loopback backend).
 */
import type { ChatgptTokenConfig } from '../protocol.js'
import type { SignIn } from '../signin.js'
import { startsWithSecret, type Upstream, withoutQuery } from './upstream.js'

/**
 * What Codex 0.171.0 asks of the ChatGPT backend (seen by running it against a loopback
 * one): model requests, the model list, workspace routing, user settings, the managed
 * config bundle, rate-limit reads, plugin reads and its analytics. Any other path of the
 * account's (conversations, files, tasks) is refused.
 */
const BACKEND: [string, RegExp, boolean][] = [
  ['POST', /^codex\/responses(\/compact)?$/, true],
  ['GET', /^codex\/models$/, false],
  ['POST', /^codex\/analytics-events\/events$/, false],
  ['GET', /^wham\/(accounts\/check|settings\/user|config\/bundle|usage)$/, false],
  ['GET', /^ps\/plugins\/(installed|tooling-state\/[\w.-]+|suggested\/[\w.-]+)$/, false]
]
/**
 * The apps (MCP) endpoint, to which Codex sends no token of its own: relayed as it is,
 * nothing added, so the proxy holds nothing back that Codex would have reached.
 */
const UNAUTHENTICATED = /^ps\/mcp$/
/** AuthAPI: the check Codex makes of its token before every command. */
const AUTHAPI = /^v1\/user-auth-credential\/whoami$/

/**
 * `signedInWith`: what Codex sends as its bearer, when it is not `at-<capability>` (a
 * placeholder ChatGPT sign-in's access token). A ChatGPT sign-in (`signin`) is served the
 * same way: its access token takes the real token's place (refreshed by the holder),
 * AuthAPI's check of the placeholder is answered by the proxy from the id_token's claims
 * (there is no personal access token to check), and a 401 is recovered from by one refresh
 * and the same request again.
 */
export function chatgptTokenUpstream(
  config: ChatgptTokenConfig,
  capability: string,
  signedInWith = `at-${capability}`,
  signin?: SignIn
): Upstream {
  const placeholder = `Bearer ${signedInWith}`
  /** The backend's `/backend-api/` on its origin: where Codex sends model requests natively. */
  const modelBase = new URL('/backend-api/', config.backend).href
  return {
    origin: new URL(config.backend).origin,
    route(method, url, websocket, incoming) {
      const authorization = incoming.authorization
      if (authorization === undefined) {
        const rest = url.startsWith('/backend-api/') ? url.slice('/backend-api/'.length) : undefined
        return !websocket && method === 'POST' && rest !== undefined && UNAUTHENTICATED.test(withoutQuery(rest))
          ? { url: `${config.backend}${rest}`, metered: false }
          : undefined
      }
      if (!startsWithSecret(authorization, placeholder) || authorization.length !== placeholder.length) return undefined
      if (url.startsWith('/backend-api/')) {
        const rest = url.slice('/backend-api/'.length)
        const route = withoutQuery(rest)
        if (websocket)
          return method === 'GET' && route === 'codex/responses'
            ? { url: `${modelBase}${rest}`, metered: false }
            : undefined
        const match = BACKEND.find(([m, pattern]) => m === method && pattern.test(route))
        if (!match) return undefined
        return { url: `${route.startsWith('codex/responses') ? modelBase : config.backend}${rest}`, metered: match[2] }
      }
      if (url.startsWith('/authapi/') && !websocket && method === 'GET') {
        const rest = url.slice('/authapi/'.length)
        return AUTHAPI.test(withoutQuery(rest)) ? { url: `${config.authapi}/${rest}`, metered: false } : undefined
      }
      return undefined
    },
    async authorize({ headers }, incoming) {
      const out = { ...headers }
      if (incoming.authorization !== undefined)
        out.authorization = `Bearer ${signin ? await signin.accessToken(incoming) : config.token}`
      if (incoming['chatgpt-account-id'] !== undefined) {
        out['chatgpt-account-id'] = config.accountId
        if (config.fedramp) out['x-openai-fedramp'] = 'true'
        else delete out['x-openai-fedramp']
      }
      return out
    },
    recover:
      signin &&
      (async (outgoing, incoming) => {
        const used = String(outgoing.authorization ?? '').replace(/^Bearer /, '')
        return (await signin.recover(used, incoming)) ? undefined : signin.unrecovered
      }),
    renewals: signin && (() => signin.refreshes),
    settle: signin && (() => signin.settle()),
    // AuthAPI's check of the placeholder, for a sign-in: its account, from the id_token.
    answer:
      config.signin &&
      (async (method, url, incoming) => {
        const whoami = config.signin?.whoami
        const authorization = incoming.authorization ?? ''
        const mine = startsWithSecret(authorization, placeholder) && authorization.length === placeholder.length
        return method === 'GET' && mine && withoutQuery(url) === '/authapi/v1/user-auth-credential/whoami'
          ? { status: 200, body: whoami }
          : undefined
      })
  }
}
