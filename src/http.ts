import * as core from '@actions/core'
import { Agent, fetch as undiciFetch, ProxyAgent, request, type Dispatcher } from 'undici'
import { UserError } from './errors.js'

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
    readonly body = ''
  ) {
    super(`HTTP ${status} from ${url}`)
  }
}

const RETRIABLE_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED'
])

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

/** Proxy URL for `target` from HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case), as curl reads them. */
export function proxyFor(target: URL, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const proxy =
    target.protocol === 'https:'
      ? env.https_proxy || env.HTTPS_PROXY || env.http_proxy || env.HTTP_PROXY
      : env.http_proxy || env.HTTP_PROXY
  if (!proxy) return undefined
  const noProxy = (env.no_proxy ?? env.NO_PROXY ?? '').trim()
  if (noProxy === '*') return undefined
  const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const port = target.port || (target.protocol === 'https:' ? '443' : '80')
  for (const entry of noProxy.split(/[\s,]+/).filter(Boolean)) {
    const match = /^(.*?)(?::(\d+))?$/.exec(entry.toLowerCase())
    const name = (match?.[1] ?? '').replace(/^\[|\]$/g, '').replace(/^\*?\./, '.')
    if (match?.[2] && match[2] !== port) continue
    if (host === name.replace(/^\./, '') || (name.startsWith('.') && host.endsWith(name))) return undefined
  }
  return proxy
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

  private dispatcherFor(url: URL): Dispatcher {
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

  /** fetch with this client's proxy and CA settings, for a library that brings its own request code (Octokit). */
  readonly fetch = ((input: string | URL, init?: Parameters<typeof undiciFetch>[1]) =>
    undiciFetch(input, { ...init, dispatcher: this.dispatcherFor(new URL(String(input))) })) as unknown as typeof globalThis.fetch

  /** One GET; a non-2xx status becomes an HttpStatusError holding the start of the body. */
  async open(url: string, headers: Record<string, string> = {}): Promise<StreamResponse> {
    const target = new URL(url)
    const auth = this.options.authOrigin === target.origin ? this.options.authHeaders : undefined
    const response = await request(target, {
      method: 'GET',
      headers: { 'user-agent': 'codex-auth-action', ...auth, ...headers },
      dispatcher: this.dispatcherFor(target),
      maxRedirections: 5
    })
    if (response.statusCode < 200 || response.statusCode >= 300) {
      const body = await response.body.text().then((text) => text.slice(0, 4096), () => '')
      throw new HttpStatusError(url, response.statusCode, parseRetryAfter(response.headers['retry-after']), body)
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
        core.info(`${what} failed (${describeFailure(error)}); retrying in ${(delay / 1000).toFixed(1)} s (attempt ${n + 1} of ${MAX_ATTEMPTS})`)
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
