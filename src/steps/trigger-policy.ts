import * as core from '@actions/core'
import type { Inputs } from '../inputs/inputs.js'
import { LOGIN } from '../inputs/inputs.js'
import { UserError } from '../job/errors.js'
import { type EventPayload, readEvent } from '../job/event.js'

/** Why a run is untrusted, and what the workflow can do about it. */
export interface Untrusted {
  reason: string
  remedy: string
}

const TRUSTED_ASSOCIATIONS = new Set(['OWNER', 'MEMBER', 'COLLABORATOR'])

/**
 * Events whose text (a prompt, in effect) a person wrote, and where the payload keeps that
 * text: anyone who can comment on or open an issue, review, or discussion can trigger them,
 * with the repository's secrets.
 */
const AUTHORED_TEXT: Record<string, 'comment' | 'issue' | 'review' | 'discussion'> = {
  issue_comment: 'comment',
  issues: 'issue',
  pull_request_review: 'review',
  pull_request_review_comment: 'comment',
  discussion: 'discussion',
  discussion_comment: 'comment',
  commit_comment: 'comment'
}
const FORK_REMEDY =
  'Use a pull_request trigger for outside contributions, or set allow-untrusted: true only if this job never gives Codex the untrusted code or text.'

/**
 * Why this run's code or text is untrusted, or undefined. These triggers run with the base
 * repository's secrets while their code (or their prompt) comes from someone else. Text is
 * judged by its author (the comment's, the review's, the issue's or the discussion's), who
 * is trusted as an owner, member or collaborator, or when named in allowUsers (lower case).
 */
export function untrustedReason(
  eventName: string,
  event: EventPayload,
  allowUsers: string[] = []
): Untrusted | undefined {
  const base = event.repository?.full_name
  // Where the code came from must be proven: a payload that does not say counts as a fork's.
  const fromFork = (head: string | undefined) => !base || head !== base
  if (eventName === 'pull_request_target') {
    const head = event.pull_request?.head?.repo?.full_name
    if (fromFork(head))
      return { reason: `pull_request_target from the fork ${head ?? '(unknown or deleted)'}`, remedy: FORK_REMEDY }
  }
  if (eventName === 'workflow_run') {
    const head = event.workflow_run?.head_repository?.full_name
    if (fromFork(head))
      return { reason: `workflow_run for code from the fork ${head ?? '(unknown or deleted)'}`, remedy: FORK_REMEDY }
  }
  const field = AUTHORED_TEXT[eventName]
  if (!field) return undefined
  const text = event[field]
  // A payload is the runner's JSON, but its shape is not guaranteed: anything else counts as missing.
  const association = typeof text?.author_association === 'string' ? text.author_association : undefined
  const login = typeof text?.user?.login === 'string' ? text.user.login : undefined
  if (association && TRUSTED_ASSOCIATIONS.has(association)) return undefined
  if (login && allowUsers.includes(login.toLowerCase())) return undefined
  const where =
    eventName === 'issue_comment'
      ? `issue_comment on ${event.issue?.pull_request ? 'a pull request' : 'an issue'}`
      : eventName
  const who = login && LOGIN.test(login) ? login : 'an unknown author'
  const relation = association && /^[A-Z_]{1,40}$/.test(association) ? association : 'none given'
  return {
    reason: `${where} by ${who}, who is not an owner, member or collaborator (author_association: ${relation})`,
    remedy:
      'Run it only for trusted authors: add the login to allow-users if you trust this person, or set allow-untrusted: true only if this job never gives Codex the untrusted text.'
  }
}

/** Refuses untrusted triggers unless allowed, and says when the job's logs are public. */
export function checkTrigger(
  inputs: Pick<Inputs, 'allowUntrusted' | 'allowUsers'>,
  env: NodeJS.ProcessEnv = process.env
): void {
  const eventName = env.GITHUB_EVENT_NAME ?? ''
  const event = readEvent(env.GITHUB_EVENT_PATH)
  const untrusted = untrustedReason(eventName, event, inputs.allowUsers)
  if (untrusted && !inputs.allowUntrusted) {
    throw new UserError(
      `This run is untrusted: ${untrusted.reason}. Codex would run with your credential on code or text that someone else controls, and could be steered into leaking it. ${untrusted.remedy}`
    )
  }
  if (untrusted)
    core.warning(
      `allow-untrusted: true — this run is untrusted (${untrusted.reason}). Codex must not be given the untrusted code or text.`
    )
  if (event.repository?.private === false) {
    core.notice(
      'This repository is public, and so are its Actions logs. The credential is masked, but anything Codex prints can be read by anyone.'
    )
  }
}
