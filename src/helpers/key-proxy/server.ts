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
import { existsSync } from 'node:fs'
import * as http from 'node:http'
import * as https from 'node:https'
import * as path from 'node:path'
import { type Duplex, Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { replaceFile } from '../../job/files.js'
import { describeFailure } from '../../net/failures.js'
import { proxyFor } from '../../net/proxy-rules.js'
import { MAX_LIFETIME_MS, STOP_POLL_MS, stopAsked, stopRequested, watchStopFile } from '../stop-file.js'
import { debuggerOpened } from '../no-debugger.js'
import { refuseUpgrade, sendError } from './answers.js'
import { type KeyProxyConfig, type KeyProxyStatus, STATUS_FILE, USAGE_FILE } from './protocol.js'
import { admitCompressed, isZstd } from './compressed-body.js'
import { holdUntil, keep, NO_ROOM, NoRoom } from './held.js'
import { upstreamFor } from './upstreams/index.js'
import type { Fetch, Route } from './upstreams/upstream.js'
import { admitRequest, DRAIN_BYTES, DRAIN_MS, MAX_MESSAGE, Meter, meterAnswer, refuse, SocketMeter } from './usage.js'

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
/** How long a stop waits for a sign-in's refresh under way (the post step waits a little longer: SETTLE_WAIT_MS). */
const SETTLE_MS = 15_000

/** What the guard gets on stdin; it never sees the key. */
interface GuardConfig {
  dir: string
  stopToken: string
  deadline: number
  pid: number
  upstream: string
  /** The proxy's certificate, so that the guard's explanations reach a Codex that speaks HTTPS to it. */
  tls?: { cert: string; key: string }
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
    const client = new HttpClient({ ca, idleTimeoutMs: STREAM_IDLE_MS })
    return async (url, method, headers, body, signal) => {
      const dispatcher = client.dispatcherFor(new URL(url))
      const answer = await request(url, { method: method as 'GET' | 'POST', headers, body, dispatcher, signal })
      return { status: answer.statusCode, headers: answer.headers, body: answer.body }
    }
  }
  // Keep-alive as Node's global agent; an idle pooled connection closes after 5 s. One per
  // scheme: an upstream kind may reach more than one endpoint (the ChatGPT backend and AuthAPI).
  const agents = {
    'http:': new http.Agent({ keepAlive: true, timeout: 5_000 }),
    'https:': new https.Agent({ keepAlive: true, timeout: 5_000, ...(ca && { ca }) })
  }
  const send: (...args: [...Parameters<Forward>, boolean]) => Promise<Answer> = (
    url,
    method,
    headers,
    body,
    signal,
    again
  ) =>
    new Promise((resolve, reject) => {
      const secure = url.startsWith('https:')
      const client = secure ? https : http
      const agent = agents[secure ? 'https:' : 'http:']
      const req = client.request(url, { method, headers, agent, signal, timeout: STREAM_IDLE_MS }, (res) =>
        resolve({ status: res.statusCode ?? 502, headers: res.headersDistinct, body: res })
      )
      // No byte for that long, connecting, waiting for headers or mid-stream: the upstream stalled.
      req.on('timeout', () =>
        req.destroy(Object.assign(new Error(`no answer for ${STREAM_IDLE_MS / 1000} s`), { code: 'ETIMEDOUT' }))
      )
      req.on('error', (error: NodeJS.ErrnoException) => {
        // A pooled connection the upstream closed just as it was reused (its idle timeout and
        // ours meet, and under load they race): the request never reached it, so it goes once
        // more on a new connection, as Node's documentation advises, if it can be sent again.
        if (again && req.reusedSocket && error.code === 'ECONNRESET' && !signal.aborted)
          resolve(send(url, method, headers, body, signal, false))
        else reject(error)
      })
      if (Buffer.isBuffer(body)) req.end(body)
      else if (body) body.pipe(req)
      else req.end()
    })
  // A streamed body (Codex's request, read as it goes) cannot be sent twice.
  return (url, method, headers, body, signal) => send(url, method, headers, body, signal, !(body instanceof Readable))
}

