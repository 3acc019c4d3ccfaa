import * as core from '@actions/core'
import { spawn, type ChildProcess } from 'node:child_process'
import { timingSafeEqual } from 'node:crypto'
import { constants, existsSync, promises as fs, readFileSync, watch } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { replaceFile, writePrivateFile } from '../job/files.js'
import { PROXY_VARIABLES } from '../net/proxy-rules.js'
import { HELPER_NODE_FLAGS } from './node-flags.js'

/** A hosted job lasts at most 6 hours; no helper process outlives that. */
export const MAX_LIFETIME_MS = 6 * 3600_000

/** What a helper process needs from the environment to reach the network: nothing secret. */
const HELPER_ENV = ['PATH', 'SystemRoot', 'TEMP', 'TMP', 'NODE_EXTRA_CA_CERTS', ...PROXY_VARIABLES]

/**
 * Starts the bundled helper `dist/<entry>/index.js` as a detached process that outlives
 * the step, with only HELPER_ENV and its configuration (secrets included) on stdin: never
 * in argv, the environment or a file. `stdout: 'pipe'` lets it report that it is ready.
 * `dir` is the helper's private directory.
 */
export async function startDetached(
  entry: 'refresher' | 'key-proxy' | 'egress-proxy',
  config: unknown,
  dir: string,
  stdout: 'ignore' | 'pipe' = 'ignore',
  inherit?: number | number[]
): Promise<ChildProcess & { pid: number }> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', entry, 'index.js')
  const env: Record<string, string> = {}
  for (const name of HELPER_ENV) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  const child = spawn(await unreadableNode(dir), [...HELPER_NODE_FLAGS, ...noDebuggerFlags(), script], {
    detached: true,
    // `inherit`: descriptors the helper gets as its fd 3, 4… (listening sockets main bound).
    stdio: ['pipe', stdout, 'ignore', ...(inherit === undefined ? [] : [inherit].flat())],
    env,
    windowsHide: true
  })
  if (child.pid === undefined) throw new Error(`the ${entry} helper process did not start`)
  child.stdin?.end(JSON.stringify(config))
  return child as ChildProcess & { pid: number }
}

/** No debugger: Node 22.14 and later refuse SIGUSR1 with this flag; no-debugger.ts says why, and what older ones do. */
function noDebuggerFlags(): string[] {
  return process.allowedNodeEnvironmentFlags.has('--disable-sigusr1') ? ['--disable-sigusr1'] : []
}

/**
 * The node that runs a helper. On Linux, a copy in its private directory that its own
 * user may execute but not read (0111): the kernel makes a process that execs such a
 * binary non-dumpable, so that no process of the job's user reads its memory through
 * /proc/<pid>/mem or ptrace (gdb), or its environment, and it leaves no core dump. Root
 * reads any file, so a job run as root (and every other OS) uses the runner's node.
 */
async function unreadableNode(dir: string): Promise<string> {
  if (process.platform !== 'linux' || process.getuid?.() === 0) return process.execPath
  const copy = path.join(dir, 'node')
  try {
    // A reflink where the file system has them: no 100 MB copy on the start-up path.
    await fs.copyFile(process.execPath, copy, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE)
    await fs.chmod(copy, 0o111)
    return copy
  } catch (error) {
    core.warning(
      `Could not copy node into ${dir} (${(error as Error).message}): the helper runs from the runner's node, and the job's user can read its memory where the kernel allows ptrace.`
    )
    return process.execPath
  }
}

/**
 * The file the main or post step creates in a helper's private directory to stop it. Only
 * the helper that owns the directory looks there, so the request can reach no other
 * process, on any OS, where a signal to a PID could reach whatever reused it.
 */
const STOP_FILE = 'stop'

/** How often a helper looks for its stop file. */
export const STOP_POLL_MS = 250

/** How long the owner waits for a helper to say it stopped; one that is mid-request stops at its next look. */
const STOP_WAIT_MS = 2000

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
  state: 'running' | 'stopped'
}

/**
 * For the owner: asks the helper that owns `dir` to stop, and waits briefly for its status
 * file to say so. Returns the last status it wrote, or undefined when its directory was
 * already gone (it stopped by itself) or it never wrote one.
 */
export async function stopHelper<S extends HelperStatus>(
  dir: string,
  statusFile: string,
  token?: string
): Promise<S | undefined> {
  try {
    await ask(dir, token)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    // Its directory is gone: the helper (and a key proxy's guard) ended when it went.
    if (code === 'ENOENT') return undefined
    // Asked before (EEXIST): wait and report all the same.
    if (code !== 'EEXIST') return undefined
  }
  let status: S | undefined
  for (
    const until = Date.now() + STOP_WAIT_MS;
    Date.now() < until;
    await new Promise((resolve) => setTimeout(resolve, 10))
  ) {
    status = readStatus<S>(path.join(dir, statusFile)) ?? status
    if (status?.state === 'stopped') break
  }
  return status
}

/** Writes the stop file: empty, or the token, over whatever another process may have put there. */
function ask(dir: string, token: string | undefined): Promise<void> {
  const file = path.join(dir, STOP_FILE)
  return token === undefined ? writePrivateFile(file, '') : replaceFile(file, token)
}

function readStatus<S>(file: string): S | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as S
  } catch {
    // Not written yet, or mid-replace.
    return undefined
  }
}
