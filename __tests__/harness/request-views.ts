/**
 * What two runs of the real CLI sent a ChatGPT backend, made comparable: one run natively
 * (Codex holds the credential), one through the key proxy. Ids, directories and times differ
 * by nature and are replaced; headers each connection has of its own are left out.
 */
import type { BackendRequest } from './chatgpt-token-backend.js'

/** Headers each connection has of its own (the proxy asks for uncompressed answers, to count their tokens). */
export const PER_CONNECTION = new Set([
  'host',
  'connection',
  'content-length',
  'transfer-encoding',
  'accept-encoding',
  'sec-websocket-key',
  'sec-websocket-extensions'
])
/** Compared by value: the credential, the account, and what says which client and protocol it is. */
export const BY_VALUE = [
  'authorization',
  'chatgpt-account-id',
  'x-openai-fedramp',
  'originator',
  'version',
  'openai-beta',
  'content-encoding',
  'content-type',
  'accept',
  'upgrade',
  'x-openai-internal-codex-responses-lite',
  'x-codex-beta-features',
  'x-codex-routing-hint'
]
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g

/** One run's view of a request, with what differs between two runs by nature replaced (ids, its directories, times). */
export function normalized(request: BackendRequest, dirs: string[]) {
  let body = request.body.replace(UUID, '<id>')
  for (const dir of dirs) body = body.split(dir).join('<dir>')
  body = body.replace(/(turn_started_at_unix_ms|create_time)(\\?"):\s*[\d.]+/g, '$1$2:0')
  body = body.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z?/g, '<time>')
  body = body.replace(/("x-codex-ws-stream-request-start-ms":\s*)"\d+"/g, '$1"0"')
  return {
    method: request.method,
    path: request.url.replace(UUID, '<id>'),
    headers: Object.keys(request.headers)
      .filter((name) => !PER_CONNECTION.has(name))
      .sort(),
    values: Object.fromEntries(BY_VALUE.map((name) => [name, request.headers[name]])),
    // Key order too differs between two runs of the same CLI (client_metadata is a hash map).
    body: body && canonical(JSON.parse(body))
  }
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical)
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => [k, canonical(v)])
    )
  return value
}

const isModelRequest = (r: BackendRequest) =>
  r.url === '/backend-api/codex/responses' && (r.method === 'POST' || r.websocket === true)

export const modelRequests = (requests: BackendRequest[]) => requests.filter(isModelRequest)

/** Codex's model list requests (`GET …/codex/models?client_version=…`). */
export const modelListRequests = (requests: BackendRequest[]) =>
  requests.filter((r) => r.method === 'GET' && r.url.startsWith('/backend-api/codex/models?'))

/**
 * Every request besides the model's (a websocket's upgrade, whoami, routing, settings, the
 * config bundle, plugins, analytics), each distinct one once (how often Codex repeats a
 * background read varies between two runs), with analytics' numbers (timings) left out, in a
 * stable order (Codex sends several at once).
 */
export function otherRequests(requests: BackendRequest[], dirs: string[]) {
  const views = requests
    .filter((r) => !isModelRequest(r))
    .map((r) => normalized(r, dirs))
    .map((r) => (r.path.includes('analytics-events') ? { ...r, body: withoutNumbers(r.body) } : r))
  const key = (r: (typeof views)[number]) => `${r.method} ${r.path} ${JSON.stringify(r)}`
  return [...new Map(views.map((r) => [key(r), r])).values()].sort((a, b) => key(a).localeCompare(key(b)))
}

/** Every number replaced by 0: durations and times. */
function withoutNumbers(value: unknown): unknown {
  if (typeof value === 'number') return 0
  if (Array.isArray(value)) return value.map(withoutNumbers)
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutNumbers(v)]))
  return value
}
