/**
 * An npm registry on loopback serving `@openai/codex`: the packument (full and
 * abbreviated), per-version documents, dist-tags and tarballs, with hooks for faults.
 */
import type * as http from 'node:http'
import { integrityOf } from './fake-package.js'
import { LoopbackServer, sendJson, type TlsIdentity } from './servers.js'

const NAME = '@openai/codex'
const ENCODED = '/@openai%2fcodex'

interface Published {
  tarball: Buffer
  integrity: string
}

/** Answers a request itself (return true) or lets the registry answer (false). */
export type Fault = (req: http.IncomingMessage, res: http.ServerResponse, hit: number) => boolean | Promise<boolean>

export class FakeRegistry {
  readonly server: LoopbackServer
  readonly published = new Map<string, Published>()
  readonly distTags: Record<string, string> = {}
  /** Faults by path prefix; `hit` counts the requests for that prefix so far (1 = first). */
  readonly faults = new Map<string, Fault>()
  private readonly hits = new Map<string, number>()

  constructor(tls?: TlsIdentity) {
    this.server = new LoopbackServer((req, res) => this.handle(req, res), tls)
  }

  get url(): string {
    return this.server.origin
  }

  async start(): Promise<this> {
    await this.server.start()
    return this
  }

  stop(): Promise<void> {
    return this.server.stop()
  }

  /** Publishes `<version>-<suffix>` (and the plain launcher version, as npm has it). */
  publish(version: string, suffix: string, tarball: Buffer, integrity = integrityOf(tarball)): void {
    this.published.set(`${version}-${suffix}`, { tarball, integrity })
    this.published.set(version, { tarball: Buffer.alloc(0), integrity: integrityOf(Buffer.alloc(0)) })
  }

  tarballPath(fullVersion: string): string {
    return `/tarballs/codex-${fullVersion}.tgz`
  }

  private doc(fullVersion: string): object {
    const entry = this.published.get(fullVersion)!
    return { name: NAME, version: fullVersion, dist: { integrity: entry.integrity, tarball: `${this.url}${this.tarballPath(fullVersion)}` } }
  }

  requestsTo(prefix: string): number {
    return this.server.requests.filter((r) => r.url.startsWith(prefix)).length
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = req.url ?? ''
    for (const [prefix, fault] of this.faults) {
      if (!url.startsWith(prefix)) continue
      const hit = (this.hits.get(prefix) ?? 0) + 1
      this.hits.set(prefix, hit)
      if (await fault(req, res, hit)) return
    }
    if (url === `/-/package${ENCODED}/dist-tags`) return sendJson(res, 200, this.distTags)
    if (url === ENCODED) {
      const versions: Record<string, object> = {}
      for (const version of this.published.keys()) versions[version] = this.doc(version)
      return sendJson(res, 200, { name: NAME, 'dist-tags': this.distTags, versions })
    }
    if (url.startsWith(`${ENCODED}/`)) {
      const version = decodeURIComponent(url.slice(ENCODED.length + 1))
      return this.published.has(version) ? sendJson(res, 200, this.doc(version)) : sendJson(res, 404, { error: 'version not found' })
    }
    const tarball = [...this.published.keys()].find((v) => this.tarballPath(v) === url)
    if (tarball) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' })
      res.end(this.published.get(tarball)!.tarball)
      return
    }
    sendJson(res, 404, { error: 'not found' })
  }
}
