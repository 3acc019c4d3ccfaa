import { type PersistInputs } from '../../inputs/persist.js'
import { UserError } from '../../job/errors.js'
import { describeFailure, HttpStatusError } from '../../net/failures.js'
import { checkPlainHttp, type HttpClient } from '../../net/http.js'

/** Where a refreshed auth.json is written back: an Actions secret of this repository or of one of its environments. */
export interface SecretLocation {
  /** GITHUB_API_URL: github.com's API, or a GitHub Enterprise Server's. */
  apiUrl: string
  owner: string
  repo: string
  environment?: string
  secret: string
}

/** The repository secret or environment secret named by the inputs, in the repository the job runs for. */
export function secretLocation(persist: PersistInputs, env: NodeJS.ProcessEnv = process.env): SecretLocation {
  const [owner, repo, ...rest] = (env.GITHUB_REPOSITORY ?? '').split('/')
  // Owner and repository names are printed in log lines: GitHub's own characters only.
  if (!owner || !repo || rest.length || !/^[A-Za-z0-9_.-]+$/.test(owner + repo))
    throw new UserError(
      'persist-secret needs GITHUB_REPOSITORY (owner/name), which the runner sets. Run the action in a GitHub Actions job.'
    )
  const apiUrl = (env.GITHUB_API_URL || 'https://api.github.com').replace(/\/+$/, '')
  if (!URL.canParse(apiUrl))
    throw new UserError(
      `GITHUB_API_URL "${apiUrl}" is not a URL. Run the action on a GitHub Actions runner, which sets it.`
    )
  checkPlainHttp('GITHUB_API_URL', apiUrl, {
    secret: 'persist-token',
    sent: true,
    answers: 'its answers can be forged on the way'
  })
  return { apiUrl, owner, repo, environment: persist.environment, secret: persist.secret }
}

/** "repository secret CODEX_AUTH_JSON of acme/app" or "secret CODEX_AUTH_JSON of environment ci in acme/app". */
export function describeLocation(where: SecretLocation): string {
  const repo = `${where.owner}/${where.repo}`
  return where.environment
    ? `secret ${where.secret} of environment ${where.environment} in ${repo}`
    : `repository secret ${where.secret} of ${repo}`
}

/** The `gh` command that stores a fresh auth.json in the secret, for the messages that say how to re-seed. */
export function reseedCommand(where: SecretLocation): string {
  return `gh secret set ${where.secret} --repo ${where.owner}/${where.repo}${where.environment ? ` --env ${where.environment}` : ''} < ~/.codex/auth.json`
}

/**
 * Encrypts a value for GitHub's secrets API: a libsodium sealed box for the repository's
 * (or environment's) public key, base64-encoded, as GitHub's own documentation does it.
 */
export async function sealForGitHub(value: string, base64Key: string): Promise<string> {
  // Loaded here, when a secret is written back: no other run pays for the sealed-box library.
  const { default: sodium } = await import('libsodium-wrappers')
  await sodium.ready
  const key = sodium.from_base64(base64Key, sodium.base64_variants.ORIGINAL)
  return sodium.to_base64(sodium.crypto_box_seal(sodium.from_string(value), key), sodium.base64_variants.ORIGINAL)
}

/**
 * The three calls of GitHub's Actions secrets API the action needs, through its own
 * HttpClient (the same proxy and CA settings as every other request), retried on
 * 408/429/5xx and resets like every other request.
 */
export class SecretStore {
  constructor(
    private readonly http: HttpClient,
    private readonly token: string,
    readonly where: SecretLocation
  ) {}

  private get path(): string {
    const { owner, repo, environment } = this.where
    const base = `/repos/${encodeURIComponent(owner)}/${encodeURIComponent(repo)}`
    return environment ? `${base}/environments/${encodeURIComponent(environment)}/secrets` : `${base}/actions/secrets`
  }

