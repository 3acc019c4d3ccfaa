import * as tc from '@actions/tool-cache'
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { type CreatedPaths } from '../job/created-paths.js'
import { UserError } from '../job/errors.js'
import { removePath, writePrivateFile } from '../job/files.js'

/** The tool-cache name; `find` looks for `<cache>/codex/<version>/<arch>` and its `.complete` marker. */
const TOOL = 'codex'

export function cacheRoot(): string {
  const root = process.env.RUNNER_TOOL_CACHE
  if (!root)
    throw new UserError(
      'RUNNER_TOOL_CACHE is not set, so there is nowhere to install the Codex CLI. Run the action on a GitHub Actions runner, or set install: false.'
    )
  // GITHUB_PATH takes one directory a line: a line break would add one of its text's choosing.
  if (/[\r\n]/.test(root))
    throw new UserError(
      'RUNNER_TOOL_CACHE holds a line break, so the directory of the installed CLI cannot be added to PATH. Set a tool cache path without one, or set install: false.'
    )
  return root
}

/** The cached CLI for an exact version or a range, or undefined. */
export function findCached(versionOrRange: string, arch: string): string | undefined {
  cacheRoot()
  return tc.find(TOOL, versionOrRange, arch) || undefined
}

/**
 * A fresh staging directory beside the cache entries (same file system, so the final
 * rename is atomic) but outside `codex/`, so a failed install leaves the tool's tree as
 * it was.
 */
export function stagingPath(): string {
  return path.join(cacheRoot(), `.codex-staging-${randomBytes(6).toString('hex')}`)
}

/** One cache entry to commit, and how to tell whether a tree holds a CLI that works. */
export interface CacheEntry {
  version: string
  arch: string
  /** Does the tree at `dir` hold the binary, and does it run and report `version`? */
  works: (dir: string) => Promise<boolean>
  created: CreatedPaths
}

/** A stubborn target (replaced again each time) is given up on after this many renames. */
const MAX_RENAMES = 3

/**
 * Moves a verified staging directory into the cache and marks it complete. When the target
 * exists, it is kept only if it works: another job got there first, with a verified copy.
 * Anything else there (a tree a killed job left half-made, or another tool's) is renamed
 * aside and ours renamed in, so the entry is replaced atomically, and `.complete` only ever
 * marks a tree whose binary runs.
 */
export async function commitToCache(staging: string, entry: CacheEntry): Promise<string> {
  const versionDir = path.join(cacheRoot(), TOOL, entry.version)
  const target = path.join(versionDir, entry.arch)
  await fs.mkdir(versionDir, { recursive: true })
  const asides: string[] = []
  for (let renames = 1; ; renames++) {
    try {
      await fs.rename(staging, target)
      break
    } catch (error) {
      // Windows says EPERM both for "exists" and for a locked file: only the former is a race we lost.
      const code = (error as NodeJS.ErrnoException).code
      const exists = (code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'EPERM') && (await pathExists(target))
      if (!exists || renames === MAX_RENAMES) throw error
    }
    if (await entry.works(target)) {
      await fs.rm(staging, { recursive: true, force: true })
      break
    }
    const aside = stagingPath()
    entry.created.add(aside)
    asides.push(aside)
    // Gone already when another job moved it first: then our rename is free to go.
    await fs.rename(target, aside).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error
    })
  }
  for (const aside of asides)
    await removePath(aside).then(
      () => entry.created.forget(aside),
      () => undefined
    )
  await writePrivateFile(`${target}.complete`, '').catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error
  })
  return target
}

async function pathExists(target: string): Promise<boolean> {
  return fs.access(target).then(
    () => true,
    () => false
  )
}
