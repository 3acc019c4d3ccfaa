/**
 * The command audit fed with line breaks in every path-shaped input: codex-home,
 * ca-certificate-file, and the runner's own directories (RUNNER_TEMP, RUNNER_TOOL_CACHE,
 * HOME and the workspace, all below a directory that holds one). Each path carries a
 * workflow command on its own line (SPOOF_LINES); the audit at dispose fails if the runner
 * would read one, and each test also looks for it itself. Success, failure and post steps.
 */
import { promises as fs } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { SPOOF_LINES } from '../harness/audit.js'
import { chatgptAuth } from '../harness/chatgpt-auth.js'
import { registryWithRelease, rejectingCodexScript, standInCodex } from '../harness/fake-package.js'
import { Runner } from '../harness/runner.js'
import { makeTestCa } from '../harness/test-ca.js'

const KEY = `sk-test-${'l'.repeat(40)}`
const TOKEN = `at-${'l'.repeat(40)}`
/** A path component that puts a workflow command on a line of its own, and one that breaks with CR. */
const BROKEN = `x\n${SPOOF_LINES[0]}\ny`
const BROKEN_CR = `x\r${SPOOF_LINES[3]}\ry`

let runner: Runner
let codexEnv: Record<string, string>

/** Where a runner whose every directory holds a line break lives; removed after its runner. */
let parent: string | undefined

afterEach(async () => {
  await runner.dispose()
  if (parent) await fs.rm(parent, { recursive: true, force: true })
  parent = undefined
})

/** No line of any step's output is a spoofed command (the dispose audit says the same, with the figures). */
function expectInert(...outputs: string[]): void {
  for (const output of outputs)
    for (const line of output.split(/\r\n|\r|\n/)) expect(SPOOF_LINES.map((l) => l.trimStart())).not.toContain(line)
}

describe('a line break in codex-home', () => {
  beforeEach(async () => {
    runner = await Runner.create()
    codexEnv = (await standInCodex(runner.root)).env
  })

  test.each([
    ['api-key', () => ({ 'api-key': KEY })],
    ['access-token', () => ({ 'access-token': TOKEN })],
    [
      'auth-json (the issue)',
      () => {
        const file = chatgptAuth()
        for (const secret of file.secrets) runner.canaries.add(secret)
        return { 'auth-json': file.text }
      }
    ]
  ])('%s, LF and CR: nothing printed is a command', async (_mode, credential) => {
    for (const broken of [BROKEN, BROKEN_CR]) {
      const home = path.join(runner.root, broken, 'home')
      const main = await runner.main({ install: 'false', 'codex-home': home, ...credential() }, codexEnv)
      expect(main.errors).toEqual([])
      const post = await runner.post()
      expectInert(main.stdout, main.stderr, post.stdout, post.stderr)
      // The ChatGPT sign-in's auth.json stays in a named home, as documented: this test removes it.
      await fs.rm(path.join(runner.root, broken), { recursive: true, force: true })
    }
  })

  test('an error about it is one escaped ::error:: line', async () => {
    const home = path.join(runner.root, BROKEN)
    await fs.writeFile(home, 'a file, not a directory')
    const main = await runner.main({ install: 'false', 'api-key': KEY, 'codex-home': home }, codexEnv)
    expect(main.errors).toEqual([
      expect.stringMatching(/^::error::codex-home .*x%0A::warning title=spoof::.* is not a directory/)
    ])
    expectInert(main.stdout, main.stderr)
  })
})

describe('a line break in ca-certificate-file', () => {
  beforeEach(async () => {
    runner = await Runner.create()
    codexEnv = (await standInCodex(runner.root)).env
  })

  test('a bundle there is used; a missing one is one escaped error', async () => {
    const dir = path.join(runner.root, BROKEN)
    await fs.mkdir(dir)
    await fs.writeFile(path.join(dir, 'ca.pem'), makeTestCa('Line Break Test CA').ca)
    const ok = await runner.main(
      { install: 'false', 'api-key': KEY, 'ca-certificate-file': path.join(dir, 'ca.pem') },
      codexEnv
    )
    expect(ok.errors).toEqual([])
    const post = await runner.post()
    const missing = await runner.main(
      { install: 'false', 'api-key': KEY, 'ca-certificate-file': path.join(dir, 'no.pem') },
      codexEnv
    )
    expect(missing.errors).toEqual([expect.stringMatching(/^::error::ca-certificate-file .*%0A.* does not exist/)])
    expectInert(ok.stdout, ok.stderr, post.stdout, missing.stdout, missing.stderr)
    await fs.rm(dir, { recursive: true })
  })
})

describe('a line break in every directory of the runner (RUNNER_TEMP, RUNNER_TOOL_CACHE, HOME, the workspace)', () => {
  beforeEach(async () => {
    // PATH is split at colons, so this one is the legacy ##[ form, which needs none.
    parent = path.join(os.tmpdir(), `codex-auth-${process.pid}-${BROKEN_CR.replace(/\r/g, '\n')}`)
    await fs.mkdir(parent, { recursive: true })
    runner = await Runner.create({ parent })
    expect(runner.temp).toContain('\n')
  })

  test.each([
    ['api-key with a CA bundle, main and post', async () => ({ 'api-key': KEY, 'ca-certificate': makeTestCa().ca })],
    ['key-isolation: proxy', async () => ({ 'api-key': KEY, 'key-isolation': 'proxy' })],
    [
      'auth-json',
      async () => {
        const file = chatgptAuth()
        for (const secret of file.secrets) runner.canaries.add(secret)
        return { 'auth-json': file.text }
      }
    ]
  ])('%s', async (_what, inputs) => {
    codexEnv = (await standInCodex(runner.root)).env
    const main = await runner.main({ install: 'false', ...(await inputs()) }, codexEnv)
    expect(main.errors).toEqual([])
    const post = await runner.post()
    expectInert(main.stdout, main.stderr, post.stdout, post.stderr)
  })

  test('a failed login prints its diagnostics (CLI path, CA bundle path) inert', async () => {
    codexEnv = (await standInCodex(runner.root, rejectingCodexScript())).env
    // A login, so that its diagnostics print: key-isolation none.
    const main = await runner.main(
      { install: 'false', 'api-key': KEY, 'ca-certificate': makeTestCa().ca, 'key-isolation': 'none' },
      codexEnv
    )
    expect(main.exitCode).toBe(1)
    expect(main.stdout).toMatch(/CA bundle: .*%0A##%5Berror\]spoofed legacy error%0A/)
    expectInert(main.stdout, main.stderr)
  })

  test('install: a tool cache with a line break is refused before GITHUB_PATH could get a second line', async () => {
    const registry = await registryWithRelease('1.0.0')
    try {
      const main = await runner.main({ 'api-key': KEY, 'registry-url': registry.url, 'codex-version': '1.0.0' })
      expect(main.errors).toEqual([
        expect.stringMatching(
          /^::error::RUNNER_TOOL_CACHE holds a line break, so the directory of the installed CLI cannot be added to PATH/
        )
      ])
      expect(main.paths).toEqual([])
      expectInert(main.stdout, main.stderr)
    } finally {
      await registry.stop()
    }
  })
})
