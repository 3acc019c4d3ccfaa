import * as core from '@actions/core'
import { isInside, removePath } from './files.js'
import { saveList, StateKey } from './state.js'

/**
 * The paths this job created that must not outlive it (CODEX_HOME, the CA bundle,
 * staging directories, diagnostics). Each path is saved to the post step's state as soon
 * as it is known, so the post step removes it even after a failed, cancelled or killed
 * main step.
 */
export class CreatedPaths {
  constructor(
    private readonly paths: string[] = [],
    /** Diagnostics kept for a later upload step: only the post step removes them. */
    private readonly kept: string[] = []
  ) {}

  get count(): number {
    return this.paths.length + this.kept.length
  }

  /**
   * Records `target` for removal: only a path this job created, proven new by its
   * exclusive creation (O_EXCL, a mkdir that succeeded, a random name), recorded the
   * moment that proof exists and before anything secret is in it.
   */
  add(target: string): void {
    if (this.paths.includes(target)) return
    this.paths.push(target)
    saveList(StateKey.CreatedPaths, this.paths)
  }

  /** Records diagnostics that outlive a failed main step, until the post step. */
  keepUntilPost(target: string): void {
    if (this.kept.includes(target)) return
    this.kept.push(target)
    saveList(StateKey.DiagnosticPaths, this.kept)
  }

  /** Forgets a path that moved into a place that is meant to stay (the tool cache). */
  forget(target: string): void {
    const index = this.paths.indexOf(target)
    if (index < 0) return
    this.paths.splice(index, 1)
    saveList(StateKey.CreatedPaths, this.paths)
  }

  /** Keeps `target` after the job: forgets it and every recorded directory that holds it. */
  keep(target: string): void {
    for (const recorded of this.paths.filter((p) => isInside(target, p))) this.forget(recorded)
  }

  /**
   * Removes every recorded path, newest first (and, in the post step, the diagnostics);
   * a failure is a warning, never an error. Returns how many could not be removed.
   */
  async removeAll(options: { diagnostics?: boolean } = {}): Promise<number> {
    let failures = 0
    const targets = [...this.paths].reverse().concat(options.diagnostics ? this.kept : [])
    for (const target of targets) {
      try {
        await removePath(target)
        core.debug(`Removed ${target}`)
      } catch (error) {
        failures++
        core.warning(
          `Could not remove ${target}: ${(error as Error).message}. Delete it by hand on a self-hosted runner.`
        )
      }
    }
    return failures
  }
}
