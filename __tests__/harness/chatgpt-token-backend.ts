/**
 * A ChatGPT Codex backend and AuthAPI on loopback for Codex personal access tokens, HTTPS
 * (the CLI insists on it in ChatGPT mode), recording every request with its raw body, which
 * in ChatGPT mode is zstd-compressed. It answers what Codex 0.171.0 needs to complete a turn:
 * whoami for the accepted tokens, workspace routing, the model list (no change to Codex's own),
 * and the turn itself, over HTTP (SSE) or,
 * with `websocket`, over the WebSocket transport. Anything else is 404, as plugins are here.
 * For a ChatGPT sign-in it is the OAuth token endpoint too (CODEX_REFRESH_TOKEN_URL_OVERRIDE):
 * a refresh token in `refreshable` is taken once, for new tokens whose access token it then accepts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import * as https from 'node:https'
import type { Duplex } from 'node:stream'
import { decompress } from 'fzstd'
import { WebSocketServer } from 'ws'
import { chatgptTokens, type ChatgptFile } from './chatgpt-auth.js'
import { makeTestCa } from './test-ca.js'

export const TOKEN_TURN_TEXT = 'hello from the fake ChatGPT backend, through whatever holds the token'

export interface BackendRequest {
  method: string
  url: string
  headers: IncomingMessage['headers']
  /** The body as sent (compressed or not). */
  raw: Buffer
  /** The body decompressed, as text. */
  body: string
  /** A WebSocket message of Codex's (the `response.create` of a turn); `headers` are the upgrade's. */
  websocket?: boolean
}

const EVENTS = [
  { type: 'response.created', response: { id: 'resp_t1' } },
  {
    type: 'response.output_item.done',
    item: {
      type: 'message',
      role: 'assistant',
      id: 'msg_t1',
      content: [{ type: 'output_text', text: TOKEN_TURN_TEXT }]
    }
  },
  {
    type: 'response.completed',
    response: { id: 'resp_t1', usage: { input_tokens: 7, output_tokens: 3, total_tokens: 10 } }
  }
]

/** The usage each LoopingModel answer reports. */
export const LOOP_USAGE = { input_tokens: 7, output_tokens: 3, total_tokens: 10 }

/**
 * A runaway agent, as a ChatgptTokenBackend's model: every answer is a tool call (code mode's
 * `exec`, whose script runs no command), so Codex asks again at once and for ever; each
 * answer reports LOOP_USAGE.
 */
export class LoopingModel {
  turns = 0

  turn(): object[] {
    const n = ++this.turns
    const id = `resp_loop_${n}`
    const call = { type: 'custom_tool_call', id: `ctc_${n}`, status: 'completed', call_id: `call_${n}`, name: 'exec' }
    return [
      { type: 'response.created', response: { id } },
      { type: 'response.output_item.done', item: { ...call, input: 'text("again")' } },
      { type: 'response.completed', response: { id, usage: LOOP_USAGE } }
    ]
  }
}

export class ChatgptTokenBackend {
  readonly ca: string
  readonly requests: BackendRequest[] = []
  port = 0
  private readonly server: https.Server
  private readonly wss = new WebSocketServer({ noServer: true })
  /** Refresh tokens the token endpoint takes, once each. */
  readonly refreshable = new Set<string>()
  /** What each refresh handed out (canaries). */
  readonly issued: ChatgptFile['tokens'][] = []
  /** How long the token endpoint takes to answer a refresh or an exchange (so that requests meet one under way). */
  refreshDelayMs = 0

