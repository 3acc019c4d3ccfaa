import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import * as tc from '@actions/tool-cache'
import { UserError } from '../errors.js'
import { writePrivateFile } from '../files.js'

/** The tool-cache name; `find` looks for `<cache>/codex/<version>/<arch>` and its `.complete` marker. */
const TOOL = 'codex'

export function cacheRoot(): string {
  const root = process.env.RUNNER_TOOL_CACHE
  if (!root) throw new UserError('RUNNER_TOOL_CACHE is not set, so there is nowhere to install the Codex CLI. Run the action on a GitHub Actions runner, or set install: false.')
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

/**
 * Moves a verified staging directory into the cache and marks it complete. When another
 * job got there first (two runner processes sharing one cache), its copy is kept: an entry
 * only ever appears by rename of a verified tree, so an existing one is whole.
 */
export async function commitToCache(staging: string, version: string, arch: string): Promise<string> {
  const versionDir = path.join(cacheRoot(), TOOL, version)
  const target = path.join(versionDir, arch)
  await fs.mkdir(versionDir, { recursive: true })
  try {
    await fs.rename(staging, target)
  } catch (error) {
    // Windows says EPERM both for "exists" and for a locked file: only the former is a race we lost.
    const code = (error as NodeJS.ErrnoException).code
    const lostRace = (code === 'EEXIST' || code === 'ENOTEMPTY' || code === 'EPERM') && (await exists(target))
    if (!lostRace) throw error
    await fs.rm(staging, { recursive: true, force: true })
  }
  await writePrivateFile(`${target}.complete`, '').catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error
  })
  return target
}

async function exists(target: string): Promise<boolean> {
  return fs.access(target).then(
    () => true,
    () => false
  )
}
