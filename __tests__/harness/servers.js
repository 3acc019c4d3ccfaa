/** Loopback servers for the tests and the benchmark: plain HTTP or HTTPS, with a log of what they were asked. */
import * as http from 'node:http'
import * as https from 'node:https'

/**
 * @typedef {{ method: string, url: string, headers: http.IncomingHttpHeaders, body: string }} RecordedRequest
 * @typedef {(req: http.IncomingMessage, res: http.ServerResponse, body: string) => void | Promise<void>} Handler
 * @typedef {{ key: string, cert: string }} TlsIdentity
 */

/** A server on 127.0.0.1 with a random port; `tls` makes it HTTPS. */
export class LoopbackServer {
  /** @type {RecordedRequest[]} */
  requests = []
  port = 0
  /** @type {http.Server | undefined} */
  #server
  /** @type {Set<import('node:net').Socket>} */
  #sockets = new Set()
  #handler
  #tls
  /**
   * What answers an upgrade request (a websocket); without it the socket is closed, as a
   * server that speaks no websocket would. The request is logged in `requests` all the same.
   * @type {((req: http.IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) => void) | undefined}
   */
  onUpgrade
  /** @type {((socket: import('node:net').Socket) => void) | undefined} sees every connection (the benchmark counts bytes) */
  onConnection

  /**
   * @param {Handler} handler
   * @param {TlsIdentity} [tls]
   */
  constructor(handler, tls) {
    this.#handler = handler
    this.#tls = tls
  }

  get origin() {
    return `${this.#tls ? 'https' : 'http'}://127.0.0.1:${this.port}`
  }

  /** @returns {Promise<this>} */
  async start() {
    /** @type {http.RequestListener} */
    const listener = (req, res) => {
      /** @type {Buffer[]} */
      const chunks = []
      req.on('data', (chunk) => chunks.push(chunk))
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString()
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
        Promise.resolve(this.#handler(req, res, body)).catch((/** @type {Error} */ error) => {
          res.statusCode = 500
          res.end(error.message)
        })
      })
    }
    const server = this.#tls ? https.createServer(this.#tls, listener) : http.createServer(listener)
    server.on('upgrade', (req, socket, head) => {
      this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: '' })
      if (this.onUpgrade) this.onUpgrade(req, socket, head)
      else socket.destroy()
    })
    server.on('connection', (socket) => {
      this.onConnection?.(socket)
      this.#sockets.add(socket)
      socket.on('close', () => this.#sockets.delete(socket))
    })
    await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
    this.port = /** @type {import('node:net').AddressInfo} */ (server.address()).port
    this.#server = server
    return this
  }

  /** @returns {Promise<void>} */
  async stop() {
    for (const socket of this.#sockets) socket.destroy()
    const server = this.#server
    if (server) await new Promise((resolve) => server.close(() => resolve(undefined)))
  }
}

/**
 * @param {http.ServerResponse} res
 * @param {number} status
 * @param {unknown} value
 */
export function sendJson(res, status, value) {
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(value))
}
