/**
 * GitHub's Actions secrets API on loopback (GITHUB_API_URL): a libsodium key pair per
 * repository or environment, secrets whose metadata it serves, and PUTs it opens with the
 * private key (crypto_box_seal_open), so that a test compares what the action sent byte
 * for byte. Faults are queued per method and path.
 */
import sodium from 'libsodium-wrappers'
import { LoopbackServer, sendJson, type TlsIdentity } from './servers.js'

export const OWNER = 'acme'
export const REPO = 'app'

interface Keys {
  id: string
  publicKey: Uint8Array
  privateKey: Uint8Array
}

/** One stored secret: its decrypted value and when it was last written. */
export interface StoredSecret {
  value?: string
  updatedAt: string
}

export class FakeGitHub {
  readonly server: LoopbackServer
  /** Secrets by scope ('repo' or the environment's name), then name. */
  readonly secrets = new Map<string, Map<string, StoredSecret>>([['repo', new Map()]])
  /** Answers to send instead, in order, keyed `METHOD path-suffix` (e.g. `PUT secrets/NAME`). */
  readonly faults = new Map<string, number[]>()
  private readonly keys = new Map<string, Keys>()

  /** `tls` serves it over HTTPS with that certificate. */
  constructor(
    readonly token: string,
    tls?: TlsIdentity
  ) {
    this.server = new LoopbackServer((req, res, body) => {
      const url = decodeURIComponent(req.url ?? '')
      const match = new RegExp(`^/repos/${OWNER}/${REPO}/(?:actions|environments/([^/]+))/secrets/([^/]+)$`).exec(url)
      // GitHub takes `Bearer` (what its docs show) and the older `token`.
      if (req.headers.authorization !== `Bearer ${this.token}` && req.headers.authorization !== `token ${this.token}`)
        return sendJson(res, 401, { message: 'Bad credentials' })
      if (!match) return sendJson(res, 404, { message: 'Not Found' })
      const [, environment, name] = match
      const fault = this.faults.get(`${req.method} ${name === 'public-key' ? 'public-key' : 'secret'}`)?.shift()
      if (fault) {
        res.setHeader('x-accepted-github-permissions', 'secrets=write')
        return sendJson(res, fault, { message: `fault ${fault}` })
      }
      const scope = this.secrets.get(environment ?? 'repo')
      if (!scope) return sendJson(res, 404, { message: 'Not Found' })
      const keys = this.keysFor(environment ?? 'repo')
      if (name === 'public-key')
        return sendJson(res, 200, {
          key_id: keys.id,
          key: sodium.to_base64(keys.publicKey, sodium.base64_variants.ORIGINAL)
        })
      const secret = scope.get(name)
      if (req.method === 'GET')
        return secret
          ? sendJson(res, 200, { name, created_at: '2026-01-01T00:00:00Z', updated_at: secret.updatedAt })
          : sendJson(res, 404, { message: 'Not Found' })
      if (req.method !== 'PUT') return sendJson(res, 405, { message: 'Method not allowed' })
      const { encrypted_value: encrypted, key_id: keyId } = JSON.parse(body) as {
        encrypted_value: string
        key_id: string
      }
      if (keyId !== keys.id) return sendJson(res, 422, { message: 'Bad key_id' })
      const opened = sodium.crypto_box_seal_open(
        sodium.from_base64(encrypted, sodium.base64_variants.ORIGINAL),
        keys.publicKey,
        keys.privateKey
      )
      scope.set(name, { value: sodium.to_string(opened), updatedAt: new Date().toISOString() })
      res.writeHead(secret ? 204 : 201)
      res.end()
    }, tls)
  }

  private keysFor(scope: string): Keys {
    let keys = this.keys.get(scope)
    if (!keys) {
      const pair = sodium.crypto_box_keypair()
      keys = { id: `key-${scope}-${this.keys.size}`, publicKey: pair.publicKey, privateKey: pair.privateKey }
      this.keys.set(scope, keys)
    }
    return keys
  }

  async start(): Promise<this> {
    await sodium.ready
    await this.server.start()
    return this
  }

  stop(): Promise<void> {
    return this.server.stop()
  }

  /** A secret that exists (its value is never read back by the action), optionally in an environment. */
  addSecret(name: string, environment?: string, updatedAt = '2026-01-01T00:00:00Z'): void {
    const scope = environment ?? 'repo'
    if (!this.secrets.has(scope)) this.secrets.set(scope, new Map())
    this.secrets.get(scope)!.set(name, { updatedAt })
  }

  secret(name: string, environment?: string): StoredSecret | undefined {
    return this.secrets.get(environment ?? 'repo')?.get(name)
  }

  puts(): number {
    return this.server.requests.filter((r) => r.method === 'PUT').length
  }

  /** What a job's runner sets for the action to find this API and repository. */
  env(): Record<string, string> {
    return { GITHUB_API_URL: this.server.origin, GITHUB_REPOSITORY: `${OWNER}/${REPO}` }
  }
}
