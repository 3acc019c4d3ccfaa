/**
 * Settings that would undo the action's hardening, through the bundled action: a
 * credential store outside CODEX_HOME, and a shell_environment_policy that lets commands
 * the model runs read credential variables, from `config` or a named codex-home's own
 * config.toml. A refusal is one error line with nothing left behind and the named home
 * untouched.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { standInJobs } from '../harness/fake-package.js'
import { TEST_API_KEY } from '../harness/real-cli.js'
import { listFiles } from '../harness/runner.js'

const job = standInJobs()

const TOKEN = 'at-personalAccessTokenForTheHardeningTests'
const AZURE_KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'

/** The main step and, as in a job, after a success its post step (which stops the key proxy the default starts). */
async function main(inputs: Record<string, string>) {
  const result = await job.runner.main(
    { install: 'false', ...('access-token' in inputs ? {} : { 'api-key': TEST_API_KEY }), ...inputs },
    job.codexEnv
  )
  // A failed main step leaves nothing (asserted before any post step); a successful one leaves the proxy to post.
  if (result.exitCode === 0) await job.runner.post()
  return result
}

/** A named codex-home holding the user's own config.toml. */
async function homeWith(config: string): Promise<string> {
  const home = path.join(job.runner.root, 'my-codex-home')
  await fs.mkdir(home)
  await fs.writeFile(path.join(home, 'config.toml'), config)
  return home
}

async function expectRefused(result: Awaited<ReturnType<typeof main>>, error: string | RegExp) {
  expect(result.exitCode).toBe(1)
  expect(result.errors).toEqual([typeof error === 'string' ? error : expect.stringMatching(error)])
  expect(result.exported).toEqual({})
  expect(result.stdout).not.toContain('Logging in')
  expect(await job.runner.tempFiles()).toEqual([])
}

const warnings = (result: { stdout: string }) =>
  result.stdout.split('\n').filter((line) => line.startsWith('::warning::'))

describe('cli_auth_credentials_store: only "file" may be in effect', () => {
  const why: Record<string, string> = {
    auto: 'keeps the login in the macOS keychain or the Windows Credential Manager where there is one (as on macOS and Windows runners), outside CODEX_HOME, where the post step never removes it',
    keyring:
      'keeps the login in the OS keyring, outside CODEX_HOME, where the post step never removes it (and Linux runners have no keyring)',
    ephemeral: 'keeps the login in memory only, so later steps would not be logged in',
    File: 'is not a store the action can clean up',
    secure: 'is not a store the action can clean up'
  }

  test.each(Object.keys(why))('config sets "%s": refused, saying why', async (store) => {
    const result = await main({ config: `cli_auth_credentials_store = "${store}"` })
    await expectRefused(
      result,
      `::error::config sets cli_auth_credentials_store = "${store}", which ${why[store]}. Set it to "file", or remove it.`
    )
  })

  test.each(Object.keys(why))(
    'a named codex-home\'s config.toml sets "%s": refused, the home untouched',
    async (store) => {
      const text = `model = "o3"\ncli_auth_credentials_store = "${store}"\n`
      const home = await homeWith(text)
      const result = await main({ 'codex-home': home })
      await expectRefused(
        result,
        `::error::codex-home's config.toml sets cli_auth_credentials_store = "${store}", which ${why[store]}. Set it to "file", or remove it.`
      )
      expect(await listFiles(home)).toEqual(['config.toml'])
      expect(await fs.readFile(path.join(home, 'config.toml'), 'utf8')).toBe(text)
    }
  )

  test('a store that is not a string is refused too', async () => {
    await expectRefused(
      await main({ config: 'cli_auth_credentials_store = 1' }),
      /config sets cli_auth_credentials_store = 1, which is not a store the action can clean up/
    )
  })

  test('"file", in config or in a named home, is accepted', async () => {
    expect((await main({ config: 'cli_auth_credentials_store = "file"' })).errors).toEqual([])
    const home = await homeWith(
      'cli_auth_credentials_store = "file"\n[shell_environment_policy]\nignore_default_excludes = false\n'
    )
    const result = await main({ 'codex-home': home })
    expect(result.errors).toEqual([])
    expect(warnings(result)).toEqual([])
  })
})

