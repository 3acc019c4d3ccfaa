/** Loopback servers for the tests: plain HTTP or HTTPS, with a log of what they were asked. */
import * as http from 'node:http'
import * as https from 'node:https'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: string
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void | Promise<void>

export interface TlsIdentity {
  key: string
  cert: string
}

/** A server on 127.0.0.1 with a random port; `tls` makes it HTTPS. */
export class LoopbackServer {
  readonly requests: RecordedRequest[] = []
  private server!: http.Server
  private readonly sockets = new Set<import('node:net').Socket>()
  port = 0

  constructor(
    private readonly handler: Handler,
    private readonly tls?: TlsIdentity
  ) {}

  get origin(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    const listener: http.RequestListener = (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString()
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
        Promise.resolve(this.handler(req, res, body)).catch((error: Error) => {
          res.statusCode = 500
          res.end(error.message)
        })
      })
    }
    this.server = this.tls ? https.createServer(this.tls, listener) : http.createServer(listener)
    this.server.on('connection', (socket) => {
      this.sockets.add(socket)
      socket.on('close', () => this.sockets.delete(socket))
    })
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as AddressInfo).port
    return this
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(value))
}
