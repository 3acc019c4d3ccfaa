import * as core from '@actions/core'
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici'
import { UserError } from '../job/errors.js'
import { inline } from '../secrets/inert-output.js'
import { describeFailure, errorCode, HttpStatusError } from './failures.js'
import { isLoopback, proxyFor } from './proxy-rules.js'

const DEFAULT_IDLE_TIMEOUT_MS = 30_000
const MAX_ATTEMPTS = 4
const BASE_DELAY_MS = 1_000
const MAX_DELAY_MS = 15_000
/** No retry starts once this much time has gone into one request. */
const RETRY_BUDGET_MS = 120_000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const RETRIABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED'
])

/** Headers that carry a credential: authorization, api-key and the like. */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie)$|key|token|secret/i

export function isRetriable(error: unknown): boolean {
  if (error instanceof HttpStatusError) return error.status === 408 || error.status === 429 || error.status >= 500
  const code = errorCode(error)
  return code !== undefined && RETRIABLE_CODES.has(code)
}

/** The retry delay after `attempt` failures: the server's Retry-After, or jittered exponential backoff. */
export function retryDelay(attempt: number, error: unknown, random: () => number = Math.random): number {
  if (error instanceof HttpStatusError && error.retryAfterMs !== undefined)
    return Math.min(error.retryAfterMs, MAX_DELAY_MS)
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (attempt - 1))
  return Math.round(ceiling / 2 + random() * (ceiling / 2))
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const raw = Array.isArray(value) ? value[0] : value
  if (!raw) return undefined
  if (/^\d+$/.test(raw.trim())) return Number(raw.trim()) * 1000
  const date = Date.parse(raw)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}

/** What plain http to an endpoint would expose. */
export interface CleartextRisk {
  /** The input holding the secret the endpoint is sent, such as `registry-token`. */
  secret: string
  /** That secret is set and would be sent: refuse rather than warn. */
  sent: boolean
  /** Why what the endpoint answers proves nothing either. */
  answers: string
}

/**
 * The one rule for every endpoint an input names: plain http that stays on this machine
 * (a loopback host, reached directly or through a loopback proxy) is fine. Beyond it,
 * anyone on the path can read and alter the traffic: a warning that says so, and a
 * refusal, before anything is sent, when a secret would travel that way.
 */
export function checkPlainHttp(input: string, url: string, risk: CleartextRisk): void {
  const target = new URL(url)
  if (target.protocol !== 'http:') return
  const proxy = proxyFor(target)
  const hop = proxy && URL.canParse(proxy) ? new URL(proxy) : undefined
  if (isLoopback(target) && (!proxy || (hop && isLoopback(hop)))) return
  const where = isLoopback(target)
    ? `${input} ${target.origin} is plain http through the proxy ${hop?.host ?? 'in HTTP_PROXY'}, beyond this machine`
    : `${input} ${target.origin} is plain http to a host other than this machine`
  if (risk.sent) {
    throw new UserError(
      `${where}, so ${risk.secret} would travel in cleartext; nothing was sent. Use an https address for ${input}.`
    )
  }
  core.warning(
    `${where}: ${risk.secret} would travel in cleartext if it were sent, and ${risk.answers}. Use an https address for ${input}.`
  )
}

export interface HttpClientOptions {
  /** How long a connection may go without a byte (connect, headers or body) before it counts as stalled. */
  idleTimeoutMs?: number
  /** Every certificate to trust, replacing Node's defaults (see trustAnchors in ca.ts). */
  ca?: string[]
  /** Headers sent only to `authOrigin` (a private registry's token). */
  authHeaders?: Record<string, string>
  authOrigin?: string
}

export interface StreamResponse {
  body: Dispatcher.ResponseData['body']
  headers: Dispatcher.ResponseData['headers']
}

/** HTTP GETs that honour proxies and extra CAs, retry what may recover, and report what the user can fix. */
export class HttpClient {
  private readonly dispatchers = new Map<string, Dispatcher>()

  constructor(private readonly options: HttpClientOptions = {}) {}

  /** The connection pool for `url`: through its proxy when one applies, trusting the CA list. The key proxy forwards with it too. */
  dispatcherFor(url: URL): Dispatcher {
    const proxy = proxyFor(url)
    const key = proxy ?? ''
    let dispatcher = this.dispatchers.get(key)
    if (!dispatcher) {
      const tls = this.options.ca ? { ca: this.options.ca } : {}
      const idle = this.options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
      const timeouts = { headersTimeout: idle, bodyTimeout: idle, connectTimeout: idle }
      dispatcher = proxy
        ? new ProxyAgent({ uri: proxy, requestTls: tls, proxyTls: tls, ...timeouts })
        : new Agent({ connect: { ...tls, timeout: idle }, ...timeouts })
      this.dispatchers.set(key, dispatcher)
    }
    return dispatcher
  }

  /** One request (a GET unless `send` says otherwise); a non-2xx status becomes an HttpStatusError holding the start of the body. */
  async open(
    url: string,
    headers: Record<string, string> = {},
    send: { method: 'GET' | 'PUT' | 'POST'; body?: string } = { method: 'GET' }
  ): Promise<StreamResponse> {
    const target = new URL(url)
    const auth = this.options.authOrigin === target.origin ? this.options.authHeaders : undefined
    const response = await request(target, {
      method: send.method,
      body: send.body,
      headers: { 'user-agent': 'codex-auth-action', ...auth, ...headers },
      dispatcher: this.dispatcherFor(target),
      // A request that carries the caller's own credential is never redirected: undici drops
      // only authorization and cookies on another origin, and Azure's key travels as api-key.
      maxRedirections: Object.keys(headers).some((name) => CREDENTIAL_HEADER.test(name)) ? 0 : 5
    })
    if (response.statusCode < 200 || response.statusCode >= 300) {
      const body = await response.body.text().then(
        (text) => text.slice(0, 4096),
        () => ''
      )
      throw new HttpStatusError(
        url,
        response.statusCode,
        parseRetryAfter(response.headers['retry-after']),
        body,
        response.headers
      )
    }
    return { body: response.body, headers: response.headers }
  }

  async getJson<T>(url: string, headers: Record<string, string> = {}): Promise<T> {
    return this.withRetries(`GET ${url}`, async () => {
      const response = await this.open(url, { accept: 'application/json', ...headers })
      return (await response.body.json()) as T
    })
  }

  /**
   * Runs `attempt` until it succeeds, fails for good, or the attempts or the time budget
   * are spent; logs each retry. `retry429: false` for a check whose 429 is an answer.
   */
  async withRetries<T>(what: string, attempt: () => Promise<T>, options: { retry429?: boolean } = {}): Promise<T> {
    const started = Date.now()
    for (let n = 1; ; n++) {
      try {
        return await attempt()
      } catch (error) {
        const delay = retryDelay(n, error)
        const answered = options.retry429 === false && error instanceof HttpStatusError && error.status === 429
        if (answered || n >= MAX_ATTEMPTS || !isRetriable(error) || Date.now() - started + delay > RETRY_BUDGET_MS)
          throw error
        core.info(
          `${inline(what)} failed (${inline(describeFailure(error))}); retrying in ${(delay / 1000).toFixed(1)} s (attempt ${n + 1} of ${MAX_ATTEMPTS})`
        )
        await sleep(delay)
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.dispatchers.values()].map((d) => d.close().catch(() => undefined)))
  }
}

/** Wraps a network failure that survived the retries as a UserError that says what to check. */
export function networkError(what: string, error: unknown, hint: string): UserError {
  return new UserError(`${what} failed: ${describeFailure(error)}. ${hint}`)
}
