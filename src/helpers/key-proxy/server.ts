/**
 * The key proxy: a detached process the main step starts with key-isolation: proxy. It
 * reads its configuration (the API key included) from stdin, listens on 127.0.0.1 on an
 * ephemeral port and forwards the three requests Codex makes, under a random path prefix
 * (the capability), to the upstream API with the key added. It prints its port once and
 * nothing else. It stops when the post step creates `stop` in its directory, when the
 * directory is removed, or at its deadline. A fault in the handling of one request is
 * recorded in its status file, never the end of the process.
 *
 * Codex waits for the network forever when a connection is refused, so a dead proxy would
 * hang every later `codex` call. Where the OS can share a socket (not Windows), a second
 * process without the key, the guard (this script with --guard), holds the listening
 * socket too and, once the proxy is gone, answers every request with a 410 that names it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { timingSafeEqual } from 'node:crypto'
import { existsSync } from 'node:fs'
import * as http from 'node:http'
import * as https from 'node:https'
import * as path from 'node:path'
import type { Duplex, Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { replaceFile } from '../../job/files.js'
import { keyHeaders } from '../../net/endpoint.js'
import { describeFailure } from '../../net/failures.js'
import { inline } from '../../secrets/inert-output.js'
import { proxyFor } from '../../net/proxy-rules.js'
import { MAX_LIFETIME_MS, STOP_POLL_MS, stopAsked, stopRequested, watchStopFile } from '../detach.js'
import { debuggerOpened } from '../no-debugger.js'
import { refuseUpgrade, sendError } from './answers.js'
import { type KeyProxyConfig, type KeyProxyStatus, USAGE_FILE } from './protocol.js'
import { admitRequest, DRAIN_BYTES, DRAIN_MS, Meter, meterAnswer, refuse, SocketMeter } from './usage.js'

/** What Codex asks of a Responses API provider; anything else is refused. */
const ROUTES = new Set(['POST /responses', 'POST /responses/compact', 'GET /models'])
/** Codex's WebSocket transport: the upgrade of a `GET /responses`, and nothing else. */
const WEBSOCKET_ROUTES = new Set(['GET /responses'])
/** Never forwarded: hop-by-hop headers, and what would say who the request is from. */
const DROPPED = new Set([
  'host',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'forwarded',
  'x-real-ip',
  'openai-organization',
  'openai-project'
])
/**
 * Never forwarded either: any header that may carry a credential of a caller's (Azure API
 * Management's Ocp-Apim-Subscription-Key, x-goog-api-key, …), or change the method or
 * the origin the upstream sees. Codex sends none of these.
 */
const DROPPED_NAMES = /auth|key|token|secret|cookie|password|override|^x-forwarded-|^proxy-/i
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding'])
/** How long the guard outlives the proxy's deadline at most: 5 days, the longest a self-hosted runner's job runs. */
const GUARD_EXTRA_MS = 5 * 24 * 3600_000
/** A reasoning model may think for minutes between two events: Codex's own stream idle timeout. */
const STREAM_IDLE_MS = 300_000

/** What the guard gets on stdin; it never sees the key. */
interface GuardConfig {
  dir: string
  stopToken: string
  deadline: number
  pid: number
  upstream: string
}

/** The end of stdin: for the guard, the proxy's end. */
const stdinEnded = new Promise<void>((resolve) => process.stdin.once('end', resolve))
/** Everything stdin brought: the configuration's line, then (for the guard) the proxy's `stop` at an orderly end. */
let received = ''

/** The configuration: stdin up to its first line break or its end. */
function readConfig(): Promise<string> {
  return new Promise((resolve) => {
    process.stdin.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8')
      if (received.includes('\n')) resolve(received)
    })
    void stdinEnded.then(() => resolve(received))
  })
}

/** An upstream answer, whichever client fetched it. */
interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Readable
}

