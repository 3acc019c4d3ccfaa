import * as core from '@actions/core'
import { spawn, type ChildProcess } from 'node:child_process'
import { constants, promises as fs, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { replaceFile, writePrivateFile } from '../job/files.js'
import { PROXY_VARIABLES } from '../net/proxy-rules.js'
import { HELPER_NODE_FLAGS } from './node-flags.js'
import { STOP_FILE, type HelperStatus } from './stop-file.js'

export { MAX_LIFETIME_MS, type HelperStatus } from './stop-file.js'

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

/** How long the owner waits for a helper to say it stopped; one that is mid-request stops at its next look. */
const STOP_WAIT_MS = 2000
/** How long it waits for one whose status says `settling` (the key proxy waits 15 s for a sign-in's refresh). */
const SETTLE_WAIT_MS = 16_000

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
  const asked = Date.now()
  for (let until = asked + STOP_WAIT_MS; Date.now() < until; await new Promise((resolve) => setTimeout(resolve, 10))) {
    status = readStatus<S>(path.join(dir, statusFile)) ?? status
    if (status?.state === 'stopped') break
    // One that finishes a renewal first (whose result only it holds) is given longer.
    if (status?.state === 'settling') until = Math.max(until, asked + SETTLE_WAIT_MS)
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
