import { UserError } from '../job/errors.js'
import { describeFailure, HttpStatusError } from './failures.js'
import { type HttpClient } from './http.js'

/** What it takes to ask the runner for an OIDC token. The request token is a secret. */
export interface OidcRequest {
  url: string
  token: string
  audience: string
}

const PERMISSION_HINT =
  'Add to the workflow or the job:\npermissions:\n  id-token: write\n  contents: read\n' +
  '(A pull request from a fork never gets an OIDC token.)'

/** The runner's OIDC endpoint, present only when the job has `permissions: id-token: write`. */
export function oidcRequestFromEnv(audience: string, env: NodeJS.ProcessEnv = process.env): OidcRequest {
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL
  const token = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN
  if (!url || !token) {
    throw new UserError(
      `federation-rule-id needs a GitHub OIDC token, but this job may not request one (ACTIONS_ID_TOKEN_REQUEST_URL is not set). ${PERMISSION_HINT}`
    )
  }
  return { url, token, audience }
}

/** One OIDC token for the audience, as core.getIDToken asks for it: `<url>&audience=…`, answered `{"value": …}`. */
export async function requestIdToken(http: HttpClient, request: OidcRequest): Promise<string> {
  let answer: { value?: unknown } | null
  try {
    answer = await http.getJson<{ value?: unknown } | null>(idTokenUrl(request), {
      authorization: `Bearer ${request.token}`
    })
  } catch (error) {
    // The registry's wording in describeFailure does not fit the runner's endpoint.
    const reason = error instanceof HttpStatusError ? error.message : describeFailure(error)
    throw new UserError(
      `Requesting a GitHub OIDC token for oidc-audience ${request.audience} failed: ${reason}. Check that the job has permissions: id-token: write, and the runner's network and proxy settings.`
    )
  }
  const token = idTokenFrom(answer)
  if (!token) {
    throw new UserError(
      `The runner's OIDC endpoint answered without a token for oidc-audience ${request.audience}. Check that the job has permissions: id-token: write and that no proxy answers for the runner's endpoint (NO_PROXY), then re-run the job.`
    )
  }
  return token
}

/** The runner's endpoint asked for one audience: `<url>&audience=…`. */
export function idTokenUrl(request: OidcRequest): string {
  const url = new URL(request.url)
  url.searchParams.set('audience', request.audience)
  return url.href
}

/** The token in the endpoint's answer (`{"value": …}`), if it holds one shaped like a JWT. */
export function idTokenFrom(answer: unknown): string | undefined {
  const value = (answer as { value?: unknown } | null)?.value
  return typeof value === 'string' && value.split('.').length === 3 ? value : undefined
}