/** Sends one request upstream; aborting `signal` ends it, whatever stage it is at. */
type Forward = (
  url: string,
  method: string,
  headers: Record<string, string | string[]>,
  body: Readable | Buffer | undefined,
  signal: AbortSignal
) => Promise<Answer>

/**
 * The client for `upstream`, trusting `ca` (or Node's roots) as the action's downloads do.
 * Direct, node:http or node:https: their native parser and small buffers keep a job's
 * streams in a few MB, and nothing else loads. Through HTTPS_PROXY/ALL_PROXY (proxyFor,
 * NO_PROXY as curl reads it), the action's own client, undici's ProxyAgent, loaded only then.
 */
async function forwarder(upstream: URL, ca: string[] | undefined): Promise<Forward> {
  if (proxyFor(upstream)) {
    const [{ HttpClient }, { request }] = await Promise.all([import('../../net/http.js'), import('undici')])
    const dispatcher = new HttpClient({ ca, idleTimeoutMs: STREAM_IDLE_MS }).dispatcherFor(upstream)
    return async (url, method, headers, body, signal) => {
      const answer = await request(url, { method: method as 'GET' | 'POST', headers, body, dispatcher, signal })
      return { status: answer.statusCode, headers: answer.headers, body: answer.body }
    }
  }
  const client = upstream.protocol === 'https:' ? https : http
  // Keep-alive as Node's global agent; an idle pooled connection closes after 5 s.
  const agent = new client.Agent({ keepAlive: true, timeout: 5_000, ...(ca && { ca }) })
  return (url, method, headers, body, signal) =>
    new Promise((resolve, reject) => {
      const req = client.request(url, { method, headers, agent, signal, timeout: STREAM_IDLE_MS }, (res) =>
        resolve({ status: res.statusCode ?? 502, headers: res.headersDistinct, body: res })
      )
      // No byte for that long, connecting, waiting for headers or mid-stream: the upstream stalled.
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error(`no answer for ${STREAM_IDLE_MS / 1000} s`), { code: 'ETIMEDOUT' }))
      )
      req.on('error', reject)
      if (Buffer.isBuffer(body)) req.end(body)
      else if (body) body.pipe(req)
      else req.end()
    })
}