describe('shell_environment_policy: credential variables for commands the model runs', () => {
  const exposing = '[shell_environment_policy]\nignore_default_excludes = true'
  const visible =
    'CODEX_API_KEY, CODEX_ACCESS_TOKEN, OPENAI_API_KEY, AZURE_OPENAI_API_KEY, GITHUB_TOKEN, ACTIONS_ID_TOKEN_REQUEST_TOKEN'

  test('ignore_default_excludes = true without export-env: a warning naming what becomes visible', async () => {
    const result = await main({ config: exposing })
    expect(result.errors).toEqual([])
    expect(warnings(result)).toEqual([
      `::warning::config sets [shell_environment_policy] ignore_default_excludes = true, so commands the model runs can read variables whose names hold KEY, SECRET or TOKEN, such as ${visible}. ` +
        'Codex could be steered into printing or sending them. Set ignore_default_excludes = false (or inherit = "core") under [shell_environment_policy] in config.'
    ])
  })

  test('ignore_default_excludes = true with export-env: refused, naming the exported variable', async () => {
    const result = await main({ config: exposing, 'export-env': 'true' })
    await expectRefused(
      result,
      `::error::config sets [shell_environment_policy] ignore_default_excludes = true, so commands the model runs can read variables whose names hold KEY, SECRET or TOKEN, such as ${visible}, ` +
        'and export-env: true puts the credential in CODEX_API_KEY: Codex could be steered into printing or sending it. ' +
        'Set ignore_default_excludes = false (or inherit = "core") under [shell_environment_policy] in config, turn export-env off, or set allow-secret-in-shell: true to accept this.'
    )
  })

  test('the same with an access token names CODEX_ACCESS_TOKEN', async () => {
    await expectRefused(
      await main({ 'access-token': TOKEN, config: exposing, 'export-env': 'true' }),
      /and export-env: true puts the credential in CODEX_ACCESS_TOKEN:/
    )
  })

  test('allow-secret-in-shell: true lets it go ahead, with the warning', async () => {
    const result = await main({ config: exposing, 'export-env': 'true', 'allow-secret-in-shell': 'true' })
    expect(result.errors).toEqual([])
    expect(result.exported.CODEX_API_KEY).toBe(TEST_API_KEY)
    expect(warnings(result)).toEqual([
      expect.stringMatching(
        /^::warning::config sets \[shell_environment_policy\] ignore_default_excludes = true, so commands the model runs can read/
      )
    ])
  })

  test.each([
    ['inherit = "all" (the default excludes still apply)', '[shell_environment_policy]\ninherit = "all"'],
    ['inherit = "core"', `${exposing}\ninherit = "core"`],
    ['inherit = "none"', `${exposing}\ninherit = "none"`],
    ['include_only without credential variables', `${exposing}\ninclude_only = ["PATH", "HOME"]`],
    ['exclude covering them', `${exposing}\nexclude = ["*KEY*", "*TOKEN*"]`]
  ])('%s with export-env: accepted without a warning', async (_name, config) => {
    const result = await main({ config, 'export-env': 'true' })
    expect(result.errors).toEqual([])
    expect(warnings(result)).toEqual([])
  })

  test('an exclude that misses the exported variable is still refused', async () => {
    const result = await main({ config: `${exposing}\nexclude = ["GITHUB_TOKEN"]`, 'export-env': 'true' })
    await expectRefused(
      result,
      /such as CODEX_API_KEY, CODEX_ACCESS_TOKEN, OPENAI_API_KEY, AZURE_OPENAI_API_KEY, ACTIONS_ID_TOKEN_REQUEST_TOKEN, and export-env: true puts the credential in CODEX_API_KEY/
    )
  })

  test("a named codex-home whose config.toml leaves the default excludes off (Codex's default): refused with export-env, untouched", async () => {
    const text = 'model = "o3"\n'
    const home = await homeWith(text)
    const result = await main({ 'codex-home': home, 'export-env': 'true' })
    await expectRefused(
      result,
      /^::error::codex-home's config\.toml does not set \[shell_environment_policy\] ignore_default_excludes = false, so commands the model runs can read .* in codex-home's config\.toml, turn export-env off, or set allow-secret-in-shell: true/
    )
    expect(await listFiles(home)).toEqual(['config.toml'])
    expect(await fs.readFile(path.join(home, 'config.toml'), 'utf8')).toBe(text)
  })

  test('the same home without export-env: a warning only', async () => {
    const result = await main({ 'codex-home': await homeWith('model = "o3"\n') })
    expect(result.errors).toEqual([])
    expect(warnings(result)).toEqual([
      expect.stringMatching(
        /^::warning::codex-home's config\.toml does not set \[shell_environment_policy\] ignore_default_excludes = false/
      )
    ])
    await job.runner.post()
  })

  test('a named codex-home that keeps the default excludes: export-env goes ahead', async () => {
    const home = await homeWith('[shell_environment_policy]\nignore_default_excludes = false\n')
    const result = await main({ 'codex-home': home, 'export-env': 'true' })
    expect(result.errors).toEqual([])
    expect(warnings(result)).toEqual([])
    await job.runner.post()
  })
  /**
   * SECURITY.md: "With export-env: true it is refused when the exported variable is among
   * [the variables the model's commands would see]". An Azure key was once exported as
   * AZURE_OPENAI_API_KEY, which a policy that excludes only CODEX_* let into every command
   * the model runs; now an Azure key is never exported (issue 20.1), whatever the policy.
   */
  test.each([
    ['an exclude of CODEX_* only', 'ignore_default_excludes = true\nexclude = ["CODEX_*"]'],
    ['the default excludes off', 'ignore_default_excludes = true']
  ])('Azure with export-env and %s: refused, nothing exported', async (_case, policy) => {
    const result = await main({
      'api-key': AZURE_KEY,
      'api-base-url': 'https://acme.openai.azure.com/openai/v1',
      'export-env': 'true',
      config: `[shell_environment_policy]\n${policy}\n`
    })
    await job.runner.post()
    expect(result.exitCode).toBe(1)
    // An Azure key is never exported: Codex never holds it, whatever the shell policy.
    expect(result.errors).toEqual([
      expect.stringContaining('::error::export-env: true cannot be used with an Azure OpenAI api-base-url')
    ])
    expect(Object.keys(result.exported)).not.toContain('AZURE_OPENAI_API_KEY')
  })
})
