/**
 * Processes of this checkout's dist/ that outlive a step: the OIDC refresher, the key
 * proxy and its guard. Found by their command line in /proc, and told apart by their
 * working directory: a runner's steps run in its workspace, and so does every helper they
 * start, whatever other tests run beside it.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait.js'

/** This checkout's bundles; a process running a script below it is one of ours. */
export const DIST = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist')

/**
 * Running, and not a zombie waiting for init to reap it.
 * @param {number} pid
 * @returns {boolean}
 */
export function alive(pid) {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = `/proc/${pid}/stat`
  return !existsSync(stat) || !/^\d+ \(.*\) Z/.test(readFileSync(stat, 'utf8'))
}

/**
 * @typedef {{ pid: number, entry: string, guard: boolean, cwd: string }} DistProcess
 *   `entry`: the bundle (key-proxy, refresher, main, post); `guard`: a key proxy's guard
 */

/**
 * Every live process that runs a script of this checkout's dist/, or only those whose
 * working directory is below `under`. Without /proc they cannot be counted, and the audit
 * that relies on this must not pass by finding none.
 * @param {string} [under]
 * @returns {DistProcess[]}
 */
export function distProcesses(under) {
  if (!existsSync('/proc/self/cmdline'))
    throw new Error('cannot look for processes left running: this system has no /proc (the e2e audit needs Linux)')
  /** @type {DistProcess[]} */
  const found = []
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    const pid = Number(name)
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'latin1').split('\0')
      const script = argv.find((arg) => arg.startsWith(DIST + path.sep))
      if (!script || !alive(pid)) continue
      const cwd = readlinkSync(`/proc/${name}/cwd`)
      if (under && cwd !== under && !cwd.startsWith(under + path.sep)) continue
      found.push({ pid, entry: path.relative(DIST, script).split(path.sep)[0], guard: argv.includes('--guard'), cwd })
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found
}

/**
 * One runner's key proxies and their guards, running.
 * @param {string} runnerRoot
 * @returns {{ pid: number, guard: boolean }[]}
 */
export function keyProxyProcesses(runnerRoot) {
  return distProcesses(runnerRoot)
    .filter((p) => p.entry === 'key-proxy')
    .map(({ pid, guard }) => ({ pid, guard }))
}

/**
 * The key proxy and its guard, once both run: main returns before the proxy's node has
 * started (the proxy inherits a socket main bound), so a test that looks at once waits here.
 * @param {string} runnerRoot
 * @param {number} [timeoutMs]
 * @returns {Promise<{ pid: number, guard: boolean }[]>}
 */
export async function startedKeyProxy(runnerRoot, timeoutMs = 5_000) {
  const found = await waitFor(() => {
    const running = keyProxyProcesses(runnerRoot)
    // Between fork and exec the guard still shows the proxy's command line: wait for its own.
    return running.some((p) => p.guard) && running.some((p) => !p.guard) ? running : undefined
  }, timeoutMs)
  return found ?? keyProxyProcesses(runnerRoot)
}
