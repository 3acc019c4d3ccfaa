import { readFileSync } from 'node:fs'

export interface Repo {
  full_name?: string
  private?: boolean
  visibility?: string
}

/** Text a person wrote, as a webhook payload carries it: who wrote it, and how they relate to the repository. */
export interface Authored {
  author_association?: string
  user?: { login?: string } | null
}

/** The parts of a webhook payload that say where a run's code or text came from. */
export interface EventPayload {
  repository?: Repo
  pull_request?: { head?: { repo?: Repo | null } }
  workflow_run?: { head_repository?: Repo | null; event?: string }
  issue?: Authored & { pull_request?: unknown }
  comment?: Authored
  review?: Authored
  discussion?: Authored
}

/** The event payload; anything unreadable or not a JSON object counts as an empty one. */
export function readEvent(file: string | undefined): EventPayload {
  if (!file) return {}
  try {
    const event: unknown = JSON.parse(readFileSync(file, 'utf8'))
    return typeof event === 'object' && event !== null && !Array.isArray(event) ? (event as EventPayload) : {}
  } catch {
    return {}
  }
}
