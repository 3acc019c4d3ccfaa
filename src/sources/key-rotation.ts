import * as core from '@actions/core'
import type { LoginFailure } from '../codex/cli.js'
import { reportLoginFailure, tryLogin, type LoginContext } from '../codex/login.js'
import type { Credential, Credentials } from '../inputs/inputs.js'
import { UserError } from '../job/errors.js'
import type { HttpClient } from '../net/http.js'
import { verifyApiKey } from '../net/verify-key.js'
import { jwtExpiry } from '../secrets/jwt.js'
import { fingerprint } from '../secrets/mask.js'

/** The credential a run logged in with. */
export interface LoggedIn {
  credential: Credential
  fingerprint: string
  expiresAt?: Date
  verified: boolean
}

export interface LoginOptions {
  verify: boolean
  apiBaseUrl: string
  expiryWarningDays: number
  now?: Date
}

const DAY_MS = 86_400_000

/** A credential not used, by fingerprint, with why. */
export interface Refused {
  id: string
  why: string
}

/** The credentials not used, for a message: `sha256:… (why); …`. */
export function listRefused(refused: readonly Refused[]): string {
  return refused.map((r) => `${r.id} (${r.why})`).join('; ')
}

/** The warning for a rotation left half done: which credential is in use, which are not, and what to remove. */
export function rotationWarning(mode: string, id: string, refused: readonly Refused[]): string {
  return `${mode} ${id} is in use; the secret also holds ${listRefused(refused)}. Finish the rotation: remove ${refused.map((r) => r.id).join(', ')} from the secret.`
}

/** Tries a candidate after its live check (a login): undefined when it worked. */
export type TryCandidate = (secret: string) => Promise<LoginFailure | undefined>

/**
 * The one choice among a rotation list (one credential, or several newest first), for
 * every source. Expired JWTs are skipped first. Without `verify` the first is the one;
 * with it each api-key is checked live in order (a rate-limited key is still valid, with
 * a warning). `attempt`, when given, must also accept it (a login). Those refused are
 * named by fingerprint in a warning that says to finish the rotation.
 */
export async function chooseCredential(
  credentials: Credentials,
  options: LoginOptions,
  http: HttpClient,
  attempt?: { run: TryCandidate; report(failures: LoginFailure[]): Promise<void> }
): Promise<LoggedIn> {
  const { mode } = credentials
  const now = options.now ?? new Date()
  const refused: Refused[] = []
  const listed = () => listRefused(refused)
  const usable = credentials.candidates.filter((secret) => {
    const expiresAt = jwtExpiry(secret)
    if (!expiresAt || expiresAt > now) return true
    refused.push({ id: fingerprint(secret), why: `expired ${expiresAt.toISOString()}` })
    return false
  })
  if (usable.length === 0) {
    throw new UserError(`The ${mode} expired: ${listed()}. Mint a new token and put it in the secret.`)
  }

  let chosen: string | undefined
  const failures: LoginFailure[] = []
  for (const secret of options.verify ? usable : usable.slice(0, 1)) {
    const id = fingerprint(secret)
    if (mode === 'api-key' && options.verify) {
      const outcome = await verifyApiKey(http, options.apiBaseUrl, secret)
      core.info(`api-key ${id}: ${outcome.kind === 'accepted' ? `accepted by ${options.apiBaseUrl}` : outcome.detail}`)
      if (outcome.kind === 'rejected' || outcome.kind === 'out-of-quota') {
        refused.push({ id, why: outcome.detail })
        failures.push({
          command: `verify: GET ${options.apiBaseUrl}/models with api-key ${id}`,
          output: outcome.detail,
          reason: outcome.detail
        })
        continue
      }
      if (outcome.kind === 'rate-limited')
        core.warning(`api-key ${id} is rate-limited right now (${outcome.detail}); Codex may have to wait.`)
    }
    const failure = await attempt?.run(secret)
    if (!failure) {
      chosen = secret
      break
    }
    failures.push(failure)
    refused.push({ id, why: failure.reason })
  }

  if (!chosen) {
    if (!attempt)
      throw new UserError(
        `No api-key was accepted by ${options.apiBaseUrl}: ${listed()}. Put a current key first in the api-key secret.`
      )
    if (failures.length) await attempt.report(failures)
    const last = failures.at(-1)
    if (!options.verify && last?.exitCode !== undefined) {
      throw new UserError(
        last.command.startsWith('codex login status')
          ? `Codex stored the ${mode} but \`codex login status\` does not confirm the login: ${last.reason}. Check that ${mode} holds a current credential and that this runner can reach OpenAI.`
          : `codex login rejected the ${mode}: ${last.reason}. Check that the ${mode} secret holds a current, unrevoked credential; see the "Codex login diagnostics" group above.`
      )
    }
    throw new UserError(`No ${mode} was accepted: ${listed()}. Put a current credential first in the ${mode} secret.`)
  }

  const id = fingerprint(chosen)
  if (refused.length) {
    core.warning(rotationWarning(mode, id, refused))
  }
  const expiresAt = jwtExpiry(chosen)
  if (expiresAt) {
    const days = (expiresAt.getTime() - now.getTime()) / DAY_MS
    core.info(`${mode} ${id} expires at ${expiresAt.toISOString()}`)
    if (days <= options.expiryWarningDays) {
      core.warning(
        `${mode} ${id} expires in ${days < 1 ? `${Math.round(days * 24)} hours` : `${Math.floor(days)} days`} (${expiresAt.toISOString()}). Mint a new token and put it first in the secret.`
      )
    }
  }
  return { credential: { mode, secret: chosen }, fingerprint: id, expiresAt, verified: options.verify }
}

/** Logs in with the first usable credential of the list (see chooseCredential). */
export async function logIn(
  ctx: LoginContext,
  credentials: Credentials,
  options: LoginOptions,
  http: HttpClient
): Promise<LoggedIn> {
  const { mode } = credentials
  const loggedIn = await chooseCredential(credentials, options, http, {
    run: (secret) => tryLogin(ctx, { mode, secret }),
    report: (failures) => reportLoginFailure(ctx, mode, failures)
  })
  core.info(
    `Logged in with ${mode} ${loggedIn.fingerprint}${options.verify ? ', verified' : ''}; codex login status confirms it.`
  )
  return loggedIn
}