async function runProxy(config: KeyProxyConfig): Promise<void> {
  const upstream = new URL(config.upstream)
  const forward = await forwarder(upstream, config.ca)
  // Bedrock's authentication is made for each request (SigV4 signs the body); loaded only then.
  const bedrock = config.bedrock && (await import('./bedrock.js'))
  const authorize = config.bedrock && bedrock?.bedrockAuthorizer(config.bedrock)
  const auth = authorize ? {} : keyHeaders(config.upstream, config.key)
  const prefix = Buffer.from(`/${config.capability}/v1/`)
  const status: KeyProxyStatus = {
    pid: process.pid,
    state: 'running',
    requests: 0,
    websockets: 0,
    websocketMessages: 0,
    refused: 0,
    upstreamErrors: 0
  }
  const meter = new Meter(config.caps)
  let dirty = false
  // The last resort: a fault nothing else caught is recorded (its kind only: no text from
  // elsewhere), and the proxy goes on serving every other request of the job.
  const fault = (error: unknown) => {
    status.faults = (status.faults ?? 0) + 1
    status.lastFault = error instanceof Error ? error.name : typeof error
    dirty = true
  }
  process.on('uncaughtException', fault).on('unhandledRejection', fault)

  /** The upstream URL for a request that holds the capability and asks for one of `routes`. */
  const target = (method: string, url: string, routes = ROUTES): string | undefined => {
    const head = Buffer.from(url.slice(0, prefix.length))
    if (head.length !== prefix.length || !timingSafeEqual(head, prefix)) return undefined
    const rest = url.slice(prefix.length - 1)
    const query = rest.indexOf('?')
    const route = query < 0 ? rest : rest.slice(0, query)
    return routes.has(`${method} ${route}`) ? `${config.upstream}${rest}` : undefined
  }
  /** Codex's headers minus anything that could carry a caller's credential, plus the key's. */
  const forwardedHeaders = (req: http.IncomingMessage): Record<string, string | string[]> => {
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined && !DROPPED.has(name) && !DROPPED_NAMES.test(name)) headers[name] = value
    return { ...headers, ...auth }
  }

  const server = http.createServer(async (req, res) => {
    const url = target(req.method ?? '', req.url ?? '')
    dirty = true
    if (!url) {
      status.refused++
      return sendError(res, 404, 'Not found.')
    }
    const headers = forwardedHeaders(req)
    // Model requests (the POSTs) go through the meter: counted, or refused by a cap before anything is sent.
    const admitted = req.method === 'POST' ? await admitRequest(meter, req, headers).catch(() => null) : undefined
    // null: Codex went away before its request was whole.
    if (admitted === null) return void res.destroy()
    if (typeof admitted === 'string') return refuse(res, admitted)
    status.requests++
    const controller = new AbortController()
    let body: Readable | undefined
    let left = false
    let drained = 0
    let drainTimer: NodeJS.Timeout | undefined
    res.on('error', () => undefined)
    // Codex went away before the answer was whole: the upstream request goes too, unless
    // max-tokens needs its usage; then it is read on (once the pipe to Codex let go of it), within DRAIN_*.
    res.on('close', () => {
      if (res.writableFinished || controller.signal.aborted) return
      left = true
      if (!admitted || !meter.drains) return controller.abort()
      drainTimer = setTimeout(() => controller.abort(), DRAIN_MS)
      setImmediate(() => body?.resume())
    })
    // Whatever happens, the meter learns that the request is over: with no answer, an upstream
    // that could not be reached, or never had the whole request, billed nothing; one given up on (aborted) may have.
    let finish = () => admitted?.ticket.end(controller.signal.aborted && req.complete ? 'served' : 'unserved')
    try {
      // Bedrock's authentication, made for this request: SigV4 signs the whole body.
      let sent = admitted?.body
      if (authorize) {
        if (sent && !Buffer.isBuffer(sent)) sent = await readWhole(sent)
        Object.assign(headers, await authorize(url, req.method ?? '', headers, sent))
      }
      const answer = await forward(url, req.method ?? '', headers, sent, controller.signal)
      body = answer.body
      if (answer.status >= 500) {
        status.upstreamErrors++
        status.lastUpstreamStatus = answer.status
      }
      // Bedrock's refusal of the credential, as one line that says what to do.
      if (config.bedrock && bedrock && (answer.status === 401 || answer.status === 403)) {
        const text = (await readWhole(answer.body)).toString('utf8').slice(0, 4096)
        const type = String(answer.headers['x-amzn-errortype'] ?? '')
        const why =
          bedrock.explainRefusal(config.bedrock, answer.status, type, text) ??
          `Amazon Bedrock refused the request (HTTP ${answer.status}): ${inline(text.slice(0, 300))}`
        status.lastUpstreamStatus = answer.status
        status.credentialRefusals = (status.credentialRefusals ?? 0) + 1
        status.lastRefusal = why
        return sendError(res, answer.status, why)
      }
      if (left) body.resume()
      else {
        const out: Record<string, string | string[]> = {}
        for (const [name, value] of Object.entries(answer.headers))
          if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
        res.writeHead(answer.status, out)
        // Server-sent events go on as they arrive: no buffering between upstream and Codex.
        res.flushHeaders()
        // pipe, not pipeline: Codex's end must not end the upstream's answer (see the close handler).
        body.pipe(res)
      }
      if (admitted) finish = meterAnswer(admitted.ticket, answer.status, answer.headers, body)
      body.on('data', (chunk: Buffer) => {
        if (left && (drained += chunk.length) > DRAIN_BYTES) controller.abort()
      })
      await finished(body)
    } catch (error) {
      if (controller.signal.aborted || left) return
      status.upstreamErrors++
      status.lastUpstreamStatus = undefined
      if (res.headersSent) res.destroy()
      else
        sendError(
          res,
          502,
          `The codex-auth-action key proxy could not reach ${upstream.origin}: ${describeFailure(error)}.`
        )
    } finally {
      clearTimeout(drainTimer)
      finish()
    }
  })
  server.keepAliveTimeout = 60_000
  let websocket: Promise<typeof import('./websocket.js')> | undefined
  const wsUpstream = config.upstream.replace(/^http/, 'ws')
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined)
    dirty = true
    // Bedrock has no WebSocket transport: Codex is configured without it.
    const url = config.bedrock ? undefined : target(req.method ?? '', req.url ?? '', WEBSOCKET_ROUTES)
    if (!url) {
      status.refused++
      return refuseUpgrade(socket, 404, 'Not found.')
    }
    status.requests++
    status.websockets++
    websocket ??= import('./websocket.js')
    void websocket
      .then((ws) =>
        ws.relay(req, socket, head, {
          url: `${wsUpstream}${url.slice(config.upstream.length)}`,
          headers: forwardedHeaders(req),
          ca: config.ca,
          proxy: proxyFor(upstream),
          status,
          changed: () => (dirty = true),
          origin: upstream.origin,
          meter: new SocketMeter(
            meter,
            typeof req.headers['session-id'] === 'string' ? req.headers['session-id'] : undefined
          ),
          fault
        })
      )
      .catch((error: unknown) => {
        fault(error)
        socket.destroy()
      })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    if (config.inherited) server.listen({ fd: 3 }, resolve)
    else server.listen(0, '127.0.0.1', resolve)
  })
  const guard = startGuard(server, {
    dir: config.dir,
    stopToken: config.stopToken,
    deadline: config.deadline,
    pid: process.pid,
    upstream: upstream.origin
  })
  // One write at a time, each of the figures as they are when it starts: neither file goes
  // back in time (a stop the watch sees just after a tick writes "stopped" last).
  let statusWritten = Promise.resolve()
  const writeStatus = () =>
    (statusWritten = statusWritten.then(() =>
      replaceFile(path.join(config.dir, 'status.json'), JSON.stringify(status)).catch(() => undefined)
    ))
  let usageWritten = Promise.resolve()
  const writeUsage = () => {
    meter.dirty = false
    return (usageWritten = usageWritten.then(() =>
      replaceFile(path.join(config.dir, USAGE_FILE), JSON.stringify(meter.report(), null, 2)).catch(() => undefined)
    ))
  }
  // The status (with the pid) and the usage file exist before main learns the port.
  dirty = false
  await Promise.all([writeStatus(), writeUsage()])
  process.stdout.on('error', () => undefined)
  process.stdout.write(`${JSON.stringify({ port: (server.address() as { port: number }).port })}\n`)

  let stopping = false
  const stopIfAsked = () => {
    if (stopping || !stopRequested(config.dir, config.deadline, config.stopToken)) return false
    stopping = true
    // Only the post step's stop (it alone has the token) is orderly: the guard goes too. Any
    // other end (its directory removed, the deadline) leaves the guard to explain it to Codex.
    if (stopAsked(config.dir, config.stopToken)) guard?.stdin?.write('stop\n')
    clearInterval(timer)
    server.close()
    server.closeAllConnections()
    status.state = 'stopped'
    // The usage first: once the status says stopped, the post step reads both.
    void (existsSync(config.dir) ? writeUsage().then(writeStatus) : Promise.resolve()).then(() => process.exit(0))
    return true
  }
  // The post step waits for this: the stop file is seen when it is written, the poll is the fallback.
  watchStopFile(config.dir, stopIfAsked)
  const timer = setInterval(() => {
    if (stopIfAsked()) return
    if (dirty) {
      dirty = false
      void writeStatus()
    }
    if (meter.dirty) void writeUsage()
  }, 100)
}

