/**
 * CODEX_HOME and the CLI's environment, through the bundled action with a stand-in codex:
 * a codex-home the user names is left byte for byte as it was found, and the CLI never
 * sees a secret but on stdin.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { fakeCodexScript, rejectingCodexScript, standInCodex } from '../harness/fake-package.js'
import { useRunners } from '../harness/lifecycle.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { listFiles, type Runner } from '../harness/runner.js'

const runners = useRunners()
let runner: Runner

beforeEach(async () => {
  runner = await runners.create()
})

/** Every entry below `dir` with its type, mode and content: what "byte for byte" compares. */
async function snapshot(dir: string): Promise<Record<string, string>> {
  const entries: Record<string, string> = {}
  for (const name of await listFiles(dir)) {
    const file = path.join(dir, name)
    const stat = await fs.lstat(file)
    const mode = (stat.mode & 0o7777).toString(8)
    entries[name] = stat.isFile()
      ? `file ${mode} ${await fs.readFile(file, 'base64')}`
      : `${stat.isDirectory() ? 'dir' : 'other'} ${mode}`
  }
  return entries
}

/** Like the real CLI 0.171.0, also takes lock files and appends to log/codex-login.log in CODEX_HOME. */
const realisticCodex = fakeCodexScript('1.0.0').replace(
  '  login)\n',
  '  login)\n    : > "$CODEX_HOME/auth.lock"; mkdir -p "$CODEX_HOME/log"; echo "login $2" >> "$CODEX_HOME/log/codex-login.log"\n'
)

/** A codex-home with the things people keep in one. */
async function userHome(files: Record<string, string | null> = {}, root = runner.root): Promise<string> {
  const home = path.join(root, 'my-codex-home')
  const all = {
    'config.toml': 'model = "o3"\n',
    'log/codex-login.log': 'an old login\n',
    'sessions/keep.jsonl': 'mine\n',
    'auth.lock': '',
    ...files
  }
  for (const [name, content] of Object.entries(all)) {
    if (content === null) continue
    await fs.mkdir(path.dirname(path.join(home, name)), { recursive: true })
    await fs.writeFile(path.join(home, name), content)
  }
  return home
}

async function main(inputs: Record<string, string>, script = realisticCodex) {
  const { env } = await standInCodex(runner.root, script)
  return runner.main({ install: 'false', 'api-key': TEST_API_KEY, ...inputs }, env)
}

describe('a codex-home the user names', () => {
  test.each([
    ['a login', realisticCodex],
    ['a failed login', rejectingCodexScript()]
  ])(
    'is byte for byte as found after %s and the post step, while holding the login in between',
    async (what, script) => {
      const home = await userHome()
      const before = await snapshot(home)
      const result = await main({ 'codex-home': home }, script)
      if (what === 'a login') {
        expect(result.errors).toEqual([])
        const during = await snapshot(home)
        expect(JSON.parse(await fs.readFile(path.join(home, 'auth.json'), 'utf8'))).toEqual({ secret: TEST_API_KEY })
        expect(during['auth.json']).toMatch(/^file 600 /)
        expect(during['shell_snapshots']).toBe('dir 700')
        // The CLI's own files (lock files, the login log) are not written into the user's home.
        const { 'auth.json': _auth, shell_snapshots: _snapshots, ...rest } = during
        expect(rest).toEqual(before)
      } else {
        expect(result.exitCode).toBe(1)
        expect(await snapshot(home)).toEqual(before)
      }
      const post = await runner.post()
      expect(post.exitCode).toBe(0)
      expect(post.stdout).not.toMatch(/::(warning|error)::/)
      expect(await snapshot(home)).toEqual(before)
      expect(await runner.tempFiles()).toEqual([])
    }
  )

  test("is left as found by the real Codex CLI, whose lock files and login log go to the action's own home", async () => {
    const real = await runners.create({ toolCache: sharedToolCache() })
    const home = await userHome({}, real.root)
    const before = await snapshot(home)
    const result = await real.main({ 'api-key': TEST_API_KEY, 'codex-version': CODEX_VERSION, 'codex-home': home })
    expect(result.errors).toEqual([])
    const { 'auth.json': auth, shell_snapshots: snapshots, ...rest } = await snapshot(home)
    expect([auth.slice(0, 8), snapshots, rest]).toEqual(['file 600', 'dir 700', before])
    // The CLI made its login log in the action's own home (its writer may not have flushed a line yet).
    expect(result.outputs['login-log'].startsWith(`${real.temp}${path.sep}`)).toBe(true)
    await expect(fs.access(result.outputs['login-log'])).resolves.toBeUndefined()
    const status = await real.run('codex', ['login', 'status'], { timeoutMs: 60_000 })
    expect(status.exitCode).toBe(0)
    await real.post()
    expect(await snapshot(home)).toEqual(before)
  }, 60_000)

  test.each([
    ['auth.json', { 'auth.json': '{"auth_mode":"chatgpt"}' }],
    ['shell_snapshots', { 'shell_snapshots/mine.sh': 'export A=1\n' }]
  ])('that already holds %s is refused before anything is written, and left as it was', async (name, files) => {
    const home = await userHome(files)
    const before = await snapshot(home)
    const result = await main({ 'codex-home': home })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      expect.stringMatching(
        new RegExp(`^::error::codex-home .+ already holds ${name}, which the action does not overwrite or remove\\. `)
      )
    ])
    expect(await snapshot(home)).toEqual(before)
    await runner.post()
    expect(await snapshot(home)).toEqual(before)
    expect(await runner.tempFiles()).toEqual([])
  })

  test('whose config.toml is a directory is refused, and what it holds is kept', async () => {
    const home = await userHome({ 'config.toml': null, 'config.toml/important.txt': 'keep me' })
    const before = await snapshot(home)
    expect(before['config.toml/important.txt']).toBeDefined()
    const result = await main({ 'codex-home': home })
    expect(result.errors).toEqual([expect.stringMatching(/^::error::codex-home .+: its config\.toml is not a file\. /)])
    await runner.post()
    expect(await snapshot(home)).toEqual(before)
  })

  test('behind a symbolic link loop is a clear error, not a bug report', async () => {
    const loop = path.join(runner.root, 'loop')
    await fs.symlink(loop, loop)
    const result = await main({ 'codex-home': path.join(loop, 'home') })
    expect(result.errors).toEqual([expect.stringMatching(/^::error::codex-home .+ cannot be used \(ELOOP: /)])
    await runner.post()
    expect(await runner.tempFiles()).toEqual([])
  })

  test.each([
    ['a login', realisticCodex],
    ['a failed login', rejectingCodexScript()]
  ])('that did not exist is created, and removed whole with the parents it needed after %s', async (what, script) => {
    const top = path.join(runner.root, 'new')
    const home = path.join(top, 'codex', 'home')
    // About the login's paths: key-isolation none, so that a login runs.
    const result = await main({ 'codex-home': home, 'key-isolation': 'none' }, script)
    if (what === 'a login') {
      expect(result.errors).toEqual([])
      expect((await fs.stat(home)).mode & 0o777).toBe(0o700)
      expect(await listFiles(home)).toEqual(expect.arrayContaining(['auth.json', 'config.toml']))
    } else {
      expect(result.exitCode).toBe(1)
      await expect(fs.access(top)).rejects.toThrow()
    }
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    await expect(fs.access(top)).rejects.toThrow()
    expect(await runner.tempFiles()).toEqual([])
  })
})

