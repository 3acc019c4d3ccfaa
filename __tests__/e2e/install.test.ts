/**
 * Installing the CLI through the bundled action from a fake registry on loopback: version
 * resolution, the tool cache, and every fault leaving the cache as it was.
 */
import { promises as fs } from 'node:fs'
import * as http from 'node:http'
import * as net from 'node:net'
import * as path from 'node:path'
import { buildPackage, fakeCodexScript, HOST_SUFFIX, standInCodex } from '../harness/fake-package.js'
import { FakeRegistry } from '../harness/fake-registry.js'
import { useRunners } from '../harness/lifecycle.js'
import { TEST_API_KEY, TEST_PAT } from '../harness/real-cli.js'
import { listFiles, type Runner } from '../harness/runner.js'

const runners = useRunners()
let registry: FakeRegistry
let runner: Runner

beforeEach(async () => {
  registry = await runners.serve(new FakeRegistry())
  for (const version of ['1.1.0', '1.2.0', '1.3.0', '2.0.0'])
    registry.publish(version, HOST_SUFFIX, await buildPackage({ version }))
  registry.distTags.latest = '1.3.0'
  registry.distTags.next = '2.0.0'
  runner = await runners.create()
})

function install(inputs: Record<string, string> = {}) {
  return runner.main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url, ...inputs })
}

async function expectFailure(inputs: Record<string, string>, message: RegExp) {
  const main = await install(inputs)
  expect(main.exitCode).toBe(1)
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).toMatch(message)
  expect(main.stdout + main.stderr).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/)
  expect(await listFiles(runner.toolCache)).toEqual([])
  expect(await runner.tempFiles()).toEqual([])
  return main
}

test('latest: one dist-tags lookup and one per-version document, then a cached install', async () => {
  // The tool cache's own bin on PATH: Codex without a jail (codex-isolation puts its wrapper first; jail.test.ts).
  const main = await install({ 'codex-isolation': 'none' })
  expect(main.errors).toEqual([])
  expect(main.outputs).toMatchObject({ 'codex-version': '1.3.0', 'cache-hit': 'false' })
  expect(registry.requestsTo('/@openai%2fcodex/1.3.0-')).toBe(1)
  expect(registry.requestsTo('/-/package/')).toBe(1)
  expect(registry.server.requests.filter((r) => r.url === '/@openai%2fcodex')).toHaveLength(0)

  const entry = path.join(runner.toolCache, 'codex', '1.3.0', process.arch)
  expect(await listFiles(runner.toolCache)).toEqual(
    [
      'codex',
      'codex/1.3.0',
      `codex/1.3.0/${process.arch}`,
      `codex/1.3.0/${process.arch}.complete`,
      ...[
        'bin',
        'bin/codex',
        'bin/codex-code-mode-host',
        'codex-path',
        'codex-path/rg',
        'codex-resources',
        'codex-resources/README'
      ].map((f) => `codex/1.3.0/${process.arch}/${f}`)
    ].sort()
  )
  expect(main.paths).toEqual([path.join(entry, 'codex-path'), path.join(entry, 'bin')])
  expect(await fs.readFile(path.join(entry, 'bin', 'codex'), 'utf8')).toBe(fakeCodexScript('1.3.0'))
  await runner.post()

  const again = await install({ 'codex-version': '1.3.0' })
  expect(again.outputs['cache-hit']).toBe('true')
  expect(registry.requestsTo('/tarballs/')).toBe(1)
})

test('a dist-tag, a range and an exact version each resolve to the right build', async () => {
  expect((await install({ 'codex-version': 'next' })).outputs['codex-version']).toBe('2.0.0')
  expect((await install({ 'codex-version': '^1.1' })).outputs['codex-version']).toBe('1.3.0')
  expect((await install({ 'codex-version': '~1.2.0' })).outputs['codex-version']).toBe('1.2.0')
  expect((await install({ 'codex-version': '1.1.0' })).outputs['codex-version']).toBe('1.1.0')
})

test('a range is answered from the tool cache without the network', async () => {
  await install({ 'codex-version': '1.2.0' })
  await registry.stop()
  const main = await install({ 'codex-version': '~1.2' })
  expect(main.errors).toEqual([])
  expect(main.outputs).toMatchObject({ 'codex-version': '1.2.0', 'cache-hit': 'true' })
})

test('an unknown version names the newest available ones', async () => {
  await expectFailure(
    { 'codex-version': '9.9.9' },
    /codex-version 9\.9\.9 matches no @openai\/codex release for .+\. Newest available: 2\.0\.0, 1\.3\.0, 1\.2\.0, 1\.1\.0\./
  )
})

