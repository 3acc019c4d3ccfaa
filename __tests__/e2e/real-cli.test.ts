/**
 * The whole action against the real Codex CLI: installed from the npm registry by the
 * bundled action, logged in, used by a later step against a fake Responses API on
 * loopback, and logged out by the post step.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { FakeOpenAI, REPLY } from '../harness/fake-openai.js'
import { useRunners } from '../harness/lifecycle.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY, TEST_PAT } from '../harness/real-cli.js'
import { listFiles } from '../harness/runner.js'

let openai: FakeOpenAI
const runners = useRunners()
const servers = useRunners({ scope: 'all' })
const newRunner = () => runners.create({ toolCache: sharedToolCache() })

beforeAll(async () => {
  openai = await servers.serve(new FakeOpenAI({ acceptedTokens: [TEST_PAT] }))
})

/** Every file below `dir` whose content holds `secret`. */
async function filesHolding(dir: string, secret: string): Promise<string[]> {
  const hits: string[] = []
  for (const file of await listFiles(dir)) {
    const full = path.join(dir, file)
    const stat = await fs.lstat(full)
    if (stat.isFile() && stat.size < 1_000_000 && (await fs.readFile(full, 'utf8')).includes(secret)) hits.push(file)
  }
  return hits
}

/**
 * The secret appears in the output only in its ::add-mask:: line, which comes before any
 * other line (masks of values made later, such as a helper's stop token, may follow).
 */
function expectMaskedOnly(stdout: string, stderr: string, secret: string): void {
  const lines = stdout.split('\n')
  const mask = lines.indexOf(`::add-mask::${secret}`)
  expect(mask).toBeGreaterThanOrEqual(0)
  expect(lines.slice(0, mask).every((line) => line.startsWith('::add-mask::'))).toBe(true)
  expect(lines.filter((line) => !line.startsWith('::add-mask::') && line.includes(secret))).toEqual([])
  expect(stderr).not.toContain(secret)
}

test('api-key: a later step runs codex exec, authenticated with the key; the post step logs out', async () => {
  const runner = await newRunner()
  // The login path (auth.json, codex login status, logout): key-isolation none. Codex then talks to
  // the loopback upstream itself, through the jail's relay (api-base-url names its port).
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'api-base-url': openai.apiBaseUrl,
    'codex-version': CODEX_VERSION,
    'key-isolation': 'none'
  })
  expect(main.errors).toEqual([])
  expect(main.exitCode).toBe(0)
  expectMaskedOnly(main.stdout, main.stderr, TEST_API_KEY)

  const home = main.outputs['codex-home']
  expect(main.outputs).toMatchObject({ 'codex-version': CODEX_VERSION, 'auth-mode': 'api-key' })
  expect(main.outputs['credential-fingerprint']).toMatch(/^sha256:[0-9a-f]{16}$/)
  expect(main.outputs['cache-hit']).toMatch(/^(true|false)$/)
  // The codex of later steps is the jail's wrapper (codex-isolation: auto), in the job's RUNNER_TEMP.
  expect(path.relative(runner.temp, main.outputs['codex-path'])).toMatch(/^codex-jail-[^/]+\/bin\/codex$/)
  expect(main.exported).toEqual({ CODEX_HOME: home })
  expect(path.dirname(home)).toBe(runner.temp)
  expect((await fs.stat(home)).mode & 0o777).toBe(0o700)
  expect((await fs.stat(path.join(home, 'auth.json'))).mode & 0o777).toBe(0o600)
  expect((await fs.stat(path.join(home, 'config.toml'))).mode & 0o777).toBe(0o600)
  expect(main.summary).toContain(main.outputs['credential-fingerprint'])

  const version = await runner.run('codex', ['--version'])
  expect(version.stdout).toContain(CODEX_VERSION)
  const status = await runner.run('codex', ['login', 'status'])
  expect(status.exitCode).toBe(0)

  const before = openai.authorizations().length
  const exec = await runner.run('codex', openai.execArgs(), { timeoutMs: 90_000 })
  expect(exec.timedOut).toBe(false)
  expect(exec.stdout).toContain(REPLY)
  expect(openai.authorizations().slice(before)).toContain(`Bearer ${TEST_API_KEY}`)

  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(post.stdout).not.toContain('::warning::')
  await expect(fs.access(home)).rejects.toThrow()
  // The jail's wrapper went with the job's RUNNER_TEMP; the CLI itself finds no login either.
  await expect(fs.access(main.outputs['codex-path'])).rejects.toThrow()
  const cli = path.join(runner.toolCache, 'codex', CODEX_VERSION, process.arch, 'bin', 'codex')
  const after = await runner.run(cli, ['login', 'status'], { env: { CODEX_HOME: home } })
  expect(after.exitCode).not.toBe(0)
  expect(await filesHolding(runner.root, TEST_API_KEY)).toEqual([])
})

