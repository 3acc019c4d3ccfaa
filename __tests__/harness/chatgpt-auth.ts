/**
 * ChatGPT-mode auth.json files shaped like the ones `codex login` writes, with unsigned
 * test JWTs, and a loopback ChatGPT backend whose OAuth token endpoint refreshes them
 * (CODEX_REFRESH_TOKEN_URL_OVERRIDE).
 */
import { randomBytes } from 'node:crypto'
import { LoopbackServer, sendJson } from './servers.js'

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

/** An unsigned JWT (the CLI reads its claims without verifying them). */
export function unsignedJwt(claims: object): string {
  return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.${randomBytes(24).toString('base64url')}`
}

export interface AuthOptions {
  accountId?: string
  plan?: string
  /** Seconds from now until the access and id tokens expire (negative: expired). */
  expiresIn?: number
  lastRefresh?: Date
  email?: string
}

export interface ChatgptFile {
  text: string
  tokens: { id_token: string; access_token: string; refresh_token: string; account_id: string }
  /** Every token: canaries for the leak audit. */
  secrets: string[]
}

/** The three tokens of one sign-in, each unique. */
export function chatgptTokens(options: AuthOptions = {}): ChatgptFile['tokens'] {
  const accountId = options.accountId ?? 'acct-test-0001'
  const exp = Math.floor(Date.now() / 1000) + (options.expiresIn ?? 3600)
  const claims = {
    'https://api.openai.com/auth': {
      chatgpt_account_id: accountId,
      chatgpt_plan_type: options.plan ?? 'plus',
      chatgpt_user_id: 'user-test'
    }
  }
  return {
    id_token: unsignedJwt({
      email: options.email ?? 'ci-user@example.com',
      exp,
      iat: exp - 3600,
      jti: randomBytes(8).toString('hex'),
      ...claims
    }),
    access_token: unsignedJwt({ exp, iat: exp - 3600, jti: randomBytes(8).toString('hex'), ...claims }),
    refresh_token: `rt_${randomBytes(24).toString('base64url')}`,
    account_id: accountId
  }
}

/** An auth.json as `codex login` writes it; compact by default (pretty: as the CLI indents it). */
export function chatgptAuth(options: AuthOptions & { pretty?: boolean } = {}): ChatgptFile {
  const tokens = chatgptTokens(options)
  const file = {
    auth_mode: 'chatgpt',
    OPENAI_API_KEY: null,
    tokens,
    last_refresh: (options.lastRefresh ?? new Date(Date.now() - 2 * 86_400_000)).toISOString()
  }
  return {
    text: JSON.stringify(file, null, options.pretty ? 2 : undefined),
    tokens,
    secrets: [tokens.id_token, tokens.access_token, tokens.refresh_token]
  }
}

/** The OAuth token endpoint, and a backend (chatgpt_base_url) that answers everything else 404. */
export class FakeChatgpt {
  readonly server: LoopbackServer
  /** The tokens each successful refresh handed out (canaries). */
  readonly issued: ChatgptFile['tokens'][] = []
  /** Refresh tokens the endpoint accepts; a used one is refused with refresh_token_reused. */
  readonly valid = new Set<string>()

  constructor() {
    this.server = new LoopbackServer((req, res, body) => {
      const url = req.url ?? ''
      if (req.method === 'POST' && url === '/oauth/token') {
        const { refresh_token: token } = JSON.parse(body) as { refresh_token?: string }
        if (!token || !this.valid.delete(token)) {
          return sendJson(res, 401, {
            error: {
              message: 'Your refresh token has already been used to generate a new access token.',
              type: 'invalid_request_error',
              code: 'refresh_token_reused'
            }
          })
        }
        const fresh = chatgptTokens()
        this.issued.push(fresh)
        this.valid.add(fresh.refresh_token)
        return sendJson(res, 200, {
          id_token: fresh.id_token,
          access_token: fresh.access_token,
          refresh_token: fresh.refresh_token
        })
      }
      sendJson(res, 404, { error: `no route for ${req.method} ${url}` })
    })
  }

  async start(): Promise<this> {
    await this.server.start()
    return this
  }

  stop(): Promise<void> {
    return this.server.stop()
  }

  tokenRequests(): { refresh_token?: string; grant_type?: string; refresh_reason?: string }[] {
    return this.server.requests.filter((r) => r.url === '/oauth/token').map((r) => JSON.parse(r.body))
  }

  /** The variable that sends the CLI's refresh here. */
  env(): Record<string, string> {
    return { CODEX_REFRESH_TOKEN_URL_OVERRIDE: `${this.server.origin}/oauth/token` }
  }

  /** `codex exec` against this backend, over HTTP (no websocket). */
  execArgs(prompt = 'say hi'): string[] {
    return [
      'exec',
      '--skip-git-repo-check',
      '-c',
      `chatgpt_base_url="${this.server.origin}/backend-api/"`,
      '-c',
      'features.responses_websockets=false',
      prompt
    ]
  }
}
