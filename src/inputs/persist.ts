import { UserError } from '../job/errors.js'

/** GitHub's rule for secret names. */
const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,254}$/

/** What the workflow gave for persistence (way 2): the secret's name and a token that may write it. */
export interface PersistInputs {
  secret: string
  token: string
  environment?: string
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
  if (!SECRET_NAME.test(secret) || /^GITHUB_/i.test(secret)) {
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
