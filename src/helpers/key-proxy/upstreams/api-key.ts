/** An API key for the OpenAI API, Azure OpenAI or a gateway: the proxy's first kind. */
import { keyHeaders } from '../../../net/endpoint.js'
import { startsWithSecret, type Upstream, withoutQuery } from './upstream.js'

/** What Codex asks of a Responses API provider; anything else is refused. */
const ROUTES = new Set(['POST /responses', 'POST /responses/compact', 'GET /models'])
/** Codex's WebSocket transport: the upgrade of a `GET /responses`, and nothing else. */
const WEBSOCKET_ROUTES = new Set(['GET /responses'])

/** Codex's provider base URL is `<proxy>/<capability>/v1`; `upstream` is api-base-url. */
export function apiKeyUpstream(upstream: string, key: string, capability: string): Upstream {
  const auth = keyHeaders(upstream, key)
  const prefix = `/${capability}/v1/`
  return {
    origin: new URL(upstream).origin,
    route(method, url, websocket) {
      if (!startsWithSecret(url, prefix)) return undefined
      const rest = url.slice(prefix.length - 1)
      const routes = websocket ? WEBSOCKET_ROUTES : ROUTES
      return routes.has(`${method} ${withoutQuery(rest)}`)
        ? { url: `${upstream}${rest}`, metered: method === 'POST' }
        : undefined
    },
    authorize: async ({ headers }) => ({ ...headers, ...auth })
  }
}
