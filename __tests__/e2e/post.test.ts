/** The post step removes exactly what the main step created, whatever happened to it. */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { HOST_SUFFIX, registryWithRelease, rejectingCodexScript, standInCodex } from '../harness/fake-package.js'
import type { FakeRegistry } from '../harness/fake-registry.js'
import { useRunners } from '../harness/lifecycle.js'
import { TEST_API_KEY } from '../harness/real-cli.js'
import { listFiles, type Runner } from '../harness/runner.js'

const runners = useRunners()
let registry: FakeRegistry
let runner: Runner

beforeEach(async () => {
  registry = runners.stopAfter(await registryWithRelease('1.0.0'))
  runner = await runners.create()
})

test('an action-owned CODEX_HOME is removed whole; a second post step is harmless', async () => {
  // What the post step removes after a login: key-isolation none, so that auth.json exists.
  const main = await runner.main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url, 'key-isolation': 'none' })
  expect(main.errors).toEqual([])
  const home = main.outputs['codex-home']
  expect(await fs.readdir(home)).toEqual(expect.arrayContaining(['auth.json', 'config.toml']))
  await fs.mkdir(path.join(home, 'shell_snapshots'))
  await fs.writeFile(path.join(home, 'shell_snapshots', 'snap.sh'), `export CODEX_API_KEY=${TEST_API_KEY}`)

  for (let i = 0; i < 2; i++) {
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(post.stdout).not.toMatch(/::(warning|error)::/)
    expect(await runner.tempFiles()).toEqual([])
  }
  expect(await listFiles(path.join(runner.toolCache, 'codex'))).toContain(`1.0.0/${process.arch}/bin/codex`)
})

test("a codex-home the user named is kept, with only the action's files removed", async () => {
  const home = path.join(runner.root, 'my-codex-home')
  await fs.mkdir(path.join(home, 'sessions'), { recursive: true })
  await fs.writeFile(path.join(home, 'sessions', 'keep.jsonl'), 'mine')
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'registry-url': registry.url,
    'codex-home': home,
    'key-isolation': 'none'
  })
  expect(main.errors).toEqual([])
  expect(main.outputs['codex-home']).toBe(home)
  expect(main.exported.CODEX_HOME).toBe(home)
  expect((await fs.readdir(home)).sort()).toEqual(['auth.json', 'config.toml', 'sessions', 'shell_snapshots'])
  await runner.post()
  expect(await listFiles(home)).toEqual(['sessions', 'sessions/keep.jsonl'])
})

test("a user's own config.toml in codex-home is left as it was", async () => {
  const home = path.join(runner.root, 'my-codex-home')
  await fs.mkdir(home)
  await fs.writeFile(path.join(home, 'config.toml'), 'model = "o3"\n')
  const main = await runner.main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url, 'codex-home': home })
  expect(main.errors).toEqual([])
  await runner.post()
  expect(await listFiles(home)).toEqual(['config.toml'])
  expect(await fs.readFile(path.join(home, 'config.toml'), 'utf8')).toBe('model = "o3"\n')
})

test('a failed login leaves nothing behind, and the post step after it is harmless', async () => {
  const { env } = await standInCodex(runner.root, rejectingCodexScript())
  const main = await runner.main({ 'api-key': TEST_API_KEY, install: 'false', 'key-isolation': 'none' }, env)
  expect(main.exitCode).toBe(1)
  expect(main.errors).toEqual([
    expect.stringMatching(/^::error::codex login rejected the api-key: \*\*\*\. Check that the api-key secret/)
  ])
  expect(
    main.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::') && l.includes(TEST_API_KEY.slice(-5)))
  ).toEqual([])
  expect(await runner.tempFiles()).toEqual([])
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(post.stdout).not.toMatch(/::(warning|error)::/)
})

test('a main step killed mid-download: the post step removes its staging directory and CODEX_HOME', async () => {
  let release: () => void = () => undefined
  const tarball = registry.published.get(`1.0.0-${HOST_SUFFIX}`)!.tarball
  registry.faults.set('/tarballs/', async (_req, res) => {
    res.writeHead(200, { 'content-length': String(tarball.length) })
    res.write(tarball.subarray(0, tarball.length / 2))
    await new Promise<void>((resolve) => (release = resolve))
    res.destroy()
    return true
  })
  const main = runner.main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url }, {}, 5_000)
  // Wait for the download to start, then let the runner's timeout kill the step.
  const result = await main
  release()
  expect(result.stdout).toMatch(/Downloading /)
  expect(result.timedOut).toBe(true)
  expect((await fs.readdir(runner.toolCache)).filter((f) => f.startsWith('.codex-staging-'))).toHaveLength(1)
  expect(await runner.tempFiles()).not.toEqual([])
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(await listFiles(runner.toolCache)).toEqual([])
  expect(await runner.tempFiles()).toEqual([])
})

test('the post step with no saved state does nothing and succeeds', async () => {
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(post.stdout).toBe('')
})
