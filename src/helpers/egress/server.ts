/**
 * The egress proxy: a detached process the main step starts unless codex-network is open.
 * Commands the model runs reach it only through the jail's relay, on a Unix socket in its
 * private directory. It admits HTTP CONNECT and plain HTTP to the hosts codex-network
 * lists, refuses every other destination with a 403 that names it, and counts both into
 * network.json, which the post step turns into the job summary. It reads its configuration
 * from stdin and stops when the post step creates `stop` in its directory, when the
 * directory is removed, or at its deadline.
 */
import * as http from 'node:http'
import * as net from 'node:net'
import * as path from 'node:path'
import type { Duplex } from 'node:stream'
import { replaceFile } from '../../job/files.js'
import { describeFailure } from '../../net/failures.js'
import { STOP_POLL_MS, stopRequested, watchStopFile } from '../stop-file.js'
import {
  type Destination,
  type EgressConfig,
  type EgressReport,
  type EgressStatus,
  BACKGROUND_REASON,
  REFUSED_REASON,
  REPORT_FILE,
  SOCKET_FILE,
  STATUS_FILE
} from './protocol.js'
import { normalHost, Rules } from './rules.js'
import { authority, forwardRequest, openTunnel } from './upstream.js'

/** Destinations kept apart in each list; beyond, one row counts the rest (a flood of names cannot fill memory). */
const MAX_DESTINATIONS = 500
/** The longest destination kept as it was asked for (a DNS name, its port): a longer one is cut, so that 500 rows stay small. */
const MAX_DESTINATION = 262
const OTHERS = '(other destinations)'
/** Never forwarded: hop-by-hop headers, and the client's credentials for a proxy. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade'
])

/** The count of one list of destinations. */
class Tally {
  private readonly rows = new Map<string, Destination>()
  constructor(private readonly changed: () => void) {}

  add(asked: string, reason?: string): Destination {
    const destination = asked.length > MAX_DESTINATION ? `${asked.slice(0, MAX_DESTINATION)}…` : asked
    const key = this.rows.has(destination) || this.rows.size < MAX_DESTINATIONS ? destination : OTHERS
    let row = this.rows.get(key)
    if (!row) {
      row = { destination: key, count: 0, first: new Date().toISOString(), ...(reason && { reason }) }
      this.rows.set(key, row)
    }
    row.count++
    this.changed()
    return row
  }

  failed(row: Destination): void {
    row.failed = (row.failed ?? 0) + 1
    this.changed()
  }

  list(): Destination[] {
    return [...this.rows.values()]
  }
}

/** The destination a CONNECT names (`host:port`, `[v6]:port`), or undefined. */
function connectTarget(raw: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]/\s]+):(\d{1,5})$/.exec(raw)
  const port = Number(match?.[2])
  return match && port >= 1 && port <= 65535 ? { host: normalHost(match[1]), port } : undefined
}

/** The destination of an absolute-form request (`GET http://host/…`), or undefined. */
function requestTarget(raw: string): URL | undefined {
  const url = URL.canParse(raw) ? new URL(raw) : undefined
  return url?.protocol === 'http:' ? url : undefined
}

function refusal(destination: string, reason: string): string {
  return `codex-auth-action: ${destination} ${reason}\n`
}

