/**
 * Installing the CLI through the bundled action from a fake registry on loopback: version
 * resolution, the tool cache, and every fault leaving the cache as it was.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { buildPackage, fakeCodexScript, HOST_SUFFIX } from './harness/fake-package.js'
import { FakeRegistry } from './harness/fake-registry.js'
import { TEST_API_KEY } from './harness/real-cli.js'
import { listFiles, Runner } from './harness/runner.js'

let registry: FakeRegistry
let runner: Runner

beforeEach(async () => {
  registry = await new FakeRegistry().start()
  for (const version of ['1.1.0', '1.2.0', '1.3.0', '2.0.0']) registry.publish(version, HOST_SUFFIX, await buildPackage({ version }))
  registry.distTags.latest = '1.3.0'
  registry.distTags.next = '2.0.0'
  runner = await Runner.create()
})

afterEach(async () => {
  await registry.stop()
  await runner.dispose()
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
  const main = await install()
  expect(main.errors).toEqual([])
  expect(main.outputs).toMatchObject({ 'codex-version': '1.3.0', 'cache-hit': 'false' })
  expect(registry.requestsTo('/@openai%2fcodex/1.3.0-')).toBe(1)
  expect(registry.requestsTo('/-/package/')).toBe(1)
  expect(registry.server.requests.filter((r) => r.url === '/@openai%2fcodex')).toHaveLength(0)

  const entry = path.join(runner.toolCache, 'codex', '1.3.0', process.arch)
  expect(await listFiles(runner.toolCache)).toEqual(
    ['codex', 'codex/1.3.0', `codex/1.3.0/${process.arch}`, `codex/1.3.0/${process.arch}.complete`, ...['bin', 'bin/codex', 'bin/codex-code-mode-host', 'codex-path', 'codex-path/rg', 'codex-resources', 'codex-resources/README'].map((f) => `codex/1.3.0/${process.arch}/${f}`)].sort()
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
  registry = await new FakeRegistry().start()
})

test('an unknown version names the newest available ones', async () => {
  await expectFailure({ 'codex-version': '9.9.9' }, /codex-version 9\.9\.9 matches no @openai\/codex release for .+\. Newest available: 2\.0\.0, 1\.3\.0, 1\.2\.0, 1\.1\.0\./)
})

test('an unknown dist-tag and an unsatisfiable range are clear errors', async () => {
  await expectFailure({ 'codex-version': 'nightly' }, /codex-version dist-tag nightly matches no @openai\/codex release/)
  await expectFailure({ 'codex-version': '>=3' }, /codex-version >=3 matches no/)
})

test('a tarball that does not match its integrity is not installed', async () => {
  registry.publish('1.3.0', HOST_SUFFIX, await buildPackage({ version: '1.3.0' }), 'sha512-' + Buffer.alloc(64).toString('base64'))
  await expectFailure({}, /does not match the sha512 integrity in the registry's metadata; nothing was installed/)
})

test('a tarball without the codex binary is not installed', async () => {
  registry.publish('1.3.0', HOST_SUFFIX, await buildPackage({ version: '1.3.0', withoutBinary: true }))
  await expectFailure({}, /has no vendor\/.+\/bin\/codex; nothing was installed/)
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
  await expectFailure({}, /Downloading the Codex CLI from http:\/\/127\.0\.0\.1:\d+\/tarballs\/.+ failed: HTTP 404 .+; nothing was installed/)
  expect(registry.requestsTo('/tarballs/')).toBe(1)
})

test('an unreachable registry is a clear error', async () => {
  await registry.stop()
  await expectFailure({}, /Reading @openai\/codex metadata from http:\/\/127\.0\.0\.1:\d+ failed: .*ECONNREFUSED.*Check registry-url/)
  registry = await new FakeRegistry().start()
}, 60_000)

test('two jobs installing into one tool cache at once both succeed, with one complete copy', async () => {
  const other = await Runner.create({ toolCache: runner.toolCache })
  try {
    const [a, b] = await Promise.all([install(), other.main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url })])
    expect([a.errors, b.errors]).toEqual([[], []])
    expect(await fs.readdir(runner.toolCache)).toEqual(['codex'])
    expect(await fs.readdir(path.join(runner.toolCache, 'codex', '1.3.0'))).toEqual([process.arch, `${process.arch}.complete`])
  } finally {
    await other.dispose()
  }
})

test('install: false uses the codex on PATH, and fails clearly without one', async () => {
  await expectFailure({ install: 'false' }, /install is false but no codex is on PATH/)
  const bin = path.join(runner.root, 'own-bin')
  await fs.mkdir(bin)
  await fs.writeFile(path.join(bin, 'codex'), fakeCodexScript('7.7.7'), { mode: 0o755 })
  const main = await runner.main({ 'api-key': TEST_API_KEY, install: 'false' }, { PATH: `${bin}:${process.env.PATH}` })
  expect(main.errors).toEqual([])
  expect(main.outputs).toMatchObject({ 'codex-version': '7.7.7', 'codex-path': path.join(bin, 'codex'), 'cache-hit': 'false' })
  expect(main.paths).toEqual([])
  expect(registry.server.requests).toHaveLength(0)
})
