import { readFileSync } from 'node:fs'
import * as core from '@actions/core'
import { UserError } from './errors.js'

interface Repo {
  full_name?: string
  private?: boolean
}

/** The parts of a webhook payload that say where a run's code came from. */
interface EventPayload {
  repository?: Repo
  pull_request?: { head?: { repo?: Repo | null } }
  workflow_run?: { head_repository?: Repo | null; event?: string }
  issue?: { pull_request?: unknown }
  comment?: { author_association?: string }
}

const TRUSTED_ASSOCIATIONS = new Set(['OWNER', 'MEMBER', 'COLLABORATOR'])

/**
 * Why this run's code is untrusted, or undefined. These triggers run with the base
 * repository's secrets while their code (or their prompt) comes from someone else.
 */
export function untrustedReason(eventName: string, event: EventPayload): string | undefined {
  const base = event.repository?.full_name
  if (eventName === 'pull_request_target') {
    const head = event.pull_request?.head?.repo?.full_name
    if (head !== base) return `pull_request_target from the fork ${head ?? '(deleted)'}`
  }
  if (eventName === 'workflow_run') {
    const head = event.workflow_run?.head_repository?.full_name
    if (head !== base) return `workflow_run for code from the fork ${head ?? '(deleted)'}`
  }
  if (eventName === 'issue_comment' && event.issue?.pull_request) {
    const association = event.comment?.author_association ?? 'NONE'
    if (!TRUSTED_ASSOCIATIONS.has(association)) return `issue_comment on a pull request by a commenter who is not a collaborator (${association})`
  }
  return undefined
}

function readEvent(file: string | undefined): EventPayload {
  if (!file) return {}
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as EventPayload
  } catch {
    return {}
  }
}

/** Refuses untrusted triggers unless allowed, and says when the job's logs are public. */
export function checkTrigger(allowUntrusted: boolean, env: NodeJS.ProcessEnv = process.env): void {
  const eventName = env.GITHUB_EVENT_NAME ?? ''
  const event = readEvent(env.GITHUB_EVENT_PATH)
  const reason = untrustedReason(eventName, event)
  if (reason && !allowUntrusted) {
    throw new UserError(
      `This run is untrusted: ${reason}. Codex would run with your credential on code or text that someone else controls, and could be steered into leaking it. ` +
        'Use a pull_request trigger for outside contributions, or set allow-untrusted: true only if this job never gives Codex the untrusted code or text.'
    )
  }
  if (reason) core.warning(`allow-untrusted: true — this run is untrusted (${reason}). Codex must not be given the untrusted code or text.`)
  if (event.repository?.private === false) {
    core.notice('This repository is public, and so are its Actions logs. The credential is masked, but anything Codex prints can be read by anyone.')
  }
}
