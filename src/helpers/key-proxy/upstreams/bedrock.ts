/** Amazon Bedrock's OpenAI-compatible endpoint: a Bedrock API key as a bearer, or AWS keys signing each request (../bedrock.ts). */
import { inline } from '../../../secrets/inert-output.js'
import { type BedrockUpstream, bedrockAuthorizer, explainRefusal } from '../bedrock.js'
import { startsWithSecret, type Upstream, withoutQuery } from './upstream.js'

/** What Codex's amazon-bedrock provider asks (no WebSocket: Bedrock has none). */
const ROUTES = new Set(['POST /responses', 'POST /responses/compact', 'GET /models'])

/** Codex's provider base URL is `<proxy>/<capability>/v1`; `upstream` is Bedrock's `…/openai/v1`. */
export function bedrockUpstream(upstream: string, bedrock: BedrockUpstream, capability: string): Upstream {
  const authorize = bedrockAuthorizer(bedrock)
  const prefix = `/${capability}/v1/`
  return {
    origin: new URL(upstream).origin,
    signsBody: bedrock.auth.kind === 'sigv4',
    route(method, url, websocket) {
      if (websocket || !startsWithSecret(url, prefix)) return undefined
      const rest = url.slice(prefix.length - 1)
      return ROUTES.has(`${method} ${withoutQuery(rest)}`)
        ? { url: `${upstream}${rest}`, metered: method === 'POST' }
        : undefined
    },
    authorize: ({ method, url, headers, body }) => authorize(url, method, headers, body),
    explainRefusal: (status, errorType, body) =>
      explainRefusal(bedrock, status, errorType, body) ??
      `Amazon Bedrock refused the request (HTTP ${status}): ${inline(body.slice(0, 300))}`
  }
}
