/**
 * One rule for every endpoint Codex will use, wherever it is given: the api-base-url
 * input, the `config` input (openai_base_url, chatgpt_base_url, a model provider's
 * base_url) and a named codex-home's own config.toml. Plain http is fine on this machine
 * and refused anywhere else, before anything is sent or run; and `verify` checks the key
 * at the endpoint Codex will send it to, not at the default API.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { FakeOpenAI } from '../harness/fake-openai.js'
import { standInJobs } from '../harness/fake-package.js'

const KEY = `sk-test-${'e'.repeat(40)}`
const TOKEN = `at-${'t'.repeat(40)}`
const job = standInJobs()

const provider = (url: string, auth = true) =>
  `model_provider = "gw"\n[model_providers.gw]\nname = "gw"\nbase_url = "${url}"\nwire_api = "responses"\n${auth ? 'requires_openai_auth = true\n' : ''}`

/** A named codex-home outside the workspace holding `config` as its own config.toml. */
async function homeWith(config: string): Promise<string> {
  const home = path.join(job.runner.root, 'named-home')
  await fs.mkdir(home, { recursive: true })
  await fs.writeFile(path.join(home, 'config.toml'), config)
  return home
}

/** Where an endpoint can be given: the inputs that give `url` there, and the name the error uses. */
const PLACES: [string, string, (url: string) => Promise<Record<string, string>>][] = [
  ['the api-base-url input', 'api-base-url', async (url) => ({ 'api-base-url': url })],
  ["config's openai_base_url", "config's openai_base_url", async (url) => ({ config: `openai_base_url = "${url}"` })],
  [
    "config's chatgpt_base_url",
    "config's chatgpt_base_url",
    async (url) => ({ config: `chatgpt_base_url = "${url}"` })
  ],
  ["config's model provider", "config's model_providers.gw.base_url", async (url) => ({ config: provider(url) })],
  [
    "a named codex-home's config.toml",
    "codex-home's config.toml's openai_base_url",
    async (url) => ({ 'codex-home': await homeWith(`openai_base_url = "${url}"\n`) })
  ],
  [
    "a named codex-home's model provider",
    "codex-home's config.toml's model_providers.gw.base_url",
    async (url) => ({ 'codex-home': await homeWith(provider(url)) })
  ]
]

describe.each(PLACES)('an endpoint in %s', (_place, name, give) => {
  test('plain http to another host: refused before anything runs or is sent', async () => {
    const result = await job.runner.main(
      { install: 'false', 'api-key': KEY, ...(await give('http://192.0.2.10/v1')) },
      job.codexEnv
    )
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      `::error::${name} http://192.0.2.10 is plain http to a host other than this machine, so api-key would travel in cleartext; nothing was sent. Use an https address for ${name}.`
    ])
    expect(result.cliRecords).toEqual([])
  })

  test.each(['http://127.0.0.1:9/v1', 'https://gateway.example.com/v1'])('%s: accepted', async (url) => {
    const result = await job.runner.main({ install: 'false', 'api-key': KEY, ...(await give(url)) }, job.codexEnv)
    expect(result.errors).toEqual([])
    await job.runner.post()
  })
})

test('the same rule with an access token: the error names the credential Codex would send', async () => {
  const result = await job.runner.main(
    { install: 'false', 'access-token': TOKEN, config: 'chatgpt_base_url = "http://192.0.2.10/backend-api"' },
    job.codexEnv
  )
  expect(result.errors).toEqual([
    expect.stringMatching(
      /^::error::config's chatgpt_base_url http:\/\/192\.0\.2\.10 is plain http .*so access-token would travel in cleartext/
    )
  ])
})

test('an endpoint that is not a URL is refused by name', async () => {
  const result = await job.runner.main(
    { install: 'false', 'api-key': KEY, config: '[model_providers.gw]\nbase_url = 42' },
    job.codexEnv
  )
  expect(result.errors).toEqual([
    expect.stringMatching(/^::error::config sets model_providers\.gw\.base_url, which is not a URL/)
  ])
})

describe('verify checks the key where Codex sends it', () => {
  let api: FakeOpenAI
  beforeEach(async () => {
    api = await new FakeOpenAI({ apiKeys: { [KEY]: 200 } }).start()
  })
  afterEach(async () => {
    await api.stop()
  })

  test.each([
    ["config's openai_base_url", async (url: string) => ({ config: `openai_base_url = "${url}"` })],
    ["config's model provider that uses the login", async (url: string) => ({ config: provider(url) })],
    [
      "a named codex-home's config.toml",
      async (url: string) => ({ 'codex-home': await homeWith(`openai_base_url = "${url}"\n`) })
    ]
  ])('%s', async (_place, give) => {
    const result = await job.runner.main(
      { install: 'false', 'api-key': KEY, verify: 'true', ...(await give(api.apiBaseUrl)) },
      job.codexEnv
    )
    expect(result.errors).toEqual([])
    expect(result.stdout).toContain(`accepted by ${api.apiBaseUrl}`)
    const checks = api.server.requests.filter((r) => r.url === '/v1/models')
    expect(checks.map((r) => r.headers.authorization)).toEqual([`Bearer ${KEY}`])
    await job.runner.post()
  })

  test('a model provider that does not use the login: the key is sent nowhere', async () => {
    const result = await job.runner.main(
      { install: 'false', 'api-key': KEY, verify: 'true', config: provider(api.apiBaseUrl, false) },
      job.codexEnv
    )
    expect(result.errors).toEqual([])
    expect(result.stdout).toMatch(/verify: the model provider the config selects does not use the api-key login/)
    expect(api.server.requests).toEqual([])
    await job.runner.post()
  })
})
