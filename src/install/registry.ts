import * as core from '@actions/core'
import semver from 'semver'
import type { VersionSpec } from '../inputs/inputs.js'
import { UserError } from '../job/errors.js'
import { HttpStatusError } from '../net/failures.js'
import { type HttpClient, networkError } from '../net/http.js'
import type { Platform } from './platform.js'

export const PACKAGE = '@openai/codex'
const ENCODED = '@openai%2fcodex'

/** One platform build of the CLI, as the registry describes it. */
export interface Release {
  version: string
  integrity: string
  tarball: string
  /** The bytes its files take unpacked, as the registry declares them. */
  unpackedSize?: number
}

interface VersionDoc {
  version?: string
  dist?: { integrity?: string; tarball?: string; unpackedSize?: unknown }
}

export interface Packument {
  'dist-tags'?: Record<string, string>
  versions?: Record<string, VersionDoc>
}

const NETWORK_HINT = "Check registry-url, and the runner's network and proxy settings (HTTPS_PROXY, NO_PROXY)."

/** The CLI versions (plain x.y.z) that have a build for this platform, newest first. */
export function platformVersions(packument: Packument, platform: Platform): string[] {
  const versions = Object.keys(packument.versions ?? {})
  const suffix = `-${platform.npmSuffix}`
  const built = new Set(versions.filter((v) => v.endsWith(suffix)).map((v) => v.slice(0, -suffix.length)))
  return versions.filter((v) => built.has(v) && semver.valid(v) && !semver.prerelease(v)).sort(semver.rcompare)
}

/** Picks the version a spec names from a packument, or explains what exists. */
export function pickVersion(packument: Packument, spec: VersionSpec, platform: Platform): string {
  const available = platformVersions(packument, platform)
  let version: string | null | undefined
  if (spec.kind === 'exact') version = available.includes(spec.version) ? spec.version : undefined
  else if (spec.kind === 'range') version = semver.maxSatisfying(available, spec.range)
  else version = packument['dist-tags']?.[spec.tag]
  if (version && (spec.kind !== 'tag' || available.includes(version))) return version
  const newest = available.slice(0, 5).join(', ') || 'none'
  const what = spec.kind === 'exact' ? spec.version : spec.kind === 'range' ? spec.range : `dist-tag ${spec.tag}`
  throw new UserError(
    `codex-version ${what} matches no ${PACKAGE} release for ${platform.npmSuffix}. Newest available: ${newest}. ` +
      'Set codex-version to one of them, or to latest.'
  )
}

function toRelease(version: string, doc: VersionDoc | undefined, url: string): Release {
  const integrity = doc?.dist?.integrity
  const tarball = doc?.dist?.tarball
  if (!integrity || !/(^|\s)sha512-/.test(integrity) || !tarball) {
    throw new UserError(
      `The registry's metadata at ${url} has no sha512 integrity or tarball address, so the download cannot be verified. Use a registry that serves npm's standard metadata.`
    )
  }
  const size = doc?.dist?.unpackedSize
  return {
    version,
    integrity,
    tarball,
    unpackedSize: typeof size === 'number' && Number.isSafeInteger(size) && size >= 0 ? size : undefined
  }
}

/**
 * Resolves `codex-version` to one platform build. An exact version (also a dist-tag, once
 * looked up) costs one small per-version document; only a range or a miss needs the
 * package's full metadata.
 */
export async function resolveRelease(
  http: HttpClient,
  registry: string,
  spec: VersionSpec,
  platform: Platform
): Promise<Release> {
  try {
    let exact = spec.kind === 'exact' ? spec.version : undefined
    if (spec.kind === 'tag') exact = await lookupTag(http, registry, spec.tag)
    if (exact) {
      const url = `${registry}/${ENCODED}/${exact}-${platform.npmSuffix}`
      try {
        return toRelease(exact, await http.getJson<VersionDoc>(url), url)
      } catch (error) {
        if (!(error instanceof HttpStatusError && error.status === 404)) throw error
        core.debug(`${url} answered 404; reading the package metadata`)
      }
    }
    const url = `${registry}/${ENCODED}`
    const packument = await http.getJson<Packument>(url, {
      accept: 'application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8'
    })
    const version = pickVersion(packument, spec, platform)
    return toRelease(version, packument.versions?.[`${version}-${platform.npmSuffix}`], url)
  } catch (error) {
    if (error instanceof UserError) throw error
    throw networkError(`Reading ${PACKAGE} metadata from ${registry}`, error, NETWORK_HINT)
  }
}

/** A dist-tag's version from the small dist-tags document; undefined sends the caller to the packument. */
async function lookupTag(http: HttpClient, registry: string, tag: string): Promise<string | undefined> {
  try {
    const tags = await http.getJson<Record<string, string>>(`${registry}/-/package/${ENCODED}/dist-tags`)
    const version = tags[tag]
    return typeof version === 'string' && semver.valid(version) ? version : undefined
  } catch (error) {
    // Some mirrors do not serve the dist-tags endpoint; the packument has the same answer.
    if (error instanceof HttpStatusError && error.status >= 400 && error.status < 500 && error.status !== 429)
      return undefined
    throw error
  }
}
