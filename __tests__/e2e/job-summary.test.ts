/**
 * The job summary the main step writes: what was set up (version, source, mode, the
 * credential by fingerprint only, exports), a failure in one line without the secret, and
 * text from outside (a registry's) kept inside its table.
 */
import { fingerprint } from '../../src/secrets/mask.js'
import { FakeOpenAI } from '../harness/fake-openai.js'
import { registryWithRelease, standInJobs } from '../harness/fake-package.js'
import { printed } from '../harness/audit.js'
import { TEST_API_KEY } from '../harness/real-cli.js'

const NEW = 'sk-proj-newKeyForTheRotation0123456789abc'
const OLD = 'sk-proj-oldKeyForTheRotation0123456789abc'

const job = standInJobs()
const { runners } = job
/** The fake API of the test that started one; none for the others. */
let openai: FakeOpenAI | undefined
beforeEach(() => {
  openai = undefined
})

/** The main step with the stand-in codex, against the fake API when the test started one. */
function main(inputs: Record<string, string>, env: Record<string, string> = {}) {
  return job.runner.main(
    { install: 'false', ...(openai ? { 'api-base-url': `${openai.server.origin}/v1` } : {}), ...inputs },
    { ...job.codexEnv, ...env }
  )
}

describe('the job summary', () => {
  test('api-key: version, source, mode, fingerprint, exports; never the key', async () => {
    openai = await runners.serve(new FakeOpenAI({ apiKeys: {} }))
    const result = await main({ 'api-key': NEW, 'export-env': 'true' })
    expect(result.summary).toContain('Codex CLI auth')
    expect(result.summary).toContain('1.0.0 (from PATH)')
    expect(result.summary).toContain(fingerprint(NEW))
    expect(result.summary).toMatch(/CODEX_HOME, CODEX_API_KEY/)
    expect(result.summary).not.toContain(NEW)
  })

  test('a failure is summarised too, without the secret', async () => {
    const result = await main({ 'api-key': `${NEW}\n\n${OLD}` })
    expect(result.summary).toContain('❌ api-key line 2 is empty')
    for (const key of [NEW, OLD]) expect(result.summary).not.toContain(key)
  })

  test("ACTIONS_STEP_DEBUG shows the CLI's output, still redacted", async () => {
    // The login's own output: key-isolation none, so that a login runs.
    const result = await main(
      { 'api-key': NEW, 'key-isolation': 'none' },
      { ACTIONS_STEP_DEBUG: 'true', RUNNER_DEBUG: '1' }
    )
    expect(result.errors).toEqual([])
    expect(result.stdout).toMatch(/::debug::codex login --with-api-key \(exit 0\)/)
    expect(printed(result)).not.toContain(NEW)
  })
  test('registry text in an error cannot break out of the summary table into markdown', async () => {
    const registry = runners.stopAfter(await registryWithRelease('9.8.7'))
    registry.tarballBase = `${registry.url}/x\n\n## Your key was revoked\n[Sign in again](https://evil.example/login)\n\n`
    const main = await job.runner.main({
      'api-key': TEST_API_KEY,
      'registry-url': registry.url,
      'codex-version': '9.8.7'
    })
    expect(main.exitCode).toBe(1)
    const table = /<table>[\s\S]*<\/table>/.exec(main.summary)?.[0] ?? ''
    expect(table).not.toMatch(/\n\s*\n/)
    expect(main.summary).not.toMatch(/^\[Sign in again\]/m)
    // The text is there, inert inside the table's result cell (HTML, where markdown is not read), not missing.
    expect(table).toMatch(
      /<td>❌ Downloading the Codex CLI from [^<\n]*## Your key was revoked \[Sign in again\][^<\n]*<\/td>/
    )
    expect(main.summary.split('\n').filter((line) => /^\s*(#|\[)/.test(line))).toEqual([])
  })
})
