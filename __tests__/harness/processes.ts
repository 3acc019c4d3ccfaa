/** Processes the action starts and leaves running for the job (the OIDC refresher, the key proxy). */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import * as path from 'node:path'

/** Running, and not a zombie waiting for init to reap it. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  const stat = `/proc/${pid}/stat`
  return !existsSync(stat) || !/^\d+ \(.*\) Z/.test(readFileSync(stat, 'utf8'))
}

/**
 * One runner's key proxies and their guards, running: its steps run in its workspace, and
 * so does every helper they start, whatever other tests run beside it.
 */
export function keyProxyProcesses(runnerRoot: string): { pid: number; guard: boolean }[] {
  const found: { pid: number; guard: boolean }[] = []
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'latin1')
      if (!cmdline.includes(`key-proxy${path.sep}index.js`) || !alive(Number(name))) continue
      if (readlinkSync(`/proc/${name}/cwd`).startsWith(runnerRoot))
        found.push({ pid: Number(name), guard: cmdline.includes('--guard') })
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found
}

/**
 * The key proxy and its guard, once both run: main returns before the proxy's node has
 * started (the proxy inherits a socket main bound), so a test that looks at once waits here.
 */
export async function startedKeyProxy(
  runnerRoot: string,
  timeoutMs = 5_000
): Promise<{ pid: number; guard: boolean }[]> {
  for (const until = Date.now() + timeoutMs; Date.now() < until; await new Promise((r) => setTimeout(r, 25))) {
    const found = keyProxyProcesses(runnerRoot)
    if (found.length >= 2) return found
  }
  return keyProxyProcesses(runnerRoot)
}
