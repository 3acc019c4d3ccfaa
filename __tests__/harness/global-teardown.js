import { existsSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { distProcesses } from './processes.js'

/**
 * Prints the security figures the runners recorded (see harness/audit.js), then removes
 * the run's directory. Fails the run when a process of this checkout's dist/ is still
 * running, wherever it was started (each is ended first).
 */
export default function globalTeardown() {
  const shared = process.env.CODEX_AUTH_TEST_SHARED
  if (!shared) return
  const left = distProcesses()
  // Ended here so that a failed run leaves nothing either.
  for (const { pid } of left) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Went at the last moment.
    }
  }
  const file = join(shared, 'security-figures.jsonl')
  if (existsSync(file)) {
    /** @type {Record<string, number>} */
    const total = {}
    for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
      for (const [key, value] of Object.entries(JSON.parse(line))) total[key] = (total[key] ?? 0) + value
    }
    console.log(
      [
        '',
        'Security figures (every black-box scenario is audited when its runner is disposed):',
        `  scenarios scanned:                 ${total.scenarios ?? 0} (${total.steps ?? 0} main and post steps)`,
        `  canaries x derived forms x places: ${total.canaries ?? 0} canaries, ${total.forms ?? 0} forms, ${total.searches ?? 0} form-place searches over ${total.places ?? 0} places`,
        `  bad inputs and faults (failed main steps): ${total.failedMainSteps ?? 0}`,
        `  faults injected by the fake registry: ${total.faultsInjected ?? 0}`,
        `  leaks found:                       ${total.leaks ?? 0}`,
        `  half states found:                 ${total.halfStates ?? 0}`,
        `  user paths compared before/after:  ${total.userPaths ?? 0} (workspace, HOME, named codex-home); changed, removed or left behind: ${total.userState ?? 0}`,
        `  workflow commands parsed:          ${total.commands ?? 0}; not issued by the action: ${total.commandFindings ?? 0}`,
        `  CLI invocations recorded:          ${total.cliCalls ?? 0}; secrets in their environment or argv: ${total.cliEnv ?? 0}`,
        `  helper processes started:          ${total.helpers ?? 0} (key proxies, refreshers); of dist/ running at a scenario's end: ${total.processesLeft ?? 0}, after the suite: ${left.length}`,
        ''
      ].join('\n')
    )
  }
  rmSync(shared, { recursive: true, force: true })
  if (left.length)
    throw new Error(
      `processes of this checkout's dist/ were still running after the suite (now ended):\n${left
        .map(({ pid, entry, guard, cwd }) => `  dist/${entry}${guard ? ' --guard' : ''} (pid ${pid}) in ${cwd}`)
        .join('\n')}`
    )
}
