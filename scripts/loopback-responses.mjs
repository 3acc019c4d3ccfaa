/**
 * A Responses API on loopback for `npm start` and `npm run bench`: the same events over HTTP
 * (SSE on `POST /v1/responses`) and over its WebSocket mode (`GET /v1/responses` upgraded,
 * one `response.create` message a turn, one event a text message), as OpenAI's API does.
 * It answers each turn with a tool call (`tool: true`) or a message, after `thinkMs`, and
 * counts the bytes each connection brought in (what a client sent upstream).
 */
import { LoopbackServer } from '../__tests__/harness/servers.js'

export const REPLY = 'hello from the loopback Responses API'

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * The events of one turn.
 * @param {number} n
 * @param {boolean} tool
 * @returns {object[]}
 */
function turnEvents(n, tool) {
  const id = `resp_${n}`
  const item = tool
    ? { type: 'function_call', id: `fc_${n}`, call_id: `call_${n}`, name: 'shell', arguments: '{"cmd":"ls"}' }
    : { type: 'message', role: 'assistant', id: `msg_${n}`, content: [{ type: 'output_text', text: REPLY }] }
  const usage = { input_tokens: 1, input_tokens_details: null, output_tokens: 1, output_tokens_details: null }
  return [
    { type: 'response.created', response: { id } },
    { type: 'response.output_item.done', item },
    { type: 'response.completed', response: { id, usage: { ...usage, total_tokens: 2 } } }
  ]
}

export class ResponsesUpstream {
  /** @type {{ authorization?: string, url: string }[]} */
  upgrades = []
  /** @type {number} */
  posts = 0
  /** Bytes received so far over every connection. */
  bytesIn = 0
  #turns = 0
  /** @type {Set<import('ws').WebSocket>} */
  #sockets = new Set()
  /** @type {import('ws').WebSocketServer | undefined} */
  #wss

  /** @param {{ thinkMs?: number, tool?: boolean }} [options] */
  constructor(options = {}) {
    this.thinkMs = options.thinkMs ?? 0
    this.tool = options.tool ?? false
    this.server = new LoopbackServer(async (req, res) => {
      if (req.method !== 'POST' || !req.url?.startsWith('/v1/responses')) {
        res.writeHead(404).end()
        return
      }
      this.posts++
      await sleep(this.thinkMs)
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (const event of turnEvents(++this.#turns, this.tool))
        res.write(`event: ${/** @type {{ type: string }} */ (event).type}\ndata: ${JSON.stringify(event)}\n\n`)
      res.end()
    })
    this.server.onUpgrade = (req, socket, head) => {
      this.upgrades.push({ authorization: req.headers.authorization, url: req.url ?? '' })
      if (!req.url?.startsWith('/v1/responses') || !this.#wss)
        return void socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n')
      this.#wss.handleUpgrade(req, socket, head, (ws) => {
        this.#sockets.add(ws)
        ws.on('close', () => this.#sockets.delete(ws))
        ws.on('message', async (data) => {
          const message = JSON.parse(data.toString())
          if (message.generate === false) {
            const [created, , completed] = turnEvents(++this.#turns, false)
            for (const event of [created, completed]) ws.send(JSON.stringify(event))
            return
          }
          await sleep(this.thinkMs)
          for (const event of turnEvents(++this.#turns, this.tool)) ws.send(JSON.stringify(event))
        })
      })
    }
  }

  get origin() {
    return this.server.origin
  }

  async start() {
    const { WebSocketServer } = await import('ws')
    this.#wss = new WebSocketServer({ noServer: true })
    await this.server.start()
    // Every byte a client sends, HTTP or WebSocket frames, handshakes included.
    this.server.onConnection = (socket) => socket.on('data', (chunk) => (this.bytesIn += chunk.length))
    return this
  }

  async stop() {
    for (const ws of this.#sockets) ws.terminate()
    await this.server.stop()
  }
}
