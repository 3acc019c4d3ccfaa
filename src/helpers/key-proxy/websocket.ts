/**
 * The key proxy's WebSocket transport: Codex's upgrade on `…/<capability>/v1/responses`,
 * relayed to a websocket of the proxy's own to the upstream, which carries the key. server.ts
 * loads this module (and the ws library) only when the first upgrade arrives.
 *
 * The upstream is asked first and Codex's upgrade is completed only once the upstream has
 * accepted its own: an upstream that refuses (426, 401, a redirect, …) is answered to Codex
 * as it answered, so Codex falls back to HTTP or reports the error as it would talking to
 * that upstream directly. Nothing is followed: a redirect goes back to Codex, without the key.
 * Each message is handled inside a `try`: one message, whatever it holds, ends nothing but itself.
 */
import * as http from 'node:http'
import * as https from 'node:https'
import { isIP, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import * as tls from 'node:tls'
import { WebSocket, WebSocketServer, type RawData } from 'ws'
import { describeFailure } from '../../net/failures.js'
import { answerUpgrade, refuseUpgrade } from './answers.js'
import type { KeyProxyStatus } from './protocol.js'
import { DRAIN_BYTES, DRAIN_MS, MAX_MESSAGE, refusalEvent, type SocketMeter } from './usage.js'

/** Headers of the handshake itself: each leg negotiates its own. */
const HANDSHAKE = /^sec-websocket-(key|version|extensions|protocol|accept)$/
/** Not relayed back from a refusing upstream: they describe its connection, not its answer. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'content-length'])
/** What is kept of a refusing upstream's body: its error message, not a stream. */
const MAX_REFUSAL_BYTES = 64 * 1024

/** One Codex upgrade, as server.ts resolved it. */
export interface Upgrade {
  /** The upstream's ws:// or wss:// URL. */
  url: string
  /** Codex's headers, the caller's credentials dropped, the key's header added. */
  headers: Record<string, string | string[]>
  ca?: string[]
  /** The HTTP proxy to tunnel through (proxyFor), if any. */
  proxy?: string
  status: KeyProxyStatus
  /** The status changed: server.ts writes it soon. */
  changed(): void
  /** The upstream refused the upgrade with a 401 (server.ts tells the credential's kind). */
  refused?(): void
  /** The origin named in errors. */
  origin: string
  /** The usage meter's view of this connection (usage.ts). */
  meter: SocketMeter
  /** A fault in the handling of a message: recorded in the status file. */
  fault(error: unknown): void
}

/** What Codex is told of a message whose handling failed. */
const FAULT = "codex-auth-action's key proxy could not handle this message, so it did not send it."

/** Codex's side: no server of its own, only handshakes handed over by server.ts. */
const codexSide = new WebSocketServer({
  noServer: true,
  perMessageDeflate: true,
  clientTracking: false,
  // A larger message ends the connection (1009) before it is kept, let alone parsed.
  maxPayload: MAX_MESSAGE
})

/**
 * The two directions of one relayed connection. Each message passes through exactly one of
 * these two methods, unbuffered: `toCodex` sees every upstream event (a meter can count
 * tokens there), `toUpstream` every message of Codex's, one `response.create` a turn (a
 * cap can refuse one there).
 */
class Relay {
  /** Codex has gone, and the upstream is read on for the usage it still owes (max-tokens). */
  private draining: { code: number; reason: Buffer; timer: NodeJS.Timeout; bytes: number } | undefined

  constructor(
    private readonly codex: WebSocket,
    private readonly upstream: WebSocket,
    private readonly upgrade: Upgrade
  ) {
    upstream.on('message', (data, isBinary) => this.toCodex(data, isBinary))
    codex.on('message', (data, isBinary) => this.toUpstream(data, isBinary))
    upstream.on('close', (code, reason) => {
      clearTimeout(this.draining?.timer)
      upgrade.meter.close(true)
      closeLike(codex, code, reason)
    })
    codex.on('close', (code, reason) => {
      if (!upgrade.meter.drains || upgrade.meter.settled || upstream.readyState !== WebSocket.OPEN)
        return this.endUpstream(code, reason)
      // A response still owed is read to its end for its usage, within DRAIN_MS and DRAIN_BYTES.
      const timer = setTimeout(() => this.endUpstream(code, reason), DRAIN_MS)
      this.draining = { code, reason, timer, bytes: 0 }
    })
    upstream.on('error', () => {
      upgrade.status.upstreamErrors++
      upgrade.status.lastUpstreamStatus = undefined
      upgrade.changed()
      codex.terminate()
    })
    codex.on('error', () => upstream.terminate())
  }

  toCodex(data: RawData, isBinary: boolean): void {
    try {
      const message = bytes(data)
      const draining = this.draining
      if (!draining) this.codex.send(message, { binary: isBinary })
      else if ((draining.bytes += message.length) > DRAIN_BYTES) return this.endUpstream(draining.code, draining.reason)
      // Counted after it is on its way: a response's id, its terminal event's usage.
      this.upgrade.meter.fromUpstream(message, isBinary)
      if (draining && this.upgrade.meter.settled) this.endUpstream(draining.code, draining.reason)
    } catch (error) {
      this.upgrade.fault(error)
    }
  }

  toUpstream(data: RawData, isBinary: boolean): void {
    this.upgrade.status.websocketMessages++
    this.upgrade.changed()
    try {
      // Only a response.create within the caps goes on, as the bytes that came; anything else is answered here.
      const verdict = this.upgrade.meter.fromCodex(bytes(data), isBinary)
      if ('refuse' in verdict) this.codex.send(verdict.refuse)
      else this.upstream.send(verdict.forward, { binary: false })
    } catch (error) {
      this.upgrade.fault(error)
      this.codex.send(refusalEvent(FAULT))
    }
  }

  /** Ends the upstream's side as Codex ended its own; what is still owed then may have been billed. */
  private endUpstream(code: number, reason: Buffer): void {
    clearTimeout(this.draining?.timer)
    this.upgrade.meter.close(false)
    closeLike(this.upstream, code, reason)
  }
}

/** A message's bytes, whichever form the ws library gave them in. */
function bytes(data: RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)
}