  private async call<T>(method: 'GET' | 'PUT', suffix: string, body?: object): Promise<T> {
    const url = `${this.where.apiUrl}${this.path}/${suffix}`
    const headers = {
      authorization: `Bearer ${this.token}`,
      accept: 'application/vnd.github+json',
      'x-github-api-version': '2022-11-28',
      ...(body ? { 'content-type': 'application/json' } : {})
    }
    return this.http.withRetries(`${method} ${url}`, async () => {
      const response = await this.http.open(url, headers, { method, body: body && JSON.stringify(body) })
      const text = await response.body.text()
      return (text ? JSON.parse(text) : {}) as T
    })
  }

  /** When the secret was last written (its value cannot be read). Also proves the token may read it. */
  async updatedAt(): Promise<string> {
    // The public key first: its 404 means no such environment (or repository), the secret's no such secret.
    await this.publicKey('read')
    try {
      const secret = await this.call<{ updated_at?: string }>('GET', encodeURIComponent(this.where.secret))
      return secret.updated_at ?? ''
    } catch (error) {
      throw this.explain(error, 'read', 'secret')
    }
  }

  private async publicKey(action: 'read' | 'write'): Promise<{ key_id: string; key: string }> {
    try {
      return await this.call<{ key_id: string; key: string }>('GET', 'public-key')
    } catch (error) {
      throw this.explain(error, action, 'public key')
    }
  }

  /**
   * Encrypts `value` with the current public key and writes it to the secret, then reads
   * back that GitHub recorded the write (its updated_at moved on from `before`); returns
   * the new updated_at. A 2xx alone is not taken as the proof.
   */
  async write(value: string, before: string): Promise<string> {
    const key = await this.publicKey('write')
    const encrypted = await sealForGitHub(value, key.key)
    try {
      await this.call('PUT', encodeURIComponent(this.where.secret), { encrypted_value: encrypted, key_id: key.key_id })
    } catch (error) {
      throw this.explain(error, 'write', 'secret')
    }
    const after = await this.updatedAt()
    if (!after || after === before)
      throw new UserError(
        `GitHub answered the write to the ${describeLocation(this.where)}, but the secret's updated_at did not change (${after || 'none'}), so the write is not confirmed.`
      )
    return after
  }

  /** One message a status deserves: what is wrong with persist-token or the names, and what to do. */
  private explain(error: unknown, action: 'read' | 'write', what: 'secret' | 'public key'): UserError {
    const target = describeLocation(this.where)
    if (!(error instanceof HttpStatusError))
      return new UserError(
        `Could not ${action} the ${target}: ${describeFailure(error)}. Check the runner's network and proxy settings for ${this.where.apiUrl}.`
      )
    const permissions = error.headers['x-accepted-github-permissions']
    const needs = permissions ? ` (GitHub says the request needs ${permissions})` : ''
    if (error.status === 401)
      return new UserError(
        `persist-token was refused by ${this.where.apiUrl} (HTTP 401): it is invalid, expired or revoked. Store a current token in the persist-token secret.`
      )
    if (error.status === 403) {
      return new UserError(
        `persist-token may not ${action} the ${target} (HTTP 403)${needs}. The job's GITHUB_TOKEN cannot ${action} secrets: give a fine-grained personal access token for this repository with ` +
          `"${this.where.environment ? 'Environments' : 'Secrets'}: Read and write", or a GitHub App installation token with that permission.`
      )
    }
    if (error.status === 404) {
      return what === 'public key'
        ? new UserError(
            this.where.environment
              ? `persist-environment ${this.where.environment} does not exist in ${this.where.owner}/${this.where.repo}, or persist-token cannot see it (HTTP 404). Check the environment's name, and that the token is granted this repository.`
              : `persist-token cannot see ${this.where.owner}/${this.where.repo} (HTTP 404). Grant the token this repository.`
          )
        : new UserError(
            `persist-secret: there is no ${target} (HTTP 404). Create it with the auth.json to seed from (${reseedCommand(this.where)}), and check persist-environment.`
          )
    }
    return new UserError(
      `Could not ${action} the ${target}: ${describeFailure(error)}. GitHub's API may be having trouble; try again.`
    )
  }
}
