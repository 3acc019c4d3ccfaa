import { randomBytes } from 'node:crypto'
import { constants, promises as fs } from 'node:fs'
import * as path from 'node:path'
import { UserError } from './errors.js'

// Windows has no O_NOFOLLOW; there the exclusive create alone refuses an existing link.
const CREATE_PRIVATE = constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | (constants.O_NOFOLLOW ?? 0)

/** Creates a new private (0700) directory with a random name under `parent`. */
export async function makePrivateDir(parent: string, prefix: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(parent, prefix))
  await fs.chmod(dir, 0o700)
  return dir
}

/**
 * Writes a new 0600 file, refusing to replace anything already at `file` (a planted
 * symlink included): nothing the action writes is ever written through a link.
 * `created` hears of the file once the exclusive create has proven it new, before any
 * data is in it.
 */
export async function writePrivateFile(
  file: string,
  data: string | Uint8Array,
  created?: (file: string) => void
): Promise<void> {
  const handle = await fs.open(file, CREATE_PRIVATE, 0o600)
  try {
    created?.(file)
    await handle.writeFile(data)
  } finally {
    await handle.close()
  }
}

/**
 * Replaces `file` atomically: the new content goes to a fresh sibling (exclusive, 0600)
 * that is then renamed over it, so a reader always sees a whole token, never an empty or
 * half-written file.
 */
export async function replaceFile(file: string, content: string): Promise<void> {
  const sibling = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}`)
  await writePrivateFile(sibling, content)
  try {
    await fs.rename(sibling, file)
  } catch (error) {
    await fs.rm(sibling, { force: true })
    throw error
  }
}

/** lstat that answers undefined for a path that does not exist (ENOENT only: any other error is thrown). */
export async function lstatOrUndefined(file: string): Promise<import('node:fs').Stats | undefined> {
  try {
    return await fs.lstat(file)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/**
 * Creates `dir` (0700) and any parents it lacks. Returns the topmost directory this call
 * created, which only a mkdir that succeeded can name (so it is proven new), or undefined
 * when every one of them existed.
 */
export async function makeDirs(dir: string): Promise<string | undefined> {
  return fs.mkdir(dir, { recursive: true, mode: 0o700 })
}

/** Removes a file or a whole directory tree; a path that is already gone is fine. */
export async function removePath(target: string): Promise<void> {
  await fs.rm(target, { recursive: true, force: true, maxRetries: 3 })
}

/** True when `child` is `parent` or lies below it. */
export function isInside(child: string, parent: string): boolean {
  const rel = path.relative(path.resolve(parent), path.resolve(child))
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

/**
 * The path `target` has once links are followed: the real path of its nearest existing
 * ancestor, with the parts that do not exist yet appended. A link anywhere above a
 * directory can move it somewhere else (into the workspace, say).
 */
export async function realPathOf(target: string): Promise<string> {
  const rest: string[] = []
  for (let current = path.resolve(target); ; current = path.dirname(current)) {
    try {
      return path.join(await fs.realpath(current), ...rest.reverse())
    } catch (error) {
      const parent = path.dirname(current)
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === current) throw error
      rest.push(path.basename(current))
    }
  }
}

const ERRNO_MEANING: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is longer than this OS allows',
  EISDIR: 'it is a directory'
}

/**
 * A file-system error on a codex-home the user named (or an entry of it) as one clear line;
 * anything without an errno code is a bug and stays one.
 */
export function unusableHome(home: string, error: unknown, entry?: string): unknown {
  const code = (error as NodeJS.ErrnoException).code
  if (!code) return error
  // The home was checked first and every write is exclusive: an EEXIST is another job's file.
  if (code === 'EEXIST')
    return new UserError(
      `codex-home ${home}: another job created ${entry ?? 'a file'} there while this one was writing it, so two jobs are using this codex-home at the same time. ` +
        "Give each runner its own codex-home, or run the jobs that share one one at a time (concurrency:); the other job's file was not touched."
    )
  return new UserError(
    `codex-home ${home}${entry ? `: its ${entry}` : ''} cannot be used (${code}: ${ERRNO_MEANING[code] ?? 'the file system refused it'}). Name a directory the runner's user can create and write, or leave codex-home empty.`
  )
}

/** RUNNER_TEMP: where every file the action writes lives (never the workspace). */
export function runnerTemp(): string {
  const value = process.env.RUNNER_TEMP
  if (!value)
    throw new UserError(
      'RUNNER_TEMP is not set. Run the action on a GitHub Actions runner (or a local runner that sets it).'
    )
  return value
}
