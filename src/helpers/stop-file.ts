/**
 * The helper's side of detach.ts's protocol: when to stop. Apart from detach.ts because
 * that one loads @actions/core (and through it undici, over 700 KB of code) for the
 * owner's side: a helper that imported it would hold about 10 MB more for nothing.
 */
import { timingSafeEqual } from 'node:crypto'
import { existsSync, readFileSync, watch } from 'node:fs'
import * as path from 'node:path'

/** A hosted job lasts at most 6 hours; no helper process outlives that. */
export const MAX_LIFETIME_MS = 6 * 3600_000

/**
 * The file the main or post step creates in a helper's private directory to stop it. Only
 * the helper that owns the directory looks there, so the request can reach no other
 * process, on any OS, where a signal to a PID could reach whatever reused it.
 */
export const STOP_FILE = 'stop'

/** How often a helper looks for its stop file. */
export const STOP_POLL_MS = 250

/**
 * For the helper: its owner asked it to stop. A helper given a `token` (which only the main
 * and post steps know) counts only a stop file that holds exactly it: any process of the
 * job can write in the helper's directory.
 */
export function stopAsked(dir: string, token?: string): boolean {
  const file = path.join(dir, STOP_FILE)
  if (token === undefined) return existsSync(file)
  try {
    const found = readFileSync(file)
    return found.length === Buffer.byteLength(token) && timingSafeEqual(found, Buffer.from(token))
  } catch {
    return false
  }
}

/**
 * For the helper: calls `check` whenever the stop file is written, so that the owner, which
 * waits for the helper to say it stopped, need not wait for the next poll. Where the
 * directory cannot be watched, the poll alone remains.
 */
export function watchStopFile(dir: string, check: () => void): void {
  try {
    watch(dir, { persistent: false }, (_event, name) => {
      if (name === STOP_FILE) check()
    }).on('error', () => undefined)
  } catch {
    // Not watchable here: polled only.
  }
}

/** For the helper: asked to stop, its directory is gone (the job's files were removed), or its time is up. */
export function stopRequested(dir: string, deadline: number, token?: string): boolean {
  return stopAsked(dir, token) || !existsSync(dir) || Date.now() > deadline
}

/** What every helper reports in its status file. */
export interface HelperStatus {
  pid: number
  /** settling: asked to stop, it finishes a renewal under way first (a key proxy's sign-in refresh). */
  state: 'running' | 'settling' | 'stopped'
}
