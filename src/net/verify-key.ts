import { UserError } from '../job/errors.js'
import { isAzureEndpoint, keyHeaders } from './endpoint.js'
import { describeFailure, HttpStatusError } from './failures.js'
import { type HttpClient } from './http.js'

/** What the API said of one API key. */
export type KeyOutcome =
  | { kind: 'accepted' }
  | { kind: 'rate-limited'; detail: string }
  | { kind: 'rejected'; detail: string }
  | { kind: 'out-of-quota'; detail: string }

/**
 * Is the key one the API takes? `/models` costs nothing and needs only a valid key. The
 * key goes the way the endpoint expects it (Azure's `api-key` header, else a bearer token).
 */
export async function verifyApiKey(http: HttpClient, apiBaseUrl: string, key: string): Promise<KeyOutcome> {
  const url = `${apiBaseUrl}/models`
  const azure = isAzureEndpoint(apiBaseUrl)
  try {
    await http.withRetries(
      `GET ${url}`,
      async () => {
        const response = await http.open(url, { ...keyHeaders(apiBaseUrl, key), accept: 'application/json' })
        await response.body.dump()
      },
      { retry429: false }
    )
    return { kind: 'accepted' }
  } catch (error) {
    if (!(error instanceof HttpStatusError)) {
      throw new UserError(
        `Could not reach ${apiBaseUrl} to verify api-key: ${describeFailure(error)}. Check the runner's network and proxy settings (HTTPS_PROXY, NO_PROXY) and api-base-url, or set verify: false.`
      )
    }
    if (error.status === 401) {
      return {
        kind: 'rejected',
        detail: azure
          ? "HTTP 401: the key is not one of this Azure OpenAI resource's two keys (regenerated, mistyped, or from another resource)"
          : 'HTTP 401: the key is revoked, mistyped or was never valid'
      }
    }
    if (error.status === 403) {
      return {
        kind: 'rejected',
        detail: azure
          ? 'HTTP 403: the resource refuses this caller (its network rules or firewall do not admit this runner, or key access is disabled)'
          : 'HTTP 403: the key may not be used here (wrong organisation or project, or a restricted key)'
      }
    }
    if (error.status === 429) {
      // Azure has no account credit: its 429 is always a rate or token-per-minute limit.
      return !azure && /insufficient_quota/.test(error.body)
        ? {
            kind: 'out-of-quota',
            detail: 'HTTP 429 insufficient_quota: the account or project is out of quota; add credit or raise its limit'
          }
        : { kind: 'rate-limited', detail: 'HTTP 429: rate-limited, but the key was accepted' }
    }
    throw new UserError(
      `Verifying api-key at ${apiBaseUrl} failed: ${describeFailure(error)}. Check api-base-url, or set verify: false.`
    )
  }
}
