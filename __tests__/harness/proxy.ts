/**
 * A forwarding proxy on loopback, as a corporate network would have: CONNECT tunnels for
 * HTTPS and absolute-form requests for HTTP. It forwards only to 127.0.0.1. Given a
 * certificate, it is an `https:` proxy (TLS to the proxy itself).
 */
import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'
import * as net from 'node:net'

export class ForwardProxy {
  /** The `host:port` of every CONNECT, and the URL of every forwarded request. */
  readonly connects: string[] = []
  readonly forwarded: string[] = []
  private readonly server: http.Server
  private readonly sockets = new Set<net.Socket>()

  /**
   * @param routes CONNECT targets to send elsewhere on loopback (`host:port` → `127.0.0.1:port`):
   * a public host played by a loopback server, as a TLS-intercepting proxy would.
   */
  constructor(
    private readonly tls?: { key: string; cert: string },
    private readonly routes: Record<string, string> = {}
  ) {
    const handler: http.RequestListener = (req, res) => {
      const target = new URL(req.url ?? '')
      if (target.hostname !== '127.0.0.1') return void res.writeHead(403).end()
      this.forwarded.push(target.href)
      const upstream = http.request(target, { method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers)
        answer.pipe(res)
      })
      upstream.on('error', () => res.writeHead(502).end())
      req.pipe(upstream)
    }
    this.server = tls ? https.createServer(tls, handler) : http.createServer(handler)
    this.server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
      const [host, port] = (this.routes[req.url ?? ''] ?? req.url ?? '').split(':')
      if (host !== '127.0.0.1') return void client.end('HTTP/1.1 403 Forbidden\r\n\r\n')
      this.connects.push(req.url ?? '')
      const upstream = net.connect(Number(port), host, () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        upstream.write(head)
        upstream.pipe(client)
        client.pipe(upstream)
      })
      for (const socket of [upstream, client]) {
        this.sockets.add(socket)
        socket.on('error', () => undefined)
        socket.on('close', () => this.sockets.delete(socket))
      }
    })
  }

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    return this
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}
