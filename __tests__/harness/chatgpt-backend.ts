/**
 * A ChatGPT backend on loopback that lets the real CLI complete a turn with a ChatGPT
 * sign-in. Codex 0.171.0 insists on an HTTPS backend for a ChatGPT sign-in ("workspace
 * backend must use an HTTPS origin"), so this one is HTTPS, signed by a test CA that the
 * action gets as ca-certificate. Before a turn the CLI asks `/backend-api/wham/accounts/check`
 * (workspace routing: an entry for the account, `NO_CONSTRAINT`), `/wham/settings/user`,
 * plugin and MCP endpoints (404 is fine), then tries a websocket on
 * `/backend-api/codex/responses` (426 sends it to HTTP at once) and POSTs the turn there,
 * reading the same SSE events as the Responses API. The OAuth token endpoint is here too
 * (CODEX_REFRESH_TOKEN_URL_OVERRIDE).
 */
import { chatgptTokens, type ChatgptFile } from './chatgpt-auth.js'
import { LoopbackServer, sendJson } from './servers.js'
import { makeTestCa } from './test-ca.js'

export const TURN_TEXT = 'hello from the fake ChatGPT backend'

export class ChatgptBackend {
  readonly server: LoopbackServer
  readonly ca: string
  /** The tokens each successful refresh handed out (canaries). */
  readonly issued: ChatgptFile['tokens'][] = []
  /** Refresh tokens the endpoint accepts, once each. */
  readonly valid = new Set<string>()
  /** Answer every backend request 401, as for a revoked access token. */
  unauthorized = false
  /** Seconds a refreshed access token lasts. */
  lifetime = 3 * 86_400

  constructor(readonly accountId = 'acct-test-0001') {
    const { ca, server } = makeTestCa('Test ChatGPT backend CA')
    this.ca = ca
    this.server = new LoopbackServer((req, res, body) => {
      const url = req.url ?? ''
      if (req.method === 'POST' && url === '/oauth/token') return this.refresh(res, body)
      if (!url.startsWith('/backend-api/')) return sendJson(res, 404, { detail: 'Not Found' })
      if (this.unauthorized)
        return sendJson(res, 401, { error: { message: 'Your access token is invalid.', code: 'token_invalidated' } })
      if (url === '/backend-api/wham/accounts/check')
        return sendJson(res, 200, {
          accounts: [
            {
              id: this.accountId,
              plan_type: 'plus',
              workspace_backend_origin: 'NO_CONSTRAINT',
              account_routing_override: 'NO_CONSTRAINT'
            }
          ]
        })
      if (url === '/backend-api/codex/responses') {
        if (req.method !== 'GET') return this.turn(res)
        res.writeHead(426)
        res.end()
        return
      }
      sendJson(res, 404, { detail: 'Not Found' })
    }, server)
  }

  private refresh(res: import('node:http').ServerResponse, body: string): void {
    const { refresh_token: token } = JSON.parse(body) as { refresh_token?: string }
    // An empty refresh token (an access-only copy's) is a malformed request, as OAuth answers it.
    if (!token) return sendJson(res, 400, { error: 'invalid_request', error_description: 'refresh_token is required' })
    if (!this.valid.delete(token))
      return sendJson(res, 401, {
        error: { message: 'Your refresh token has already been used.', code: 'refresh_token_reused' }
      })
    const fresh = chatgptTokens({ accountId: this.accountId, expiresIn: this.lifetime })
    this.issued.push(fresh)
    this.valid.add(fresh.refresh_token)
    sendJson(res, 200, {
      id_token: fresh.id_token,
      access_token: fresh.access_token,
      refresh_token: fresh.refresh_token
    })
  }

  private turn(res: import('node:http').ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    const event = (data: { type: string } & Record<string, unknown>) =>
      res.write(`event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`)
    event({ type: 'response.created', response: { id: 'resp_1' } })
    event({
      type: 'response.output_item.done',
      item: { type: 'message', role: 'assistant', id: 'msg_1', content: [{ type: 'output_text', text: TURN_TEXT }] }
    })
    event({
      type: 'response.completed',
      response: { id: 'resp_1', usage: { input_tokens: 1, output_tokens: 1, total_tokens: 2 } }
    })
    res.end()
  }

  async start(): Promise<this> {
    await this.server.start()
    return this
  }

  stop(): Promise<void> {
    return this.server.stop()
  }

  tokenRequests(): { refresh_token?: string; refresh_reason?: string }[] {
    return this.server.requests.filter((r) => r.url === '/oauth/token').map((r) => JSON.parse(r.body))
  }

  /** The turns the CLI sent (POSTs of a model request). */
  turns(): number {
    return this.server.requests.filter((r) => r.method === 'POST' && r.url === '/backend-api/codex/responses').length
  }

  /** The variable that sends the CLI's refresh here: for the action's own step and later ones. */
  env(): Record<string, string> {
    return { CODEX_REFRESH_TOKEN_URL_OVERRIDE: `${this.server.origin}/oauth/token` }
  }

  /** The action's inputs that point Codex at this backend and make it trust the test CA. */
  inputs(): Record<string, string> {
    return { 'ca-certificate': this.ca, config: `chatgpt_base_url = "${this.server.origin}/backend-api/"` }
  }
}
