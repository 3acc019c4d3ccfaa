/**
 * The OpenAI endpoints the real Codex CLI talks to, on loopback: the Responses API (an
 * SSE stream that makes `codex exec` print a reply, or the same events over its WebSocket
 * mode), the personal-access-token check and
 * the agent-identity JWKS and task registration.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { signRs256 } from './jwt.js'
import type { TlsIdentity } from './servers.js'
import { LoopbackServer, sendJson } from './servers.js'

export const REPLY = 'hello from the fake Responses API'

const websockets = new WebSocketServer({ noServer: true })

/** Responses API events as a server-sent-event stream. */
export function sse(events: object[]): string {
  return events
    .map((event) => `event: ${(event as { type: string }).type}\ndata: ${JSON.stringify(event)}\n\n`)
    .join('')
}

/** The event that ends response `id`, with a usage of one token in and one out. */
export function completedEvent(id: string): object {
  return {
    type: 'response.completed',
    response: {
      id,
      usage: {
        input_tokens: 1,
        input_tokens_details: null,
        output_tokens: 1,
        output_tokens_details: null,
        total_tokens: 2
      }
    }
  }
}

const EVENTS = [
  { type: 'response.created', response: { id: 'resp_1' } },
  {
    type: 'response.output_item.done',
    item: { type: 'message', role: 'assistant', id: 'msg_1', content: [{ type: 'output_text', text: REPLY }] }
  },
  completedEvent('resp_1')
]
const RESPONSE_EVENTS = sse(EVENTS)

/** An RS256 key that signs agent identity JWTs, and the JWKS that publishes it. */
export class AgentIdentityIssuer {
  readonly kid = 'test-key'
  private readonly privateKey: KeyObject
  private readonly publicKey: KeyObject

  constructor() {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 })
    this.privateKey = pair.privateKey
    this.publicKey = pair.publicKey
  }

  jwks(): object {
    return { keys: [{ ...this.publicKey.export({ format: 'jwk' }), kid: this.kid, use: 'sig', alg: 'RS256' }] }
  }

  /** A token shaped like the ones Codex issues, valid for `lifetimeSeconds`. */
  token(lifetimeSeconds = 3600, runtimeId = 'agent-runtime-test'): string {
    const now = Math.floor(Date.now() / 1000)
    const agentKey = generateKeyPairSync('ed25519')
      .privateKey.export({ format: 'der', type: 'pkcs8' })
      .toString('base64')
    return signRs256(
      {
        iss: 'https://chatgpt.com/codex-backend/agent-identity',
        aud: 'codex-app-server',
        iat: now,
        exp: now + lifetimeSeconds,
        agent_runtime_id: runtimeId,
        agent_private_key: agentKey,
        account_id: 'account-test',
        chatgpt_user_id: 'user-test',
        email: 'ci@example.com',
        plan_type: 'pro',
        chatgpt_account_is_fedramp: false
      },
      this.privateKey,
      this.kid
    )
  }
}

/** How GET /v1/models answers an API key: a status, or 429 with insufficient_quota. */
export type KeyAnswer = 200 | 401 | 403 | 429 | 'quota'

export interface FakeOpenAIOptions {
  /** Personal access tokens that whoami accepts; any other gets 401. */
  acceptedTokens?: string[]
  /** API keys GET /v1/models knows; any other gets 401. */
  apiKeys?: Record<string, KeyAnswer>
  tls?: TlsIdentity
  /** Azure OpenAI's v1 API: routes under /openai/v1, the key only in the `api-key` header (a bearer token gets 401). */
  azure?: boolean
  /**
   * The Responses API's WebSocket mode on `GET …/responses` (the default, as OpenAI's), or
   * `refuse`: 426 Upgrade Required, as an upstream without it answers.
   */
  websocket?: 'accept' | 'refuse'
}

export class FakeOpenAI {
  readonly server: LoopbackServer
  readonly issuer = new AgentIdentityIssuer()
  /** Every message that came in over a websocket, parsed (one `response.create` a turn). */
  readonly websocketMessages: { type?: string; generate?: boolean }[] = []
  private readonly sockets = new Set<WebSocket>()

