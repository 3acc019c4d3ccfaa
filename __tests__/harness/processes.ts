/** Processes the action starts and leaves running for the job (the OIDC refresher, the key proxy). */
import { existsSync, readFileSync } from 'node:fs'

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
