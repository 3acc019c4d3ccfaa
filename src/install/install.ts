import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { cliVersion } from '../codex/cli.js'
import type { VersionSpec } from '../inputs/inputs.js'
import { type CreatedPaths } from '../job/created-paths.js'
import { UserError } from '../job/errors.js'
import { removePath } from '../job/files.js'
import { describeFailure } from '../net/failures.js'
import { type HttpClient } from '../net/http.js'
import { inline } from '../secrets/inert-output.js'
import { platformFor, type Platform } from './platform.js'
import { PACKAGE, resolveRelease, type Release } from './registry.js'
import { commitToCache, findCached, stagingPath } from './tool-cache.js'
import { expectedSha512, hashAndExtract, MAX_UNPACKED, unpackLimit, UnpackLimitError } from './unpack.js'

export interface InstalledCli {
  /** The `vendor/<triple>` tree: bin/, codex-path/, codex-resources/. */
  root: string
  binary: string
  cacheHit: boolean
  /** What `codex --version` reported, when the install just ran it. */
  version?: string
}

export function binaryIn(root: string, platform: Platform): string {
  return path.join(root, 'bin', platform.exe)
}

/** Finds the CLI in the tool cache or downloads, verifies and caches it. */
/** `cliDir`: the CODEX_HOME the action runs the CLI in to prove that a download runs. */
export async function installCodex(
  http: HttpClient,
  registry: string,
  spec: VersionSpec,
  created: CreatedPaths,
  cliDir: string
): Promise<InstalledCli> {
  const platform = platformFor(process.platform, process.arch)
  // A dist-tag needs the registry to name its version; an exact version or a range is
  // answered from the cache without the network.
  let release = spec.kind === 'tag' ? await resolve(http, registry, spec, platform) : undefined
  const wanted = spec.kind === 'exact' ? spec.version : spec.kind === 'range' ? spec.range : release!.version
  const cached = findCached(wanted, platform.arch)
  if (cached) {
    core.info(`Codex CLI found in the tool cache: ${inline(cached)}`)
    return { root: cached, binary: binaryIn(cached, platform), cacheHit: true }
  }
  release ??= await resolve(http, registry, spec, platform)
  const root = await downloadToCache(http, release, platform, created, cliDir)
  return { root, binary: binaryIn(root, platform), cacheHit: false, version: release.version }
}

async function resolve(http: HttpClient, registry: string, spec: VersionSpec, platform: Platform): Promise<Release> {
  const started = Date.now()
  const release = await resolveRelease(http, registry, spec, platform)
  core.info(
    `codex-version ${describeSpec(spec)} resolved to ${inline(release.version)} (${platform.npmSuffix}) in ${seconds(started)}`
  )
  return release
}

/** The time from `from` to `to` (now), as the install log gives each stage. */
const seconds = (from: number, to = Date.now()) => `${((to - from) / 1000).toFixed(2)} s`

const size = (bytes: number) => (bytes < 2 ** 20 ? `${bytes} bytes` : `${(bytes / 2 ** 20).toFixed(0)} MiB`)

function describeSpec(spec: VersionSpec): string {
  return spec.kind === 'exact' ? spec.version : spec.kind === 'range' ? spec.range : spec.tag
}

async function downloadToCache(
  http: HttpClient,
  release: Release,
  platform: Platform,
  created: CreatedPaths,
  cliDir: string
): Promise<string> {
  const expected = expectedSha512(release.integrity)
  const staging = stagingPath()
  created.add(staging)
  const started = Date.now()
  core.info(`Downloading ${inline(release.tarball)}`)
  try {
    const actual = await http.withRetries(`Download of ${release.tarball}`, async () => {
      await removePath(staging)
      await fs.mkdir(staging, { recursive: true })
      const body = async () => (await http.open(release.tarball)).body
      return hashAndExtract(body, platform.triple, staging, unpackLimit(release.unpackedSize))
    })
    if (actual !== expected) {
      throw new UserError(
        `The Codex CLI tarball ${release.tarball} does not match the sha512 integrity in the registry's metadata; nothing was installed. ` +
          "A proxy or mirror may have altered it: check registry-url and the mirror's copy of the package."
      )
    }
    await fs.access(binaryIn(staging, platform)).catch(() => {
      throw new UserError(
        `The tarball ${release.tarball} has no vendor/${platform.triple}/bin/${platform.exe}; nothing was installed. Check that registry-url serves the official ${PACKAGE} package.`
      )
    })
    // Only a CLI that runs is ever cached: a job that finds it there trusts it.
    const works = (dir: string) =>
      cliVersion(binaryIn(dir, platform), cliDir).then(
        (version) => version === release.version,
        () => false
      )
    const extracted = Date.now()
    if (!(await works(staging))) {
      throw new UserError(
        `The Codex CLI in ${release.tarball} does not run here or does not report version ${release.version} (\`codex --version\`); nothing was installed. Check that registry-url serves the official ${PACKAGE} package.`
      )
    }
    const ran = Date.now()
    const root = await commitToCache(staging, { version: release.version, arch: platform.arch, works, created })
    created.forget(staging)
    // Stage by stage, as BENCHMARK.md compares them with the floor.
    core.info(
      `Codex CLI ${inline(release.version)} installed in ${seconds(started)} (download, sha512 and extraction ${seconds(started, extracted)}, --version ${seconds(extracted, ran)}, into the tool cache ${seconds(ran)}): ${inline(root)}`
    )
    return root
  } catch (error) {
    // Left for the post step when it cannot be removed now.
    await removePath(staging).then(
      () => created.forget(staging),
      () => undefined
    )
    if (error instanceof UserError) throw error
    if (error instanceof UnpackLimitError) {
      const declared =
        release.unpackedSize === undefined
          ? 'the registry declares no unpackedSize'
          : `the registry declares ${size(release.unpackedSize)}`
      throw new UserError(
        `The Codex CLI tarball ${release.tarball} unpacks to more than ${size(error.limit)} (${declared}; no build may exceed ${size(MAX_UNPACKED)}); ` +
          'extraction stopped and nothing was installed. A broken or rogue mirror may serve it: check registry-url.'
      )
    }
    const code = (error as { code?: unknown }).code
    const reason =
      typeof code === 'string' && /^(Z_|TAR_)/.test(code)
        ? `the tarball is corrupt or truncated (${code})`
        : describeFailure(error)
    throw new UserError(
      `Downloading the Codex CLI from ${release.tarball} failed: ${reason}; nothing was installed. ` +
        "Check registry-url and the runner's network and proxy settings (HTTPS_PROXY, NO_PROXY), then re-run the job."
    )
  }
}
