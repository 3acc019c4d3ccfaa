import * as core from '@actions/core'
import { removePath } from './files.js'
import { readList, saveList, StateKey } from './state.js'

/**
 * The paths this job created that must not outlive it (CODEX_HOME, auth.json, staging
 * directories). Each path is saved to the post step's state before it is created, so
 * the post step removes it even after a failed, cancelled or killed main step.
 */
export class CreatedPaths {
  private readonly paths: string[]

  constructor(paths: string[] = []) {
    this.paths = paths
  }

  /** Records `target` (before it exists) so that the post step removes it. */
  add(target: string): void {
    if (this.paths.includes(target)) return
    this.paths.push(target)
    saveList(StateKey.CreatedPaths, this.paths)
  }

  /** Forgets a path that moved into a place that is meant to stay (the tool cache). */
  forget(target: string): void {
    const index = this.paths.indexOf(target)
    if (index < 0) return
    this.paths.splice(index, 1)
    saveList(StateKey.CreatedPaths, this.paths)
  }

  /** Removes every recorded path, newest first; a failure is a warning, never an error. */
  async removeAll(): Promise<number> {
    let failures = 0
    for (const target of [...this.paths].reverse()) {
      try {
        await removePath(target)
        core.info(`Removed ${target}`)
      } catch (error) {
        failures++
        core.warning(`Could not remove ${target}: ${(error as Error).message}. Delete it by hand on a self-hosted runner.`)
      }
    }
    return failures
  }
}

/** The post step: removes what the main step created. Never fails the job. */
export async function cleanup(): Promise<void> {
  try {
    const created = new CreatedPaths(readList(StateKey.CreatedPaths))
    await created.removeAll()
  } catch (error) {
    core.warning(`Cleanup failed: ${(error as Error).message}`)
  }
}
