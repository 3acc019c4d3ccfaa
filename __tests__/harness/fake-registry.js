/**
 * An npm registry on loopback serving `@openai/codex`: the packument, per-version
 * documents, dist-tags and tarballs, with hooks for faults. The benchmark serves the real
 * package from it; the tests serve packages they build.
 */
import { createHash } from 'node:crypto'
import { recordFigures } from './audit.js'
import { LoopbackServer, sendJson } from './servers.js'

const NAME = '@openai/codex'
const ENCODED = '/@openai%2fcodex'

/**
 * Answers a request itself (true) or lets the registry answer (false); `hit` counts the
 * requests to the fault's path prefix so far (1 = the first).
 * @typedef {(req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse, hit: number) => boolean | Promise<boolean>} Fault
 */

/**
 * @param {Buffer} data
 * @returns {string} an npm `dist.integrity`
 */
export function integrityOf(data) {
  return `sha512-${createHash('sha512').update(data).digest('base64')}`
}

export class FakeRegistry {
  /** @type {Map<string, { tarball: Buffer, integrity: string }>} by full version */
  published = new Map()
  /** @type {Record<string, string>} */
  distTags = {}
  /** @type {Map<string, Fault>} faults by path prefix */
  faults = new Map()
  /** @type {string | undefined} where tarball addresses point (default: this registry) */
  tarballBase
  /** @type {Map<string, number>} */
  #hits = new Map()

  /** @param {import('./servers.js').TlsIdentity} [tls] */
  constructor(tls) {
    /** @type {LoopbackServer} */
    this.server = new LoopbackServer((req, res) => this.#handle(req, res), tls)
  }

  /** @returns {string} */
  get url() {
    return this.server.origin
  }

  /** @returns {Promise<this>} */
  async start() {
    await this.server.start()
    return this
  }

  /** Faults this registry has injected so far. */
  faultsInjected = 0

  stop() {
    if (this.faultsInjected) recordFigures({ faultsInjected: this.faultsInjected })
    this.faultsInjected = 0
    return this.server.stop()
  }

  /**
   * Publishes one version (`1.0.0-linux-x64`, or a plain launcher version).
   * @param {string} fullVersion
   * @param {Buffer} tarball
   * @param {string} [integrity] a wrong one to test verification
   */
  publishVersion(fullVersion, tarball, integrity = integrityOf(tarball)) {
    this.published.set(fullVersion, { tarball, integrity })
  }

  /**
   * Publishes `<version>-<suffix>` and an empty plain launcher version beside it.
   * @param {string} version
   * @param {string} suffix
   * @param {Buffer} tarball
   * @param {string} [integrity]
   */
  publish(version, suffix, tarball, integrity) {
    this.publishVersion(`${version}-${suffix}`, tarball, integrity)
    if (!this.published.has(version)) this.publishVersion(version, Buffer.alloc(0))
  }

  /** @param {string} fullVersion */
  tarballPath(fullVersion) {
    return `/tarballs/codex-${fullVersion}.tgz`
  }

  /**
   * The number of requests whose path starts with `prefix`.
   * @param {string} prefix
   */
  requestsTo(prefix) {
    return this.server.requests.filter((r) => r.url.startsWith(prefix)).length
  }

  /**
   * @param {string} fullVersion
   * @param {Record<string, unknown>} [extra] fields of the real document (optionalDependencies, bin)
   * @returns {object}
   */
  #doc(fullVersion, extra = {}) {
    const entry = this.published.get(fullVersion)
    return {
      name: NAME,
      version: fullVersion,
      ...extra,
      dist: {
        integrity: entry?.integrity,
        tarball: `${this.tarballBase ?? this.url}${this.tarballPath(fullVersion)}`,
        unpackedSize: this.unpackedSizes.get(fullVersion)
      }
    }
  }

  /** @type {Map<string, number>} the `dist.unpackedSize` declared per full version (none by default) */
  unpackedSizes = new Map()

  /** @type {Map<string, Record<string, unknown>>} extra fields per version, for a real package */
  extraFields = new Map()

  /**
   * @param {import('node:http').IncomingMessage} req
   * @param {import('node:http').ServerResponse} res
   * @returns {Promise<void>}
   */
  async #handle(req, res) {
    const url = req.url ?? ''
    for (const [prefix, fault] of this.faults) {
      if (!url.startsWith(prefix)) continue
      const hit = (this.#hits.get(prefix) ?? 0) + 1
      this.#hits.set(prefix, hit)
      if (await fault(req, res, hit)) {
        this.faultsInjected++
        return
      }
    }
    if (url === `/-/package${ENCODED}/dist-tags`) return sendJson(res, 200, this.distTags)
    if (url === ENCODED) {
      /** @type {Record<string, object>} */
      const versions = {}
      for (const version of this.published.keys()) versions[version] = this.#doc(version, this.extraFields.get(version))
      return sendJson(res, 200, { name: NAME, 'dist-tags': this.distTags, versions })
    }
    if (url.startsWith(`${ENCODED}/`)) {
      const version = decodeURIComponent(url.slice(ENCODED.length + 1))
      return this.published.has(version)
        ? sendJson(res, 200, this.#doc(version, this.extraFields.get(version)))
        : sendJson(res, 404, { error: 'version not found' })
    }
    const tarball = [...this.published.keys()].find((v) => this.tarballPath(v) === url)
    if (tarball) {
      const data = /** @type {{ tarball: Buffer }} */ (this.published.get(tarball)).tarball
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(data.length) })
      res.end(data)
      return
    }
    sendJson(res, 404, { error: 'not found' })
  }
}
