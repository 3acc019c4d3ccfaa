/**
 * A Codex personal access token (`at-…`) checked where `codex login --with-access-token`
 * checks it: AuthAPI's whoami, which also names the ChatGPT account it acts for.
 */
import { UserError } from '../job/errors.js'
import { inline } from '../secrets/inert-output.js'
import { HttpStatusError } from './failures.js'
import type { HttpClient } from './http.js'
import { networkError } from './http.js'

/** Codex's default AuthAPI; CODEX_AUTHAPI_BASE_URL overrides it, for Codex and for this check. */
export const DEFAULT_AUTHAPI_BASE_URL = 'https://auth.openai.com/api/accounts'

/** The account a token acts for, as whoami answers. */
export interface TokenAccount {
  accountId: string
  planType?: string
  fedramp: boolean
}

export function authapiBaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return (env.CODEX_AUTHAPI_BASE_URL || DEFAULT_AUTHAPI_BASE_URL).replace(/\/+$/, '')
}

export async function whoami(http: HttpClient, authapi: string, token: string): Promise<TokenAccount> {
  const url = `${authapi}/v1/user-auth-credential/whoami`
  let answer: Record<string, unknown>
  try {
    answer = await http.getJson<Record<string, unknown>>(url, { authorization: `Bearer ${token}` })
  } catch (error) {
    if (error instanceof HttpStatusError && (error.status === 401 || error.status === 403))
      throw new UserError(
        `The access-token was refused by AuthAPI (HTTP ${error.status} from ${url}${reason(error.body)}): it is revoked, expired or mistyped. Create a new personal access token and update the secret.`
      )
    throw networkError(
      `Checking the access-token at ${url}`,
      error,
      'Check that the runner reaches it (HTTPS_PROXY, ca-certificate), or set CODEX_AUTHAPI_BASE_URL if your organisation uses another AuthAPI.'
    )
  }
  const accountId = answer.chatgpt_account_id
  if (typeof accountId !== 'string' || !accountId)
    throw new UserError(
      `AuthAPI's whoami at ${url} named no ChatGPT account for the access-token, so Codex could not use it either. Check that the token is a Codex personal access token of a ChatGPT account.`
    )
  return {
    accountId,
    planType: typeof answer.chatgpt_plan_type === 'string' ? answer.chatgpt_plan_type : undefined,
    fedramp: answer.chatgpt_account_is_fedramp === true
  }
}

/** The error's message from an API's JSON body, printed inert, if it has one. */
function reason(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: { message?: unknown } | string; detail?: unknown }
    const message =
      typeof parsed.error === 'object' ? parsed.error?.message : (parsed.error ?? parsed.detail ?? undefined)
    return typeof message === 'string' ? `: ${inline(message.slice(0, 200))}` : ''
  } catch {
    return ''
  }
}