test('an unknown dist-tag and an unsatisfiable range are clear errors', async () => {
  await expectFailure(
    { 'codex-version': 'nightly' },
    /codex-version dist-tag nightly matches no @openai\/codex release/
  )
  await expectFailure({ 'codex-version': '>=3' }, /codex-version >=3 matches no/)
})

test('a tarball that does not match its integrity is not installed', async () => {
  registry.publish(
    '1.3.0',
    HOST_SUFFIX,
    await buildPackage({ version: '1.3.0' }),
    'sha512-' + Buffer.alloc(64).toString('base64')
  )
  await expectFailure({}, /does not match the sha512 integrity in the registry's metadata; nothing was installed/)
})

test('a tarball without the codex binary is not installed', async () => {
  registry.publish('1.3.0', HOST_SUFFIX, await buildPackage({ version: '1.3.0', withoutBinary: true }))
  await expectFailure({}, /has no vendor\/.+\/bin\/codex; nothing was installed/)
})

test('a tarball that unpacks past its declared unpackedSize stops there, and nothing is installed', async () => {
  const padding = 40 << 20
  registry.publish('1.3.0', HOST_SUFFIX, await buildPackage({ version: '1.3.0', paddingBytes: padding }))
  registry.unpackedSizes.set(`1.3.0-${HOST_SUFFIX}`, 1000)
  await expectFailure(
    {},
    /The Codex CLI tarball .+ unpacks to more than 16 MiB \(the registry declares 1000 bytes; no build may exceed 2048 MiB\); extraction stopped and nothing was installed\. A broken or rogue mirror may serve it: check registry-url\./
  )

  // Declared truthfully, the same tarball installs.
  registry.unpackedSizes.set(`1.3.0-${HOST_SUFFIX}`, padding + 4096)
  const main = await install()
  expect(main.errors).toEqual([])
})

test('a truncated tarball is not installed', async () => {
  const full = await buildPackage({ version: '1.3.0' })
  registry.publish('1.3.0', HOST_SUFFIX, full.subarray(0, full.length - 200))
  await expectFailure({}, /tarball is corrupt or truncated/)
})

test('a 503 on the tarball is retried', async () => {
  registry.faults.set('/tarballs/', (_req, res, hit) => {
    if (hit > 1) return false
    res.writeHead(503, { 'retry-after': '0' })
    res.end()
    return true
  })
  const main = await install()
  expect(main.errors).toEqual([])
  expect(main.stdout).toMatch(/HTTP 503 .*retrying in 0\.0 s \(attempt 2 of 4\)/)
  expect(main.outputs['codex-version']).toBe('1.3.0')
})

test('a 404 on the tarball is not retried and leaves nothing behind', async () => {
  registry.faults.set('/tarballs/', (_req, res) => {
    res.writeHead(404)
    res.end()
    return true
  })
  await expectFailure(
    {},
    /Downloading the Codex CLI from http:\/\/127\.0\.0\.1:\d+\/tarballs\/.+ failed: HTTP 404 .+; nothing was installed/
  )
  expect(registry.requestsTo('/tarballs/')).toBe(1)
})

test('an unreachable registry is a clear error', async () => {
  await registry.stop()
  await expectFailure(
    {},
    /Reading @openai\/codex metadata from http:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED.*Check registry-url/
  )
}, 60_000)

test('two jobs installing into one tool cache at once both succeed, with one complete copy', async () => {
  const other = await runners.create({ toolCache: runner.toolCache })
  const [a, b] = await Promise.all([install(), other.main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url })])
  expect([a.errors, b.errors]).toEqual([[], []])
  expect(await fs.readdir(runner.toolCache)).toEqual(['codex'])
  expect(await fs.readdir(path.join(runner.toolCache, 'codex', '1.3.0'))).toEqual([
    process.arch,
    `${process.arch}.complete`
  ])
})

