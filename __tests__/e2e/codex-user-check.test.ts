/**
 * codex-user's proof that Codex runs as its own user: the main step runs the real CLI's
 * `--version` through sudo/setpriv as that user before any step relies on it. A CLI that
 * user cannot read fails the step with one error, and the user made for the job is gone.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, promises as fs } from 'node:fs'
import * as path from 'node:path'
import { auditCliRecords } from '../harness/audit.js'
import { standInCodex } from '../harness/fake-package.js'
import { useRunners } from '../harness/lifecycle.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'

const runners = useRunners()
const tools = ['setpriv', 'setfacl', 'useradd']
const able =
  process.platform === 'linux' &&
  process.getuid?.() === 0 &&
  tools.every((tool) => ['/usr/bin', '/usr/sbin', '/bin', '/sbin'].some((dir) => existsSync(path.join(dir, tool))))

/** Whether the system knows `name` (other tests make and remove codex-* users meanwhile). */
const userExists = (name: string) =>
  execFileSync('getent', ['passwd'], { encoding: 'utf8' })
    .split('\n')
    .some((line) => line.startsWith(`${name}:`))

/** A runner whose tool cache holds a copy of the real CLI. */
async function runnerWithCli() {
  const runner = await runners.create()
  const from = path.join(sharedToolCache(), 'codex', CODEX_VERSION)
  const to = path.join(runner.toolCache, 'codex', CODEX_VERSION)
  await fs.mkdir(path.dirname(to), { recursive: true })
  await fs.cp(from, to, { recursive: true })
  await fs.writeFile(path.join(to, `${process.arch}.complete`), '')
  return { runner, binary: path.join(to, process.arch, 'bin', 'codex') }
}

;(able ? test : test.skip)('a CLI that Codex’s user cannot read fails the main step and leaves no user', async () => {
  const { runner, binary } = await runnerWithCli()
  // The job (root) runs it; a user of its own cannot read it.
  await fs.chmod(binary, 0o700)
  const main = await runner.main({ 'api-key': TEST_API_KEY, 'codex-version': CODEX_VERSION })
  expect(main.exitCode).toBe(1)
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).toMatch(
    /^::error::Codex does not run as its own user codex-[0-9a-f]{8} \(codex --version exited \d+: .*Permission denied\)\. /
  )
  expect(main.errors[0]).toContain('set codex-user: none')
  expect(main.exported).toEqual({})
  const user = /own user (codex-[0-9a-f]{8})/.exec(main.errors[0])![1]
  expect(userExists(user)).toBe(false)
})

;(able ? test : test.skip)('the same CLI, readable: Codex runs as its own user, proven by its --version', async () => {
  const { runner } = await runnerWithCli()
  const main = await runner.main({ 'api-key': TEST_API_KEY, 'codex-version': CODEX_VERSION })
  expect(main.errors).toEqual([])
  expect(main.stdout).toMatch(/Codex runs as codex-[0-9a-f]{8} \(uid \d+\), without sudo and groups/)
})

;(able ? test : test.skip)(
  'the proof runs in the environment of every CLI run of the action: no input, runner token or competing credential',
  async () => {
    const runner = await runners.create()
    const codex = await standInCodex(runner.root)
    const planted = {
      OPENAI_API_KEY: 'sk-planted-in-the-job-env-0123456789',
      CODEX_API_KEY: 'sk-planted-codex-key-0123456789',
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'planted-oidc-request-token-0123456789'
    }
    const main = await runner.main({ 'api-key': TEST_API_KEY, install: 'false' }, { ...codex.env, ...planted })
    expect(main.errors).toEqual([])
    expect(main.stdout).toMatch(/Codex runs as codex-[0-9a-f]{8}/)
    // The plain --version and the one as Codex's user.
    expect(main.cliRecords).toHaveLength(2)
    expect(await auditCliRecords(main.cliRecords, [TEST_API_KEY, ...Object.values(planted)])).toEqual([])
  }
)