/** A stream's whole content: a request body that SigV4 signs, or an upstream's refusal. */
async function readWhole(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const chunk of stream) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks)
}

/** Hands the listening socket to the guard (see the top of this file). */
function startGuard(server: http.Server, config: GuardConfig): ChildProcess | undefined {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd
  if (process.platform === 'win32' || typeof fd !== 'number' || fd < 0) return undefined
  const guard = spawn(process.execPath, [...process.execArgv, process.argv[1], '--guard'], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore', fd],
    env: process.env
  })
  // The pipe stays open for the proxy's life: its end tells the guard that the proxy is gone.
  guard.stdin?.write(`${JSON.stringify(config)}\n`)
  guard.unref()
  return guard
}

async function runGuard(config: GuardConfig): Promise<void> {
  // Until the proxy is gone, the guard only holds the socket: it does not accept on it.
  await stdinEnded
  const orderly = received.slice(received.indexOf('\n') + 1).includes('stop')
  if (orderly) process.exit(0)
  const why =
    Date.now() > config.deadline
      ? `It ended at its time limit, ${MAX_LIFETIME_MS / 3600_000} hours after the action started it; run codex within that time of the action's step.`
      : 'Something on the runner ended it; run the job again.'
  explain(
    `The codex-auth-action key proxy (pid ${config.pid}) is no longer running, so Codex cannot reach ${config.upstream}: the API key lived only in that process. ${why}`,
    config
  )
}