describe('a tool-cache entry without .complete at the target', () => {
  const entry = () => path.join(runner.toolCache, 'codex', '1.3.0', process.arch)

  /** Leaves `files` (path → content) where the entry goes, as a job killed mid-install might. */
  async function plant(files: Record<string, string>) {
    for (const [file, content] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(entry(), file)), { recursive: true })
      await fs.writeFile(path.join(entry(), file), content, { mode: 0o755 })
    }
  }

  test.each([
    ['a partial tree without the binary', { 'codex-resources/README': 'half\n' }],
    ['a binary that does not run', { 'bin/codex': '#!/bin/sh\nexit 1\n' }],
    ["another version's binary", { 'bin/codex': fakeCodexScript('9.9.9') }]
  ])('%s is replaced by the verified copy, atomically, and then marked complete', async (_what, files) => {
    await plant(files)
    const main = await install()
    expect(main.errors).toEqual([])
    expect(main.outputs).toMatchObject({ 'codex-version': '1.3.0', 'cache-hit': 'false' })
    expect(await fs.readFile(path.join(entry(), 'bin', 'codex'), 'utf8')).toBe(fakeCodexScript('1.3.0'))
    expect(await fs.readdir(path.join(entry(), 'codex-resources'))).toEqual(['README'])
    expect((await fs.readdir(runner.toolCache)).sort()).toEqual(['codex'])
    expect(await fs.readdir(path.dirname(entry()))).toEqual([process.arch, `${process.arch}.complete`])
    await runner.post()
    expect((await install({ 'codex-version': '1.3.0' })).outputs['cache-hit']).toBe('true')
  })

  test('a whole tree that runs (a job killed before it marked it) is kept and marked complete', async () => {
    const theirs = `${fakeCodexScript('1.3.0')}# theirs\n`
    await plant({ 'bin/codex': theirs })
    const main = await install()
    expect(main.errors).toEqual([])
    expect(await fs.readFile(path.join(entry(), 'bin', 'codex'), 'utf8')).toBe(theirs)
    expect(await fs.readdir(path.dirname(entry()))).toEqual([process.arch, `${process.arch}.complete`])
    expect((await fs.readdir(runner.toolCache)).sort()).toEqual(['codex'])
  })

  test('a tarball whose codex does not run is never cached', async () => {
    registry.publish('1.3.0', HOST_SUFFIX, await buildPackage({ version: '1.3.0', codexScript: '#!/bin/sh\nexit 1\n' }))
    await expectFailure(
      {},
      /The Codex CLI in .+ does not run here or does not report version 1\.3\.0 \(`codex --version`\); nothing was installed\./
    )
  })
})

test('install: false uses the codex on PATH, and fails clearly without one', async () => {
  await expectFailure({ install: 'false' }, /install is false but no codex is on PATH/)
  const { bin, env } = await standInCodex(runner.root, fakeCodexScript('7.7.7'))
  // The codex found on PATH is the output: Codex without a jail (the jail's wrapper is jail.test.ts's).
  const main = await runner.main({ 'api-key': TEST_API_KEY, install: 'false', 'codex-isolation': 'none' }, env)
  expect(main.errors).toEqual([])
  expect(main.outputs).toMatchObject({
    'codex-version': '7.7.7',
    'codex-path': path.join(bin, 'codex'),
    'cache-hit': 'false'
  })
  expect(main.paths).toEqual([])
  expect(registry.server.requests).toHaveLength(0)
})

