import { statSync, realpathSync } from 'node:fs'
import * as path from 'node:path'

/** Where the tools that run as root are looked for: never the job's PATH, which a step (or the model) may change. */
const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin']

/**
 * The absolute path of a system tool that only root can change: the file and its directory
 * root-owned and not writable by group or others (after links are followed). Undefined when
 * there is none.
 */
export function systemTool(name: string): string | undefined {
  for (const dir of SYSTEM_DIRS) {
    let real: string
    try {
      real = realpathSync(path.join(dir, name))
    } catch {
      continue
    }
    if (onlyRootWrites(real) && onlyRootWrites(path.dirname(real))) return real
  }
  return undefined
}

function onlyRootWrites(file: string): boolean {
  try {
    const stat = statSync(file)
    return stat.uid === 0 && (stat.mode & 0o022) === 0
  } catch {
    return false
  }
}

/** The tools the jail needs (sudo only where the job is not root). */
export const JAIL_TOOLS = ['sh', 'unshare', 'setpriv', 'mount', 'umount', 'pivot_root', 'awk'] as const
export type JailTool = (typeof JAIL_TOOLS)[number] | 'sudo'
export type Tools = Record<JailTool, string>

/** Every tool the jail needs but sudo resolved, or the names of those missing. */
export function findTools(): { tools?: Omit<Tools, 'sudo'>; missing: string[] } {
  const found = Object.fromEntries(JAIL_TOOLS.map((name) => [name, systemTool(name)]))
  const missing = JAIL_TOOLS.filter((name) => !found[name])
  return missing.length ? { missing } : { tools: found as Omit<Tools, 'sudo'>, missing }
}