async function runProxy(config: KeyProxyConfig): Promise<void> {
  const upstream = new URL(config.upstream)
  const forward = await forwarder(upstream, config.ca)
  // A kind that fetches its credential (workload identity) does so through the same client, whole.
  const fetchWhole: Fetch = async (url, method, headers, body) => {
    const answer = await forward(
      url,
      method,
      headers,
      body === undefined ? undefined : Buffer.from(body),
      AbortSignal.timeout(STREAM_IDLE_MS)
    )
    return { status: answer.status, text: (await wholeRequest(answer.body)).toString('utf8') }
  }
  const credential = upstreamFor(config, fetchWhole)
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

  /** Where a request that holds the capability goes, if it asks for something Codex asks of this upstream. */
  const target = (req: http.IncomingMessage, websocket = false): Route | undefined =>
    credential.route(req.method ?? '', req.url ?? '', websocket, req.headers)
  /** Codex's headers minus anything that could carry a caller's credential, plus the upstream's. */
  const forwardedHeaders = (
    req: http.IncomingMessage,
    url: string,
    body?: Buffer
  ): Promise<Record<string, string | string[]>> => {
    const headers: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined && !DROPPED.has(name) && !DROPPED_NAMES.test(name)) headers[name] = value
    return credential.authorize({ method: req.method ?? '', url, headers, body }, req.headers)
  }

  /** A body that would take the proxy past its memory budget (held.ts): refused at once, 503 (Codex retries a few times). */
  const noRoom = (req: http.IncomingMessage, res: http.ServerResponse) => {
    status.refused++
    sendError(res, 503, NO_ROOM)
    res.once('finish', () => req.destroy())
  }

  const handler = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    dirty = true
    // Whatever of its body the proxy holds is counted in one budget, until its answer closes.
    holdUntil(req, res)
    // What the proxy answers itself is read before any capability is checked: its body is bounded.
    const local = await credential
      .answer?.(req.method ?? '', req.url ?? '', req.headers, () => wholeRequest(req, ANSWERED_MAX_BYTES))
      .catch((error: unknown) => {
        if (error instanceof NoRoom) noRoom(req, res)
        else if (!(error instanceof TooLarge)) throw error
        else {
          sendError(res, 413, 'Request body too large.')
          res.once('finish', () => req.destroy())
        }
        return null
      })
    if (local === null) return
    if (local) {
      res.writeHead(local.status, { 'content-type': 'application/json' })
      return void res.end(JSON.stringify(local.body))
    }
    const route = target(req)
    if (!route) {
      status.refused++
      return sendError(res, 404, 'Not found.')
    }
    const { url } = route
    // Read whole to be signed, within the bound a model request has anywhere else in the proxy.
    const signedBody = credential.signsBody
      ? await wholeRequest(req, MAX_MESSAGE).catch((error: unknown) =>
          error instanceof TooLarge || error instanceof NoRoom ? error : null
        )
      : undefined
    if (signedBody === null) return void res.destroy()
    if (signedBody instanceof NoRoom) return noRoom(req, res)
    if (signedBody instanceof TooLarge) {
      status.refused++
      sendError(
        res,
        413,
        `The request is larger than ${MAX_MESSAGE / 1024 / 1024} MB: the codex-auth-action key proxy did not send it.`
      )
      return void res.once('finish', () => req.destroy())
    }
    // A credential the proxy could not renew (workload identity): Codex is told why, and no request goes out without it.
    let headers = await forwardedHeaders(req, url, signedBody).catch((error: unknown) => {
      status.upstreamErrors++
      sendError(
        res,
        502,
        `The codex-auth-action key proxy has no credential for ${upstream.origin}: ${describeFailure(error)}.`
      )
      return undefined
    })
    if (!headers) return
    // Model requests go through the meter: counted, or refused by a cap before anything is sent.
    const admit = isZstd(req) ? admitCompressed : admitRequest
    // A signed body has been read already: the meter reads that copy, with Codex's headers.
    const source = signedBody ? Object.assign(Readable.from([signedBody]), { headers: req.headers }) : req
    const admitted = route.metered
      ? await admit(meter, source as http.IncomingMessage, headers).catch((error: unknown) =>
          error instanceof NoRoom ? error : null
        )
      : undefined
    // null: Codex went away before its request was whole.
    if (admitted === null) return void res.destroy()
    if (admitted instanceof NoRoom) return noRoom(req, res)
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
      const sent = signedBody ?? admitted?.body ?? (req.method === 'GET' ? undefined : req)
      // A body Codex's request declared but the proxy does not send (a GET's) is not declared
      // upstream either: on the pooled connection the upstream would read the proxy's next
      // request as that body, and the rest of it (from a header a command chose) as a request.
      if (sent === undefined) delete headers['content-length']
      let answer = await forward(url, req.method ?? '', headers, sent, controller.signal)
      if (answer.status === 401 && credential.recover) {
        const refusal = await credential.recover(headers, req.headers)
        if (refusal) {
          answer.body.resume()
          status.lastUpstreamStatus = 401
          status.credentialRefusals = (status.credentialRefusals ?? 0) + 1
          status.lastRefusal = refusal
          return sendError(res, 401, refusal)
        }
        // Renewed: the same request again, if its body is at hand (a model request's is; a stream is gone).
        if (!(sent instanceof Readable)) {
          answer.body.resume()
          headers = await credential.authorize({ method: req.method ?? '', url, headers }, req.headers)
          answer = await forward(url, req.method ?? '', headers, sent, controller.signal)
        }
      }
      if (answer.status === 401) credential.refused?.(headers)
      body = answer.body
      if (answer.status >= 500) {
        status.upstreamErrors++
        status.lastUpstreamStatus = answer.status
      }
      if (credential.explainRefusal && (answer.status === 401 || answer.status === 403)) {
        const text = (await wholeRequest(answer.body)).toString('utf8').slice(0, 4096)
        const why = credential.explainRefusal(answer.status, String(answer.headers['x-amzn-errortype'] ?? ''), text)
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
  }
  const server = config.tls ? https.createServer(config.tls, handler) : http.createServer(handler)
  server.keepAliveTimeout = 60_000
  let websocket: Promise<typeof import('./websocket.js')> | undefined
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined)
    dirty = true
    const route = target(req, true)
    if (!route) {
      status.refused++
      return refuseUpgrade(socket, 404, 'Not found.')
    }
    status.requests++
    status.websockets++
    websocket ??= import('./websocket.js')
    void Promise.all([websocket, forwardedHeaders(req, route.url)])
      .then(([ws, headers]) =>
        ws.relay(req, socket, head, {
          url: route.url.replace(/^http/, 'ws'),
          headers,
          ca: config.ca,
          proxy: proxyFor(upstream),
          status,
          changed: () => (dirty = true),
          refused: () => credential.refused?.(headers),
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
    upstream: upstream.origin,
    tls: config.tls
  })
  // One write at a time, each of the figures as they are when it starts: neither file goes
  // back in time (a stop the watch sees just after a tick writes "stopped" last).
  let statusWritten = Promise.resolve()
  const writeStatus = () =>
    (statusWritten = statusWritten.then(() => {
      if (credential.renewals) status.signin = { refreshes: credential.renewals() }
      return replaceFile(path.join(config.dir, STATUS_FILE), JSON.stringify(status)).catch(() => undefined)
    }))
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
    // A sign-in's refresh under way first (its token endpoint has rotated the refresh token: only
    // the file it writes holds the new one): the status says so, and the post step waits for it.
    const pending = credential.settle?.()
    if (pending) {
      status.state = 'settling'
      void writeStatus()
    }
    const settled = pending
      ? Promise.race([pending, new Promise<void>((resolve) => setTimeout(resolve, SETTLE_MS))])
      : Promise.resolve()
    // Then the usage: once the status says stopped, the post step reads both.
    void settled
      .then(() => {
        status.state = 'stopped'
        return existsSync(config.dir) ? writeUsage().then(writeStatus) : undefined
      })
      .then(() => process.exit(0))
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

/** A request's whole body, for an upstream that signs it. */
/** A body past the bound wholeRequest was given. */
class TooLarge extends Error {}

/** The most a request the proxy answers itself may carry (a refresh's JSON is well under 1 KiB). */
const ANSWERED_MAX_BYTES = 64 * 1024

async function wholeRequest(req: Readable, max = Infinity): Promise<Buffer> {
  if (max === Infinity) {
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }
  // Past the bound it stops reading (paused, not destroyed: the caller's answer can still be sent).
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let length = 0
    const onData = (chunk: Buffer) => {
      length += chunk.length
      let error: Error | undefined = length > max ? new TooLarge(`more than ${max} bytes`) : undefined
      try {
        if (!error) keep(req, chunk.length)
      } catch (noRoom) {
        error = noRoom as NoRoom
      }
      if (!error) return void chunks.push(chunk)
      req.off('data', onData).off('end', onEnd).off('error', reject).pause()
      reject(error)
    }
    const onEnd = () => resolve(Buffer.concat(chunks))
    req.on('data', onData).once('end', onEnd).once('error', reject)
  })
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
function explain(message: string, config: Pick<GuardConfig, 'dir' | 'stopToken' | 'deadline' | 'tls'>): void {
  // 410, not 503: Codex retries a 503 for half a minute, and this will not get better.
  const answer = (_req: http.IncomingMessage, res: http.ServerResponse) => sendError(res, 410, message)
  ;(config.tls ? https.createServer(config.tls, answer) : http.createServer(answer))
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
