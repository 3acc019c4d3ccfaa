/** The runner's OIDC token endpoint on loopback, issuing test-signed JWTs with a short life. */
import { generateKeyPairSync } from 'node:crypto'
import { signRs256 } from './jwt.js'
import { LoopbackServer, sendJson } from './servers.js'

export class FakeOidc {
  readonly server: LoopbackServer
  readonly requestToken = `oidc-request-token-${Math.random().toString(36).slice(2)}`
  readonly issued: string[] = []
  /** Requests to answer with a 503 before issuing again (a refresh that fails). */
  failNext = 0
  private readonly key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey

  /** @param lifetimeSeconds of each token issued from now on (a test may change it). */
  constructor(public lifetimeSeconds: number) {
    this.server = new LoopbackServer((req, res) => {
      const url = new URL(req.url ?? '', 'http://localhost')
      if (url.pathname !== '/oidc/token' || req.headers.authorization !== `Bearer ${this.requestToken}`)
        return sendJson(res, 401, { message: 'bad request token' })
      if (this.failNext > 0) {
        this.failNext--
        return sendJson(res, 503, { message: 'try again' })
      }
      sendJson(res, 200, { value: this.sign(url.searchParams.get('audience') ?? '') })
    })
  }

  private sign(audience: string): string {
    const now = Math.floor(Date.now() / 1000)
    const claims = {
      iss: 'https://token.actions.githubusercontent.com',
      aud: audience,
      sub: 'repo:acme/app:ref:refs/heads/main',
      iat: now,
      exp: now + this.lifetimeSeconds,
      jti: `token-${this.issued.length + 1}`
    }
    const token = signRs256(claims, this.key, 'test')
    this.issued.push(token)
    return token
  }

  async start(): Promise<this> {
    await this.server.start()
    return this
  }

  stop(): Promise<void> {
    return this.server.stop()
  }

  /** The variables the runner sets for a job with `permissions: id-token: write`. */
  env(): Record<string, string> {
    return {
      ACTIONS_ID_TOKEN_REQUEST_URL: `${this.server.origin}/oidc/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: this.requestToken
    }
  }
}