  constructor(private readonly options: FakeOpenAIOptions = {}) {
    this.server = new LoopbackServer((req, res) => {
      // Azure's routes are OpenAI's under /openai.
      const url = this.options.azure ? (req.url ?? '').replace(/^\/openai\/v1\//, '/v1/') : (req.url ?? '')
      const key = this.options.azure
        ? String(req.headers['api-key'] ?? '')
        : (req.headers.authorization ?? '').replace(/^Bearer /, '')
      if (this.options.azure && url.startsWith('/v1/') && !(key in (this.options.apiKeys ?? {}))) {
        return sendJson(res, 401, {
          error: { code: '401', message: 'Access denied due to invalid subscription key or wrong API endpoint.' }
        })
      }
      if (req.method === 'GET' && url.split('?')[0] === '/v1/models') {
        const answer = this.options.apiKeys?.[key] ?? 401
        if (answer === 200) return sendJson(res, 200, { object: 'list', data: [{ id: 'gpt-test', object: 'model' }] })
        if (answer === 'quota')
          return sendJson(res, 429, {
            error: {
              message: 'You exceeded your current quota',
              type: 'insufficient_quota',
              code: 'insufficient_quota'
            }
          })
        return sendJson(res, answer, {
          error: { message: `status ${answer}`, code: answer === 429 ? 'rate_limit_exceeded' : 'invalid_api_key' }
        })
      }
      if (req.method === 'POST' && url.startsWith('/v1/responses')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' })
        res.end(RESPONSE_EVENTS)
      } else if (url.startsWith('/authapi/v1/user-auth-credential/whoami')) {
        const token = (req.headers.authorization ?? '').replace(/^Bearer /, '')
        if (!(this.options.acceptedTokens ?? []).includes(token)) {
          sendJson(res, 401, { error: { message: 'Invalid personal access token', code: 'invalid_token' } })
          return
        }
        sendJson(res, 200, {
          email: 'ci@example.com',
          chatgpt_user_id: 'user-test',
          chatgpt_account_id: 'account-test',
          chatgpt_plan_type: 'pro',
          chatgpt_account_is_fedramp: false
        })
      } else if (url.startsWith('/identity/agent-identities/jwks')) {
        sendJson(res, 200, this.issuer.jwks())
      } else if (req.method === 'POST' && /^\/identity-api\/v1\/agent\/[^/]+\/task\/register/.test(url)) {
        sendJson(res, 200, { taskId: 'task-test' })
      } else {
        sendJson(res, 404, { error: `no route for ${req.method} ${url}` })
      }
    }, options.tls)
    this.server.onUpgrade = (req, socket, head) => this.upgrade(req, socket, head)
  }

  /** The WebSocket mode: each `response.create` answered with the SSE stream's events, one text message each. */
  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = this.options.azure ? (req.url ?? '').replace(/^\/openai\/v1\//, '/v1/') : (req.url ?? '')
    const key = this.options.azure
      ? String(req.headers['api-key'] ?? '')
      : (req.headers.authorization ?? '').replace(/^Bearer /, '')
    const refusal =
      url.split('?')[0] !== '/v1/responses'
        ? '404 Not Found'
        : this.options.websocket === 'refuse'
          ? '426 Upgrade Required'
          : !(key in (this.options.apiKeys ?? {}))
            ? '401 Unauthorized'
            : undefined
    if (refusal) return void socket.end(`HTTP/1.1 ${refusal}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`)
    websockets.handleUpgrade(req, socket, head, (ws) => {
      this.sockets.add(ws)
      ws.on('close', () => this.sockets.delete(ws))
      ws.on('message', (data) => {
        const message = JSON.parse(data.toString()) as { type?: string; generate?: boolean }
        this.websocketMessages.push(message)
        // A prewarm (`generate: false`) is answered with an empty response.
        const events = message.generate === false ? [EVENTS[0], EVENTS[2]] : EVENTS
        for (const event of events) ws.send(JSON.stringify(event))
      })
    })
  }

  async start(): Promise<this> {
    await this.server.start()
    return this
  }

  stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate()
    return this.server.stop()
  }

  /** The websocket upgrades this server was asked for. */
  upgrades() {
    return this.server.requests.filter((r) => r.method === 'GET' && r.headers.upgrade === 'websocket')
  }

  /** Variables that send the CLI's auth checks here instead of OpenAI. */
  authEnv(): Record<string, string> {
    const origin = this.server.origin
    return {
      CODEX_AUTHAPI_BASE_URL: `${origin}/authapi`,
      CODEX_AGENT_IDENTITY_JWKS_BASE_URL: `${origin}/identity`,
      CODEX_AGENT_IDENTITY_AUTHAPI_BASE_URL: `${origin}/identity-api`
    }
  }

  /** `codex exec` arguments that send one turn to this server and wait for nothing else. */
  execArgs(prompt = 'say hi'): string[] {
    return [
      'exec',
      '--skip-git-repo-check',
      '--ephemeral',
      '-c',
      `openai_base_url="${this.server.origin}/v1"`,
      '-c',
      'features.responses_websockets=false',
      prompt
    ]
  }

  authorizations(): string[] {
    return this.responsesRequests().map((r) => r.headers.authorization ?? '')
  }

  /** The Responses API requests this server answered. */
  responsesRequests() {
    return this.server.requests.filter((r) => /^(\/openai)?\/v1\/responses/.test(r.url))
  }

  /** The base URL of its API, as api-base-url takes it. */
  get apiBaseUrl(): string {
    return `${this.server.origin}${this.options.azure ? '/openai/v1' : '/v1'}`
  }
}
