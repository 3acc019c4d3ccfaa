import { UserError } from '../job/errors.js'
import { type ChatgptAuth } from './auth-json.js'

/** GitHub's rule for secret names. */
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/

/** What the workflow gave for persistence (way 2): the secret's name and a token that may write it. */
export interface PersistInputs {
  secret: string
  token: string
  environment?: string
  /** shared-secret: where the post step also writes the access-only copy (same repository or environment). */
  shared?: string
}

/** The ChatGPT sign-in's roles: the refresher (refresh, shared-secret) or a job on a shared copy. */
export interface ChatgptRoles {
  persist?: PersistInputs
  /** refresh: true, refresh the sign-in in the main step through the CLI. */
  refresh: boolean
}

const isSecretName = (name: string) => SECRET_NAME.test(name) && !/^GITHUB_/i.test(name)

/**
 * refresh and shared-secret checked against the sign-in and persistence: a shared copy
 * (access-only) is never refreshed nor written back; a refresher keeps what it refreshes.
 */
export function parseChatgptRoles(
  auth: ChatgptAuth | undefined,
  persist: PersistInputs | undefined,
  refresh: boolean,
  shared: string,
  codexHome: string | undefined
): ChatgptRoles {
  if (!auth) {
    const given = [refresh && 'refresh', shared && 'shared-secret'].filter(Boolean)
    if (given.length)
      throw new UserError(
        `${given.join(' and ')} ${given.length > 1 ? 'are' : 'is'} set but auth-json is empty. They refresh and share a ChatGPT sign-in; set auth-json from the secret that holds it, or remove ${given.join(' and ')}.`
      )
    return { persist, refresh }
  }
  if (auth.accessOnly) {
    const given = [
      persist && 'persist-secret',
      refresh && 'refresh: true',
      shared && 'shared-secret',
      codexHome && 'codex-home'
    ].filter(Boolean)
    if (given.length)
      throw new UserError(
        `auth-json is an access-only copy (the refresher's shared-secret): it has no refresh token, so it is never refreshed, written back or kept, and ${given.join(', ')} cannot be used with it. ` +
          'Remove them from this job; only the refresher job holds the full auth.json (persist-secret) and refreshes it.'
      )
    return { refresh: false }
  }
  if (shared) {
    if (!persist)
      throw new UserError(
        'shared-secret needs persist-secret: the post step writes the access-only copy after the refreshed full auth.json, to the same repository or environment. Set persist-secret and persist-token, or remove shared-secret.'
      )
    if (!isSecretName(shared))
      throw new UserError(
        'shared-secret is not an Actions secret name (letters, digits and _, not starting with a digit or GITHUB_). Give the name of the secret, not its value.'
      )
    if (shared.toUpperCase() === persist.secret.toUpperCase())
      throw new UserError(
        'shared-secret names the same secret as persist-secret. The access-only copy goes to another secret (for example CODEX_AUTH_JSON_SHARED), which the other jobs read.'
      )
  }
  if (refresh && !persist && !codexHome)
    throw new UserError(
      'refresh: true needs persist-secret (or codex-home on a persistent runner): the refresh uses up the refresh token, so the refreshed auth.json must be kept. Set persist-secret and persist-token.'
    )
  return { persist: persist && { ...persist, shared: shared || undefined }, refresh }
}

/** persist-secret, persist-token and persist-environment, checked together; undefined when persistence is off. */
export function parsePersistInputs(
  secret: string,
  token: string,
  environment: string,
  authJson: boolean
): PersistInputs | undefined {
  const given = [secret && 'persist-secret', token && 'persist-token', environment && 'persist-environment'].filter(
    Boolean
  )
  if (!secret) {
    if (given.length)
      throw new UserError(
        `${given.join(' and ')} ${given.length > 1 ? 'are' : 'is'} set but persist-secret is empty. Set persist-secret to the name of the Actions secret that holds auth-json, or remove ${given.join(' and ')}.`
      )
    return undefined
  }
  if (!authJson)
    throw new UserError(
      'persist-secret is set but auth-json is empty. persist-secret keeps a refreshed ChatGPT sign-in; set auth-json from that secret, or remove persist-secret.'
    )
  if (!isSecretName(secret)) {
    throw new UserError(
      'persist-secret is not an Actions secret name (letters, digits and _, not starting with a digit or GITHUB_). Give the name of the secret, not its value.'
    )
  }
  if (!token) {
    throw new UserError(
      'persist-secret needs persist-token: a fine-grained personal access token or a GitHub App token that may write Actions secrets of this repository. ' +
        "The job's GITHUB_TOKEN cannot write secrets."
    )
  }
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(token))
    throw new UserError(
      'persist-token contains white space or a control character. Store only the token in the secret.'
    )
  // eslint-disable-next-line no-control-regex
  if (/[/\u0000-\u001f\u007f]/.test(environment))
    throw new UserError(
      'persist-environment is not an environment name. Give the name of the environment that holds persist-secret, or leave it empty for a repository secret.'
    )
  return { secret, token, environment: environment || undefined }
}
