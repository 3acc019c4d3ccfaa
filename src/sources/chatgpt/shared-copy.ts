/**
 * Jobs on an access-only copy (the refresher's shared-secret): any number may run at once,
 * because none can refresh, so none can use up the refresh token the others depend on.
 * They live as long as the access token the refresher last wrote.
 */
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { age, type AccessOnlyMark, type ChatgptAuth } from '../../inputs/auth-json.js'
import { UserError } from '../../job/errors.js'
import { lstatOrUndefined } from '../../job/files.js'
import { inline } from '../../secrets/inert-output.js'

/** A copy this close to its access token's expiry may not last the job. */
const EXPIRY_WARNING_MS = 24 * 3_600_000

/** What a rollout records when the ChatGPT backend refused the access token and no refresh could help. */
const REFUSED = /could not be refreshed|routing discovery unauthorized/

/** 'the refresher workflow "Refresh Codex sign-in" (full auth.json in CODEX_AUTH_JSON)' */
export function describeRefresher(mark: AccessOnlyMark): string {
  const workflow = mark.workflow ? `the refresher workflow "${inline(mark.workflow)}"` : 'the refresher workflow'
  return mark.fullSecret ? `${workflow} (full auth.json in ${inline(mark.fullSecret)})` : workflow
}

/** Refuses an expired copy before anything is written; warns when it expires within a day. */
export function checkSharedCopy(auth: ChatgptAuth, now = new Date()): void {
  const mark = auth.accessOnly!
  const expires = auth.accessExpiresAt
  if (!expires) {
    core.warning(
      `auth-json is an access-only copy whose access token has no readable expiry: the job fails if it has expired. Run ${describeRefresher(mark)} if it does.`
    )
    return
  }
  if (expires <= now)
    throw new UserError(
      `auth-json is an access-only copy whose access token expired at ${expires.toISOString()} (${age(expires, now)} ago), and it cannot be refreshed. ` +
        `Run ${describeRefresher(mark)}, which writes a fresh copy, and schedule it more often than the access token lasts.`
    )
  if (expires.getTime() - now.getTime() < EXPIRY_WARNING_MS)
    core.warning(
      `auth-json is an access-only copy whose access token expires at ${expires.toISOString()} (in ${age(expires, now)}); it cannot be refreshed, so a job still running then fails. ` +
        `Run ${describeRefresher(mark)} now, and schedule it more often.`
    )
}

/**
 * The post step's look at a job on a shared copy: a rollout that records the backend's
 * refusal (a 401 the CLI could not recover from without a refresh token), or an access
 * token that expired during the job.
 */
export async function sharedCopyRefusals(
  home: string,
  since: number,
  mark: AccessOnlyMark,
  current: ChatgptAuth,
  now: Date
): Promise<string[]> {
  const problems: string[] = []
  for (const file of await rollouts(path.join(home, 'sessions'), since)) {
    const text = await fs.readFile(file, 'utf8').catch(() => '')
    if (REFUSED.test(text)) {
      problems.push(
        `The ChatGPT backend refused the access-only copy's access token (HTTP 401), and a copy without a refresh token cannot be refreshed: the Codex command failed. ` +
          `The token was revoked or replaced (a new sign-in, a sign-out everywhere) or has expired: run ${describeRefresher(mark)}, and re-seed its secret if its refresh fails.`
      )
      break
    }
  }
  if (current.accessExpiresAt && current.accessExpiresAt <= now)
    problems.push(
      `The access-only copy's access token expired during the job (at ${current.accessExpiresAt.toISOString()}). Run ${describeRefresher(mark)} more often than the access token lasts.`
    )
  return problems
}

/** The CLI's session rollouts (sessions/YYYY/MM/DD/*.jsonl) written since the main step, up to 32 MiB each. */
async function rollouts(dir: string, since: number): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true }).catch(() => [] as string[])
  const found: string[] = []
  for (const entry of entries.filter((name) => name.endsWith('.jsonl'))) {
    const file = path.join(dir, entry)
    const stat = await lstatOrUndefined(file)
    if (stat?.isFile() && stat.size <= 32 << 20 && stat.mtimeMs >= since - 1000) found.push(file)
  }
  return found
}