describe('network faults', () => {
  /** Answers the first `times` tarball requests with `status`. */
  function failTarball(times: number, status: number, headers: Record<string, string> = { 'retry-after': '0' }) {
    registry.faults.set('/tarballs/', (_req, res, hit) => {
      if (hit > times) return false
      res.writeHead(status, headers)
      res.end()
      return true
    })
  }

  /** The first tarball request sends half the body, then `then` decides what happens to the connection. */
  function halfBody(then: (res: import('node:http').ServerResponse) => void) {
    registry.faults.set('/tarballs/', (_req, res, hit) => {
      if (hit > 1) return false
      const tarball = registry.published.get(`1.3.0-${HOST_SUFFIX}`)!.tarball
      res.writeHead(200, { 'content-length': String(tarball.length) })
      res.write(tarball.subarray(0, tarball.length >> 1))
      then(res)
      return true
    })
  }

  test('a 500 that never recovers: four attempts, then a clear error and nothing cached', async () => {
    failTarball(10, 500)
    await expectFailure(
      {},
      /Downloading the Codex CLI from .+ failed: HTTP 500 from .+; nothing was installed\. Check registry-url/
    )
    expect(registry.requestsTo('/tarballs/')).toBe(4)
  })

  test('429 with Retry-After: the wait the server asks for', async () => {
    failTarball(1, 429, { 'retry-after': '1' })
    const main = await install()
    expect(main.errors).toEqual([])
    expect(main.stdout).toMatch(/HTTP 429 .*rate-limited by the registry.*retrying in 1\.0 s \(attempt 2 of 4\)/)
  })

  test('408 and 502 on the metadata are retried', async () => {
    let n = 0
    registry.faults.set('/@openai%2fcodex/', (_req, res) => {
      if (++n > 2) return false
      res.writeHead(n === 1 ? 408 : 502, { 'retry-after': '0' })
      res.end()
      return true
    })
    const main = await install({ 'codex-version': '1.2.0' })
    expect(main.errors).toEqual([])
    expect(main.stdout.match(/retrying in/g)).toHaveLength(2)
  })

  test('a connection reset mid-body is retried from the start, into a fresh staging directory', async () => {
    halfBody((res) => setTimeout(() => res.socket?.destroy(), 50))
    const main = await install()
    expect(main.errors).toEqual([])
    expect(main.stdout).toMatch(/failed \(.*\); retrying in/)
    expect(registry.requestsTo('/tarballs/')).toBe(2)
    expect((await fs.readdir(runner.toolCache)).sort()).toEqual(['codex'])
  })

  test('a body that stalls is abandoned after network-idle-timeout and retried', async () => {
    let stalled: import('node:http').ServerResponse | undefined
    halfBody((res) => (stalled = res))
    const started = Date.now()
    const main = await install({ 'network-idle-timeout': '1' })
    stalled?.destroy()
    expect(main.errors).toEqual([])
    expect(main.stdout).toMatch(/UND_ERR_BODY_TIMEOUT|timeout/i)
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(registry.requestsTo('/tarballs/')).toBe(2)
  })

  test('a stall on every attempt ends in an error, with nothing cached', async () => {
    const open: import('node:http').ServerResponse[] = []
    registry.faults.set('/tarballs/', (_req, res) => {
      res.writeHead(200, { 'content-length': '1000000' })
      res.write(Buffer.from([0x1f, 0x8b]))
      open.push(res)
      return true
    })
    await expectFailure(
      { 'network-idle-timeout': '1' },
      /Downloading the Codex CLI from .+ failed: .*(timeout|TIMEOUT).*; nothing was installed/
    )
    for (const res of open) res.destroy()
    expect(registry.requestsTo('/tarballs/')).toBe(4)
  }, 60_000)

  test('a connection closed right after the headers, every time: four attempts, then one error and nothing cached', async () => {
    registry.faults.set('/tarballs/', (_req, res) => {
      res.writeHead(200, { 'content-length': '1000000' })
      res.flushHeaders()
      res.socket?.destroy()
      return true
    })
    await expectFailure({}, /Downloading the Codex CLI from .+ failed: .+; nothing was installed/)
    expect(registry.requestsTo('/tarballs/')).toBe(4)
  }, 60_000)

  test('network-idle-timeout must be a number of seconds', async () => {
    await expectFailure(
      { 'network-idle-timeout': 'soon' },
      /network-idle-timeout must be a number from 1 to 600, not "soon"/
    )
  })
})