test('the CLI gets no input, no runner token and no competing credential in its environment or argv; the key on stdin only', async () => {
  const record = path.join(runner.root, 'cli-calls')
  const recording = fakeCodexScript('1.0.0').replace(
    'case "$1" in',
    `{ echo "argv: $*"; env; echo; } >> '${record}'\ncase "$1" in`
  )
  const second = `${TEST_API_KEY}Second`
  const secrets = {
    'api-key': `${TEST_API_KEY}\n${second}`,
    'registry-token': 'registry-token-0123456789abcdef'
  }
  const environment = {
    ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/oidc',
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'id-token-request-0123456789',
    ACTIONS_RUNTIME_TOKEN: 'runtime-token-0123456789',
    ACTIONS_RESULTS_URL: 'http://127.0.0.1:9/results',
    CODEX_API_KEY: 'sk-competing-0123456789abcdef',
    CODEX_ACCESS_TOKEN: 'at-competing0123456789abcdef',
    OPENAI_API_KEY: 'sk-openai-competing-0123456789',
    OPENAI_FEDERATION_RULE_ID: 'idpm_competingRule',
    OPENAI_IDENTITY_TOKEN_FILE: '/competing/token'
  }
  const { env } = await standInCodex(runner.root, recording)
  // Without a jail: with one, --version runs only inside it (the jail's proof, whose view has
  // no record file), and what the jail's Codex sees is jail.test.ts's.
  const result = await runner.main(
    { install: 'false', 'key-isolation': 'none', 'codex-isolation': 'none', ...secrets },
    { ...env, ...environment }
  )
  expect(result.errors).toEqual([])
  const calls = await fs.readFile(record, 'utf8')
  expect(calls.match(/^argv: .*$/gm)).toEqual(['argv: --version', 'argv: login --with-api-key', 'argv: login status'])
  // Every call, --version included, runs in the action's own CODEX_HOME, never the user's ~/.codex.
  for (const call of calls.trim().split('\n\n'))
    expect(call).toMatch(new RegExp(`^CODEX_HOME=${runner.temp}/codex-home-\\w+$`, 'm'))
  const names = calls.match(/^[A-Za-z_][\w-]*(?==)/gm) ?? []
  expect(names.filter((name) => /^(INPUT_|ACTIONS_)/.test(name) || name in environment)).toEqual([])
  for (const secret of [TEST_API_KEY, second, secrets['registry-token'], ...Object.values(environment)])
    expect(calls).not.toContain(secret)
  // The key reached the CLI on stdin: the stand-in stored what it read.
  expect(JSON.parse(await fs.readFile(path.join(result.outputs['codex-home'], 'auth.json'), 'utf8'))).toEqual({
    secret: TEST_API_KEY
  })
  await runner.post()
})

test('a JWT access token whose exp lies beyond what a date can hold logs in, with no expiry shown', async () => {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const token = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ sub: 'agent', exp: 1e20 })}.${'s'.repeat(43)}`
  const { env } = await standInCodex(runner.root)
  const result = await runner.main({ install: 'false', 'access-token': token }, env)
  expect(result.errors).toEqual([])
  expect(result.outputs['credential-expires-at']).toBe('')
  await runner.post()
})