/** Ends `socket` the way its peer ended: the same code, or none where the peer sent none. */
function closeLike(socket: WebSocket, code: number, reason: Buffer): void {
  if (socket.readyState === WebSocket.CLOSED) return
  try {
    // 1005 (no code), 1006 (no close frame) and 1015 (TLS) describe a connection and cannot be sent.
    if (code === 1005 || code === 1006 || code === 1015) socket.close()
    else socket.close(code, reason)
  } catch {
    socket.terminate()
  }
}

/**
 * An agent whose every connection is a CONNECT tunnel through `proxy` (with its user and
 * password, if the URL has them), TLS on top for a wss:// upstream: the ws library then
 * speaks through a corporate proxy as undici's ProxyAgent does for the HTTP path.
 */
function tunnelAgent(proxy: string, secure: boolean, ca: string[] | undefined): http.Agent {
  const via = new URL(proxy)
  const agent = secure ? new https.Agent() : new http.Agent()
  const credentials = via.username
    ? `Basic ${Buffer.from(`${decodeURIComponent(via.username)}:${decodeURIComponent(via.password)}`).toString('base64')}`
    : undefined
  Object.assign(agent, {
    createConnection(
      options: { host: string; port: number; servername?: string },
      callback: (error: Error | null, socket?: Socket) => void
    ): undefined {
      const target = `${options.host.includes(':') ? `[${options.host}]` : options.host}:${options.port}`
      const connect = (via.protocol === 'https:' ? https : http).request({
        host: via.hostname.replace(/^\[|\]$/g, ''),
        port: via.port || (via.protocol === 'https:' ? 443 : 80),
        method: 'CONNECT',
        path: target,
        headers: { host: target, ...(credentials && { 'proxy-authorization': credentials }) },
        agent: false,
        ...(ca && { ca })
      })
      connect.once('connect', (res, socket) => {
        if (res.statusCode !== 200) {
          socket.destroy()
          return callback(new Error(`the proxy ${via.origin} answered CONNECT with HTTP ${res.statusCode}`))
        }
        if (!secure) return callback(null, socket)
        const servername = isIP(options.host) ? undefined : (options.servername ?? options.host)
        callback(null, tls.connect({ socket, host: options.host, servername, ...(ca && { ca }) }))
      })
      connect.once('error', (error) => callback(error))
      connect.end()
      return undefined
    }
  })
  return agent
}

/** Relays one upgrade (see the top of this file). */
export function relay(req: http.IncomingMessage, socket: Duplex, head: Buffer, upgrade: Upgrade): void {
  socket.on('error', () => undefined)
  // What ws would refuse on Codex's side, refused before anything goes upstream.
  if (String(req.headers.upgrade).toLowerCase() !== 'websocket' || !req.headers['sec-websocket-key'])
    return refuseUpgrade(socket, 400, 'Not a websocket handshake.')
  const offered = String(req.headers['sec-websocket-extensions'] ?? '').includes('permessage-deflate')
  const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)
  const headers = Object.fromEntries(Object.entries(upgrade.headers).filter(([name]) => !HANDSHAKE.test(name)))
  const secure = upgrade.url.startsWith('wss:')
  const upstream = new WebSocket(upgrade.url, protocols, {
    headers,
    // Compressed upstream only where Codex asked for it on its own leg: the same bytes as direct.
    perMessageDeflate: offered,
    followRedirects: false,
    ...(upgrade.proxy && { agent: tunnelAgent(upgrade.proxy, secure, upgrade.ca) }),
    ...(upgrade.ca && { ca: upgrade.ca })
  })
  let answered = false
  // Codex gave up before the upstream answered: so does the proxy.
  const abandoned = () => upstream.terminate()
  socket.once('close', abandoned)
  upstream.once('unexpected-response', (_request, res) => {
    answered = true
    const status = res.statusCode ?? 502
    if (status === 401) upgrade.refused?.()
    if (status >= 500) {
      upgrade.status.upstreamErrors++
      upgrade.status.lastUpstreamStatus = status
    }
    upgrade.changed()
    const out: Record<string, string | string[]> = {}
    for (const [name, value] of Object.entries(res.headersDistinct))
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (chunk: Buffer) => {
      if (size < MAX_REFUSAL_BYTES) chunks.push(chunk.subarray(0, MAX_REFUSAL_BYTES - size))
      size += chunk.length
    })
    const done = () => {
      answerUpgrade(socket, status, out, Buffer.concat(chunks))
      upstream.terminate()
    }
    res.once('end', done)
    res.once('error', done)
  })
  const early = (error: Error) => {
    // Already answered (a refusal, relayed), or nobody left to tell.
    if (answered || socket.destroyed) return
    upgrade.status.upstreamErrors++
    upgrade.status.lastUpstreamStatus = undefined
    upgrade.changed()
    refuseUpgrade(
      socket,
      502,
      `The codex-auth-action key proxy could not reach ${upgrade.origin}: ${describeFailure(error)}.`
    )
  }
  upstream.on('error', early)
  upstream.once('open', () => {
    if (socket.destroyed) return upstream.terminate()
    codexSide.handleUpgrade(req, socket, head, (codex) => {
      socket.off('close', abandoned)
      upstream.off('error', early)
      new Relay(codex, upstream, upgrade)
    })
  })
}