async function runProxy(config: EgressConfig): Promise<void> {
  const rules = new Rules(config.hosts)
  const background = new Set(config.background ?? [])
  let dirty = false
  const changed = () => (dirty = true)
  const allowed = new Tally(changed)
  const refused = new Tally(changed)
  const sockets = new Set<net.Socket>()
  const status: EgressStatus = { pid: process.pid, state: 'running' }

  /** Admitted, or refused with its reason: counted either way. */
  const admit = (host: string, port: number): { row: Destination } | { refusal: string } => {
    const destination = authority(host, port)
    if (rules.admits(host, port)) return { row: allowed.add(destination) }
    refused.add(destination, background.has(destination) ? BACKGROUND_REASON : REFUSED_REASON)
    return { refusal: refusal(destination, REFUSED_REASON) }
  }
  /** A destination admitted but not reached (a name that leads only to a metadata address among them). */
  const unreachable = (row: Destination, error: unknown) => {
    allowed.failed(row)
    return refusal(row.destination, `could not be reached: ${describeFailure(error)}`)
  }

  const server = http.createServer((req, res) => {
    const url = requestTarget(req.url ?? '')
    if (!url) {
      res.writeHead(400, { 'content-type': 'text/plain' })
      return void res.end('codex-auth-action: this is an HTTP proxy; send absolute http:// URLs or CONNECT.\n')
    }
    const host = normalHost(url.hostname)
    const port = Number(url.port) || 80
    const admitted = admit(host, port)
    if ('refusal' in admitted) {
      res.writeHead(403, { 'content-type': 'text/plain' })
      return void res.end(admitted.refusal)
    }
    const headers: http.OutgoingHttpHeaders = {}
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = value
    // The host that was admitted, whatever the client named: a CDN's edge (one address for many
    // sites) serves the site the Host header names, so another would be reached past the list.
    headers.host = url.host
    let upstream: http.ClientRequest
    try {
      upstream = forwardRequest(url, req.method ?? 'GET', headers, config.ca)
    } catch (error) {
      res.writeHead(502, { 'content-type': 'text/plain' })
      return void res.end(unreachable(admitted.row, error))
    }
    upstream.on('timeout', () => upstream.destroy(Object.assign(new Error('no answer'), { code: 'ETIMEDOUT' })))
    upstream.on('response', (answer) => {
      upstream.setTimeout(0)
      const out: http.OutgoingHttpHeaders = {}
      for (const [name, value] of Object.entries(answer.headersDistinct))
        if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
      res.writeHead(answer.statusCode ?? 502, out)
      answer.pipe(res)
      answer.on('error', () => res.destroy())
    })
    upstream.on('error', (error) => {
      if (res.headersSent) return void res.destroy()
      res.writeHead(502, { 'content-type': 'text/plain' })
      res.end(unreachable(admitted.row, error))
    })
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy()
    })
    req.pipe(upstream)
  })
  server.on('connect', (req: http.IncomingMessage, client: Duplex, head: Buffer) => {
    const socket = client as net.Socket
    socket.on('error', () => undefined)
    const target = connectTarget(req.url ?? '')
    if (!target) return void socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n')
    const admitted = admit(target.host, target.port)
    const answer = (code: string, text: string) =>
      socket.end(
        `HTTP/1.1 ${code}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`
      )
    if ('refusal' in admitted) return answer('403 Forbidden', admitted.refusal)
    openTunnel(target.host, target.port, config.ca).then(
      (upstream) => {
        if (socket.destroyed) return void upstream.destroy()
        sockets.add(upstream)
        sockets.add(socket)
        upstream.on('error', () => socket.destroy())
        socket.on('error', () => upstream.destroy())
        for (const one of [upstream, socket]) one.on('close', () => sockets.delete(one))
        socket.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        if (head.length) upstream.write(head)
        upstream.pipe(socket)
        socket.pipe(upstream)
        upstream.resume()
      },
      (error: unknown) => answer('502 Bad Gateway', unreachable(admitted.row, error))
    )
  })
  // Node answers an Upgrade itself unless someone listens: plain-HTTP upgrades are not relayed (WebSockets use CONNECT).
  server.on('upgrade', (_req: http.IncomingMessage, socket: Duplex) =>
    socket
      .on('error', () => undefined)
      .end('HTTP/1.1 501 Not Implemented\r\nconnection: close\r\n\r\ncodex-auth-action: use CONNECT for upgrades.\n')
  )
  server.keepAliveTimeout = 60_000

  const listening = (options: net.ListenOptions | { fd: number }, target = server) =>
    new Promise<void>((resolve, reject) => target.once('error', reject).listen(options, () => resolve()))
  await listening(config.inherited ? { fd: 3 } : { path: path.join(config.dir, SOCKET_FILE) })
  // Codex's own loopback endpoints, from inside the jail: each connection to the key proxy (which
  // checks it) or the gateway config names, as it is.
  for (const [i, port] of (config.inherited ? (config.apiPorts ?? []) : []).entries()) {
    const api = net.createServer((client) => {
      const upstream = net.connect(port, '127.0.0.1')
      for (const [from, to] of [
        [client, upstream],
        [upstream, client]
      ]) {
        sockets.add(from)
        from.on('error', () => to.destroy()).on('close', () => sockets.delete(from))
        from.pipe(to)
      }
    })
    await new Promise<void>((resolve, reject) => api.once('error', reject).listen({ fd: 4 + i }, resolve))
  }
  let tcp: http.Server | undefined
  if (config.tcp) {
    // The same handlers on a loopback port: tests and the bench talk to it without a relay.
    tcp = http.createServer(server.listeners('request')[0] as http.RequestListener)
    for (const event of ['connect', 'upgrade'] as const)
      tcp.on(event, server.listeners(event)[0] as (...args: unknown[]) => void)
    tcp.keepAliveTimeout = server.keepAliveTimeout
    await listening({ port: 0, host: '127.0.0.1' }, tcp)
    status.port = (tcp.address() as net.AddressInfo).port
  }

  const report = (): EgressReport => ({ rule: config.rule, allowed: allowed.list(), refused: refused.list() })
  let written = Promise.resolve()
  const write = () => {
    dirty = false
    return (written = written.then(() =>
      replaceFile(path.join(config.dir, REPORT_FILE), JSON.stringify(report(), null, 2))
        .then(() => replaceFile(path.join(config.dir, STATUS_FILE), JSON.stringify(status)))
        .catch(() => undefined)
    ))
  }
  await write()

  let stopping = false
  const stopIfAsked = () => {
    if (stopping || !stopRequested(config.dir, config.deadline, config.stopToken)) return
    stopping = true
    clearInterval(timer)
    for (const one of [server, tcp]) {
      one?.close()
      one?.closeAllConnections()
    }
    for (const socket of sockets) socket.destroy()
    status.state = 'stopped'
    void write().then(() => process.exit(0))
  }
  watchStopFile(config.dir, stopIfAsked)
  const timer = setInterval(() => {
    stopIfAsked()
    if (dirty && !stopping) void write()
  }, STOP_POLL_MS)
}

/** The proxy, configured from stdin. */
export async function run(): Promise<void> {
  let text = ''
  for await (const chunk of process.stdin) text += (chunk as Buffer).toString('utf8')
  const config = JSON.parse(text) as EgressConfig
  await runProxy(config).catch((error: unknown) => {
    process.stderr.write(`codex-auth-action egress proxy: ${describeFailure(error)}\n`)
    process.exit(1)
  })
}