/**
 * Answers every request and upgrade on the inherited socket (fd 3) with `message`, until the
 * post step's stop: the guard after the proxy's end, or a proxy that could not start.
 */
function explain(message: string, config: Pick<GuardConfig, 'dir' | 'stopToken' | 'deadline'>): void {
  // 410, not 503: Codex retries a 503 for half a minute, and this will not get better.
  http
    .createServer((_req, res) => sendError(res, 410, message))
    .on('upgrade', (_req: http.IncomingMessage, socket: Duplex) =>
      refuseUpgrade(
        socket.on('error', () => undefined),
        410,
        message
      )
    )
    .listen({ fd: 3 })
  // The post step's stop ends the guard, and so does the end of its directory, as it ends the
  // proxy: the job's files are gone, and with them the job (a runner restarted, a job killed);
  // a guard left otherwise goes after GUARD_EXTRA_MS.
  setInterval(() => {
    if (
      stopAsked(config.dir, config.stopToken) ||
      !existsSync(config.dir) ||
      Date.now() > config.deadline + GUARD_EXTRA_MS
    )
      process.exit(0)
  }, STOP_POLL_MS)
}

/** The proxy, or with `--guard` its guard, configured from stdin. */
export async function run(): Promise<void> {
  const guard = process.argv[2] === '--guard'
  // Before a byte of stdin (the key) is read: a debugger someone opened would see it.
  if (!guard && (await debuggerOpened()))
    return void process.stdout.write(
      `${JSON.stringify({ error: 'a debugger was opened in it (a SIGUSR1 sent to it as it started), so it did not read the key' })}\n`,
      () => process.exit(1)
    )
  const config: unknown = JSON.parse((await readConfig()).split('\n')[0])
  if (guard) await runGuard(config as GuardConfig)
  else {
    const proxy = config as KeyProxyConfig
    await runProxy(proxy).catch((error: unknown) => {
      // On a socket main bound, main has not waited: Codex is told instead, at its first request.
      if (proxy.inherited)
        return explain(
          `The codex-auth-action key proxy could not start, so Codex cannot reach ${new URL(proxy.upstream).origin}: ${describeFailure(error)}.`,
          proxy
        )
      // Main waits for one line: the reason goes into its error message.
      process.stdout.write(`${JSON.stringify({ error: describeFailure(error) })}\n`, () => process.exit(1))
    })
  }
}
