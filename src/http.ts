import { BlockList, isIP } from 'node:net'
import * as core from '@actions/core'
import { getProxyForUrl } from 'proxy-from-env'
import { Agent, ProxyAgent, request, type Dispatcher } from 'undici'
import { UserError } from './errors.js'
import { inline } from './untrusted.js'

const DEFAULT_IDLE_TIMEOUT_MS = 30_000
const MAX_ATTEMPTS = 4
const BASE_DELAY_MS = 1_000
const MAX_DELAY_MS = 15_000
/** No retry starts once this much time has gone into one request. */
const RETRY_BUDGET_MS = 120_000

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** A response whose status the caller cannot use; retriable when the server may recover. */
export class HttpStatusError extends Error {
  constructor(
    readonly url: string,
    readonly status: number,
    readonly retryAfterMs?: number,
    /** The start of the response body: an API's error code lives there. */
    readonly body = '',
    readonly headers: Dispatcher.ResponseData['headers'] = {}
  ) {
    super(`HTTP ${status} from ${url}`)
  }
}

const RETRIABLE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED'
])

/** Headers that carry a credential: authorization, api-key and the like. */
const CREDENTIAL_HEADER = /^(authorization|proxy-authorization|cookie)$|key|token|secret/i

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS|ERR_SSL|HOSTNAME_MISMATCH/

export function isRetriable(error: unknown): boolean {
  if (error instanceof HttpStatusError) return error.status === 408 || error.status === 429 || error.status >= 500
  const code = errorCode(error)
  return code !== undefined && RETRIABLE_CODES.has(code)
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error
  for (let depth = 0; current && depth < 4; depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code === 'string') return code
    current = (current as { cause?: unknown }).cause
  }
  return undefined
}

/** Why a request failed, in words a workflow author can act on. */
export function describeFailure(error: unknown): string {
  if (error instanceof HttpStatusError) {
    if (error.status === 401 || error.status === 403) {
      return `${error.message}: the registry refused access (a private mirror may need registry-token, or the request was rate-limited)`
    }
    if (error.status === 429) return `${error.message}: rate-limited by the registry; try again later`
    return error.message
  }
  const code = errorCode(error)
  const message = error instanceof Error ? error.message : String(error)
  if (code && TLS_CODES.test(code)) {
    return `TLS verification failed (${code}): the server's certificate is not trusted. Behind a TLS-intercepting proxy, give its root CA in ca-certificate or ca-certificate-file`
  }
  return code && !message.includes(code) ? `${message} (${code})` : message
}

/** The retry delay after `attempt` failures: the server's Retry-After, or jittered exponential backoff. */
export function retryDelay(attempt: number, error: unknown, random: () => number = Math.random): number {
  if (error instanceof HttpStatusError && error.retryAfterMs !== undefined) return Math.min(error.retryAfterMs, MAX_DELAY_MS)
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

/**
 * Proxy URL for `target`, as curl picks it. proxy-from-env reads the variables
 * (`https_proxy`/`HTTPS_PROXY` for https, `http_proxy`/`HTTP_PROXY` for http, `ALL_PROXY`
 * for either; an empty one counts as unset, so an empty `no_proxy` leaves `NO_PROXY` in
 * force, as curl's getenv does) and bypasses exact names, `.domain`, `*` and `host:port`.
 * curl also lets `example.com` cover `sub.example.com` and matches IP addresses by CIDR,
 * bare IPv6 included; the library does neither, so curlBypasses adds those rules.
 */
export function proxyFor(target: URL): string | undefined {
  const proxy = getProxyForUrl(target.href)
  if (!proxy || curlBypasses(target.hostname, process.env.no_proxy || process.env.NO_PROXY || '')) return undefined
  return proxy
}

/** curl's NO_PROXY rules (lib/noproxy.c) for a host name or an IP address. */
export function curlBypasses(hostname: string, noProxy: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const family = isIP(host)
  return noProxy.split(/[\s,]+/).filter(Boolean).some((token) => {
    if (!family) {
      const name = token.toLowerCase().replace(/\.$/, '').replace(/^\./, '')
      const bare = host.replace(/\.$/, '')
      return name !== '' && (bare === name || bare.endsWith(`.${name}`))
    }
    // An IP host matches an address or a network (`10.0.0.0/8`, `fd00::/8`) of its family.
    const [address, bits] = token.split('/')
    const type = family === 4 ? 'ipv4' : 'ipv6'
    const width = family === 4 ? 32 : 128
    const prefix = bits === undefined || Number(bits) === 0 ? width : Number(bits)
    if (isIP(address) !== family || !Number.isInteger(prefix) || prefix > width) return false
    const network = new BlockList()
    network.addSubnet(address, prefix, type)
    return network.check(host, type)
  })
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/** Does the host name this machine: localhost, 127.0.0.0/8 or ::1? */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const family = isIP(host)
  return host === 'localhost' || (family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6'))
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
    throw new UserError(`${where}, so ${risk.secret} would travel in cleartext; nothing was sent. Use an https address for ${input}.`)
  }
  core.warning(`${where}: ${risk.secret} would travel in cleartext if it were sent, and ${risk.answers}. Use an https address for ${input}.`)
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
  async open(url: string, headers: Record<string, string> = {}, send: { method: 'GET' | 'PUT'; body?: string } = { method: 'GET' }): Promise<StreamResponse> {
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
      const body = await response.body.text().then((text) => text.slice(0, 4096), () => '')
      throw new HttpStatusError(url, response.statusCode, parseRetryAfter(response.headers['retry-after']), body, response.headers)
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
        if (answered || n >= MAX_ATTEMPTS || !isRetriable(error) || Date.now() - started + delay > RETRY_BUDGET_MS) throw error
        core.info(`${inline(what)} failed (${inline(describeFailure(error))}); retrying in ${(delay / 1000).toFixed(1)} s (attempt ${n + 1} of ${MAX_ATTEMPTS})`)
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