  constructor(
    readonly tokens: string[],
    readonly options: {
      websocket?: boolean
      fedramp?: boolean
      accountId?: string
      /** Plays the model over HTTP and the WebSocket transport (an AttackerModel's turn): the events answering a model request's body. */
      model?: { turn(body: string): object[] }
      /** DNS names its certificate also holds: it plays chatgpt.com and auth.openai.com behind a ForwardProxy's routes. */
      names?: string[]
      /** Answers `POST /oauth/token` (the workload identity exchange), given the form it got. */
      oauth?: (form: URLSearchParams) => { status: number; body: unknown }
      /** Answer the managed config bundle with an empty one (workload identity needs it; a 404 fails Codex). */
      configBundle?: boolean
    } = {}
  ) {
    const { ca, server } = makeTestCa('Test ChatGPT token backend CA', options.names)
    this.ca = ca
    this.server = https.createServer(server, (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const raw = Buffer.concat(chunks)
        const body =
          req.headers['content-encoding'] === 'zstd' ? Buffer.from(decompress(raw)).toString() : raw.toString()
        this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, raw, body })
        this.answer(req, res, body)
      })
    })
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.requests.push({
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        raw: Buffer.alloc(0),
        body: ''
      })
      if (!this.options.websocket || req.url !== '/backend-api/codex/responses' || !this.authorized(req))
        return void socket.end('HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
      this.wss.handleUpgrade(req, socket, head, (ws) =>
        ws.on('message', (data) => {
          const text = data.toString()
          this.requests.push({
            method: 'WS',
            url: req.url ?? '',
            headers: req.headers,
            raw: Buffer.from(text),
            body: text,
            websocket: true
          })
          const message = JSON.parse(text) as { generate?: boolean }
          // Codex's warm-up (generate: false) gets no output; a turn is the model's, when one plays it.
          for (const event of message.generate === false
            ? [EVENTS[0], EVENTS[2]]
            : (this.options.model?.turn(text) ?? EVENTS))
            ws.send(JSON.stringify(event))
        })
      )
    })
  }

  private authorized(req: IncomingMessage): boolean {
    return this.tokens.some((token) => req.headers.authorization === `Bearer ${token}`)
  }

  private answer(req: IncomingMessage, res: ServerResponse, body: string): void {
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' })
      res.end(JSON.stringify(value))
    }
    const url = req.url ?? ''
    const accountId = this.options.accountId ?? 'account-token-test'
    if (this.options.oauth && req.method === 'POST' && url === '/oauth/token') {
      const answer = this.options.oauth(new URLSearchParams(this.requests[this.requests.length - 1].body))
      return void setTimeout(() => json(answer.status, answer.body), this.refreshDelayMs)
    }
    if (req.method === 'POST' && url === '/oauth/token') {
      const { refresh_token: token } = JSON.parse(this.requests.at(-1)?.body || '{}') as { refresh_token?: string }
      if (!token || !this.refreshable.delete(token))
        return void setTimeout(
          () =>
            json(401, {
              error: { message: 'Your refresh token has already been used.', code: 'refresh_token_reused' }
            }),
          this.refreshDelayMs
        )
      const fresh = chatgptTokens({ accountId })
      this.issued.push(fresh)
      this.tokens.push(fresh.access_token)
      this.refreshable.add(fresh.refresh_token)
      return void setTimeout(
        () =>
          json(200, { id_token: fresh.id_token, access_token: fresh.access_token, refresh_token: fresh.refresh_token }),
        this.refreshDelayMs
      )
    }
    if (this.options.configBundle && url === '/backend-api/wham/config/bundle' && this.authorized(req))
      return json(200, {})
    if (url === '/authapi/v1/user-auth-credential/whoami') {
      if (!this.authorized(req))
        return json(401, { error: { message: 'Invalid personal access token', code: 'invalid_token' } })
      return json(200, {
        email: 'ci@example.com',
        chatgpt_user_id: 'user-token-test',
        chatgpt_account_id: accountId,
        chatgpt_plan_type: 'pro',
        chatgpt_account_is_fedramp: this.options.fedramp === true
      })
    }
    if (!url.startsWith('/backend-api/')) return json(404, { detail: 'Not Found' })
    if (req.headers.authorization !== undefined && !this.authorized(req))
      return json(401, { error: { message: 'Your access token is invalid.', code: 'token_invalidated' } })
    if (url === '/backend-api/wham/accounts/check')
      return json(200, {
        accounts: [
          {
            id: accountId,
            plan_type: 'pro',
            workspace_backend_origin: 'NO_CONSTRAINT',
            account_routing_override: 'NO_CONSTRAINT'
          }
        ]
      })
    // The model list: no change to the catalog Codex ships with (an empty list merges into it).
    if (req.method === 'GET' && url.split('?')[0] === '/backend-api/codex/models') return json(200, { models: [] })
    if (req.method === 'POST' && url === '/backend-api/codex/responses') {
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const events = this.options.model?.turn(body) ?? EVENTS
      for (const event of events as { type: string }[])
        res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`)
      return void res.end()
    }
    json(404, { detail: 'Not Found' })
  }

  get origin(): string {
    return `https://127.0.0.1:${this.port}`
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = (this.server.address() as { port: number }).port
    return this
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise((resolve) => this.server.close(resolve))
  }

  /** The action's inputs that point Codex at this backend and make it trust the test CA. */
  inputs(): Record<string, string> {
    return { 'ca-certificate': this.ca, config: `chatgpt_base_url = "${this.origin}/backend-api/"` }
  }

  /** The variables that send Codex's (and the action's) AuthAPI check and a sign-in's refresh here. */
  env(): Record<string, string> {
    return {
      CODEX_AUTHAPI_BASE_URL: `${this.origin}/authapi`,
      CODEX_REFRESH_TOKEN_URL_OVERRIDE: `${this.origin}/oauth/token`
    }
  }

  /** The token endpoint's requests. */
  refreshes(): BackendRequest[] {
    return this.requests.filter((r) => r.url === '/oauth/token')
  }

  /** Requests from index `from` on: one phase of a test. */
  since(from: number): BackendRequest[] {
    return this.requests.slice(from)
  }
}