test('export-env: CODEX_API_KEY is exported and codex exec uses it', async () => {
  const runner = await newRunner()
  // Codex talks to the loopback upstream itself (no key proxy with export-env), through the jail's relay.
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'api-base-url': openai.apiBaseUrl,
    'codex-version': CODEX_VERSION,
    'export-env': 'true'
  })
  expect(main.errors).toEqual([])
  expect(main.exported).toMatchObject({ CODEX_API_KEY: TEST_API_KEY })
  expectMaskedOnly(main.stdout, main.stderr, TEST_API_KEY)
  // Without auth.json, codex exec authenticates with the exported variable alone.
  await fs.rm(path.join(main.outputs['codex-home'], 'auth.json'))
  const before = openai.authorizations().length
  const exec = await runner.run('codex', openai.execArgs(), { timeoutMs: 90_000 })
  expect(exec.stdout).toContain(REPLY)
  expect(openai.authorizations().slice(before)).toContain(`Bearer ${TEST_API_KEY}`)
  await runner.post()
})

test.each([
  ['a personal access token', () => TEST_PAT, '/authapi/v1/user-auth-credential/whoami'],
  ['an agent identity JWT', () => openai.issuer.token(), '/identity/agent-identities/jwks']
])('access-token (%s): logged in and confirmed against its check', async (_kind, token, check) => {
  const runner = await newRunner()
  const env = openai.authEnv()
  const secret = token()
  const asked = openai.server.requests.filter((r) => r.url.startsWith(check)).length
  // An agent identity JWT stays with Codex, whose login status asks the loopback JWKS itself: codex-network: open.
  const main = await runner.main(
    { 'access-token': secret, 'codex-version': CODEX_VERSION, 'codex-network': 'open' },
    env
  )
  expect(main.errors).toEqual([])
  expect(main.outputs['auth-mode']).toBe('access-token')
  expectMaskedOnly(main.stdout, main.stderr, secret)
  expect(openai.server.requests.filter((r) => r.url.startsWith(check)).length).toBeGreaterThan(asked)
  // A personal access token is held by the key proxy: Codex asks the AuthAPI the action exported (the proxy's).
  const status = await runner.run('codex', ['login', 'status'], { env: secret.startsWith('at-') ? {} : env })
  expect(status.exitCode).toBe(0)
  await runner.post()
  expect(await filesHolding(runner.root, secret)).toEqual([])
})

test("a rejected access token: one clear error with the CLI's reason, and no credential left", async () => {
  const runner = await newRunner()
  const rejected = 'at-revokedTokenForTheTest0123456789'
  // key-isolation: none: the CLI's own login and its reason (the key proxy's check is access-token-proxy.test's).
  const main = await runner.main(
    { 'access-token': rejected, 'codex-version': CODEX_VERSION, 'key-isolation': 'none' },
    openai.authEnv()
  )
  expect(main.exitCode).toBe(1)
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).toMatch(/codex login rejected the access-token: .+\. Check that the access-token secret/)
  expect(main.stdout).toContain('Codex login diagnostics')
  expectMaskedOnly(main.stdout, main.stderr, rejected)
  expect(main.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::') && l.includes('at-revo'))).toEqual([])
  expect(main.exported).toEqual({})
  // Only the redacted login log is kept, for an upload step, until the post step.
  const log = main.outputs['login-log']
  expect((await fs.stat(log)).mode & 0o777).toBe(0o600)
  expect((await fs.stat(path.dirname(log))).mode & 0o777).toBe(0o700)
  expect(await runner.tempFiles()).toEqual([
    path.basename(path.dirname(log)),
    path.join(path.basename(path.dirname(log)), 'codex-login.log')
  ])
  expect(await fs.readFile(log, 'utf8')).toMatch(/starting access token login flow/)
  expect(await filesHolding(runner.root, rejected)).toEqual([])
  await runner.post()
  expect(await runner.tempFiles()).toEqual([])
})