describe('registry-token', () => {
  test("is sent to the registry's host only, never to another host a tarball address names", async () => {
    const token = 'npm_privateMirrorToken0123456789'
    const main = await install({ 'registry-token': token })
    expect(main.errors).toEqual([])
    expect(main.stdout.split('\n').filter((l) => l.includes(token))).toEqual([`::add-mask::${token}`])
    for (const request of registry.server.requests) expect(request.headers.authorization).toBe(`Bearer ${token}`)

    const elsewhere = await runners.serve(new FakeRegistry())
    elsewhere.publish('1.2.0', HOST_SUFFIX, registry.published.get(`1.2.0-${HOST_SUFFIX}`)!.tarball)
    registry.tarballBase = elsewhere.url
    const other = await install({ 'registry-token': token, 'codex-version': '1.2.0' })
    expect(other.errors).toEqual([])
    expect(elsewhere.requestsTo('/tarballs/')).toBe(1)
    expect(elsewhere.server.requests.map((r) => r.headers.authorization)).toEqual([undefined])
  })

  test('a 401 from a private registry says to check registry-token', async () => {
    registry.faults.set('/', (_req, res) => {
      res.writeHead(401)
      res.end()
      return true
    })
    await expectFailure({}, /HTTP 401 .*the registry refused access \(a private mirror may need registry-token/)
  })
})

describe('plain http beyond this machine', () => {
  /** An HTTP_PROXY on loopback whose tunnels, to whatever host, all lead to the fake registry. */
  class MirrorProxy {
    readonly connects: string[] = []
    readonly server = http.createServer((_req, res) => res.writeHead(405).end())
    readonly origin = () => `http://127.0.0.1:${(this.server.address() as import('node:net').AddressInfo).port}`
    constructor() {
      this.server.on('connect', (req: http.IncomingMessage, client: import('node:net').Socket) => {
        this.connects.push(req.url ?? '')
        const upstream = net.connect(registry.server.port, '127.0.0.1', () => {
          client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
          upstream.pipe(client)
          client.pipe(upstream)
        })
        for (const socket of [upstream, client]) socket.on('error', () => undefined)
      })
    }
  }

  let proxy: MirrorProxy
  beforeEach(async () => {
    proxy = new MirrorProxy()
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve))
  })
  afterEach(async () => {
    proxy.server.closeAllConnections()
    await new Promise((resolve) => proxy.server.close(resolve))
  })

  const MIRROR = 'http://mirror.example.com:4873'
  const TOKEN = 'npm_privateMirrorToken0123456789'

  const warnings = (stdout: string) => stdout.split('\n').filter((line) => line.startsWith('::warning'))

  test('a registry-url there works, with one warning that says what plain http exposes', async () => {
    registry.tarballBase = MIRROR
    const main = await runner.main({ 'api-key': TEST_API_KEY, 'registry-url': MIRROR }, { HTTP_PROXY: proxy.origin() })
    expect(main.errors).toEqual([])
    expect(main.outputs['codex-version']).toBe('1.3.0')
    expect(proxy.connects).toContain('mirror.example.com:4873')
    expect(registry.requestsTo('/tarballs/')).toBe(1)
    expect(warnings(main.stdout)).toEqual([
      `::warning::registry-url ${MIRROR} is plain http to a host other than this machine: registry-token would travel in cleartext if it were sent, and the tarball's dist.integrity arrives over the same channel, so it proves nothing. Use an https address for registry-url.`
    ])
  })

  test('registry-token is never sent there: a clear error before any request', async () => {
    const main = await runner.main(
      { 'api-key': TEST_API_KEY, 'registry-url': MIRROR, 'registry-token': TOKEN },
      { HTTP_PROXY: proxy.origin() }
    )
    expect(main.exitCode).toBe(1)
    expect(main.errors).toEqual([
      `::error::registry-url ${MIRROR} is plain http to a host other than this machine, so registry-token would travel in cleartext; nothing was sent. Use an https address for registry-url.`
    ])
    expect(proxy.connects).toEqual([])
    expect(await listFiles(runner.toolCache)).toEqual([])
  })

  test('nor over a loopback registry-url reached through a proxy on another host', async () => {
    const main = await runner.main(
      { 'api-key': TEST_API_KEY, 'registry-url': registry.url, 'registry-token': TOKEN },
      { HTTP_PROXY: 'http://proxy.example.com:3128' }
    )
    expect(main.errors).toEqual([
      `::error::registry-url ${registry.url} is plain http through the proxy proxy.example.com:3128, beyond this machine, so registry-token would travel in cleartext; nothing was sent. Use an https address for registry-url.`
    ])
    expect(registry.server.requests).toEqual([])
  })

  // Codex sends the api-key to api-base-url with every request, so verify or not, it never goes there.
  test.each<Record<string, string>>([{}, { verify: 'true' }])(
    'the api-key is never sent to an api-base-url there (%p)',
    async (extra) => {
      const apiBase = 'http://api.example.com/v1'
      const refused = await runner.main(
        { 'api-key': TEST_API_KEY, 'api-base-url': apiBase, ...extra },
        { HTTP_PROXY: proxy.origin() }
      )
      expect(refused.errors).toEqual([
        `::error::api-base-url http://api.example.com is plain http to a host other than this machine, so api-key would travel in cleartext; nothing was sent. Use an https address for api-base-url.`
      ])
      expect(proxy.connects).toEqual([])
      expect(registry.server.requests).toEqual([])
    }
  )

  test('with another credential, such an api-base-url is a warning, and so is any api-base-url at all', async () => {
    const warned = await runner.main({
      'access-token': TEST_PAT,
      // Codex's own login: the key proxy would check the token at AuthAPI, which is not here.
      'key-isolation': 'none',
      'api-base-url': 'http://api.example.com/v1',
      'registry-url': registry.url
    })
    expect(warned.errors).not.toContainEqual(expect.stringMatching(/cleartext/))
    expect(warnings(warned.stdout)).toEqual([
      '::warning::api-base-url http://api.example.com is plain http to a host other than this machine: api-key would travel in cleartext if it were sent, and its answers (whether a key is accepted) can be forged on the way. Use an https address for api-base-url.',
      '::warning::api-base-url is set, but it is the endpoint of an api-key only: with access-token, Codex talks to OpenAI as usual. Remove api-base-url, or log in with an api-key for that endpoint.'
    ])
  })

  test('loopback over plain http is silent', async () => {
    const main = await install({ 'api-base-url': 'http://localhost:9/v1', 'registry-token': TOKEN })
    expect(main.errors).toEqual([])
    expect(warnings(main.stdout)).toEqual([])
  })
})
