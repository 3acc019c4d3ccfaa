/**
 * Promises of key-isolation: proxy and api-base-url that an outside review broke, each
 * failing before its fix: no key follows a redirect, ALL_PROXY reaches the proxy too, a
 * proxy whose directory vanished still fails Codex fast, export-env of an Azure key meets
 * the shell-policy check, and no caller's credential header is forwarded.
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'smol-toml'
import { FakeOpenAI } from '../harness/fake-openai.js'
import { standInCodex } from '../harness/fake-package.js'
import { keyProxyProcesses } from '../harness/processes.js'
import { ForwardProxy } from '../harness/proxy.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { Runner } from '../harness/runner.js'
import { LoopbackServer, sendJson } from '../harness/servers.js'

const AZURE_KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const runners: Runner[] = []
const closers: (() => Promise<void>)[] = []

async function newRunner(shared = false): Promise<Runner> {
  const runner = await Runner.create(shared ? { toolCache: sharedToolCache() } : {})
  runners.push(runner)
  return runner
}

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.dispose()))
  await Promise.all(closers.splice(0).map((c) => c()))
})

async function proxyBase(home: string): Promise<string> {
  const config = parse(await fs.readFile(path.join(home, 'config.toml'), 'utf8')) as {
    model_provider: string
    model_providers: Record<string, { base_url: string }>
  }
  return config.model_providers[config.model_provider].base_url
}

/**
 * SECURITY.md: "No secret over plain http beyond this machine … refuses before any request
 * when … the verify key would be sent"; README: the key "leaves the proxy only towards
 * api-base-url". verify follows redirects (http.ts open(): maxRedirections 5) and undici
 * strips only authorization/cookie/proxy-authorization on a cross-origin redirect, so
 * Azure's `api-key` header follows the redirect to any other origin, plain http included.
 */
// '': the default, auto (an Azure key never goes without the proxy: azure-redirect.test.ts).
test.each([['proxy'], ['']])(
  'verify (key-isolation "%s") does not send the Azure api-key to the origin an Azure endpoint redirects to',
  async (isolation) => {
    const elsewhere = await new LoopbackServer((_req, res) => sendJson(res, 200, { object: 'list', data: [] })).start()
    const azure = await new LoopbackServer((_req, res) => {
      res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.port}/collect/models` })
      res.end()
    }).start()
    closers.push(
      () => elsewhere.stop(),
      () => azure.stop()
    )
    const runner = await newRunner()
    const codex = await standInCodex(runner.root)
    const main = await runner.main(
      {
        'api-key': AZURE_KEY,
        'api-base-url': `${azure.origin}/openai/v1`,
        'key-isolation': isolation,
        verify: 'true',
        install: 'false'
      },
      codex.env
    )
    await runner.post()
    expect(azure.requests[0]?.headers['api-key']).toBe(AZURE_KEY)
    // Before the fix the other origin got the key, and verify reported it "accepted".
    expect({
      leaked: elsewhere.requests.map((r) => r.headers['api-key']),
      stdout: main.stdout.includes('accepted by')
    }).toEqual({ leaked: [], stdout: false })
  }
)

/**
 * README: the proxy "uses the CA bundle and HTTPS_PROXY/NO_PROXY the way the action's own
 * downloads do", and those "go through HTTPS_PROXY (https), HTTP_PROXY (http) or ALL_PROXY".
 * detached.ts HELPER_ENV passes no ALL_PROXY/all_proxy to the proxy, so with ALL_PROXY alone
 * verify goes through the proxy and the key proxy goes around it.
 */
test.each([['HTTP_PROXY'], ['ALL_PROXY']])(
  'with only %s set, the key proxy forwards through that proxy like verify does',
  async (variable) => {
    const api = await new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200 } }).start()
    const forward = await new ForwardProxy().start()
    closers.push(
      () => api.stop(),
      () => forward.stop()
    )
    const runner = await newRunner()
    const codex = await standInCodex(runner.root)
    const env = { ...codex.env, [variable]: forward.url }
    const main = await runner.main(
      {
        'api-key': TEST_API_KEY,
        'api-base-url': api.apiBaseUrl,
        'key-isolation': 'proxy',
        verify: 'true',
        install: 'false'
      },
      env
    )
    expect(main.errors).toEqual([])
    // undici's ProxyAgent tunnels plain http too: each process opens one CONNECT.
    const through = () => forward.connects.length + forward.forwarded.length
    expect(through()).toBe(1)
    const base = await proxyBase(main.outputs['codex-home'])
    expect((await fetch(`${base}/models`)).status).toBe(200)
    expect(api.server.requests).toHaveLength(2)
    // Before the fix, with ALL_PROXY the key proxy went direct.
    expect(through()).toBe(2)
    await runner.post(env)
  }
)

/**
 * README: "If something kills it during the job, the next codex call fails at once with
 * 'The codex-auth-action key proxy (pid …) is no longer running…', instead of waiting for
 * the network forever"; issue 13: "It must not hang." When the proxy stops because its
 * directory went (a cleanup step that empties RUNNER_TEMP, common on self-hosted runners)
 * or its deadline passed, the guard exits too (helpers/key-proxy/server.ts runGuard: stopRequested), the
 * port refuses connections, and Codex retries.
 */
test('the proxy stopped by removal of its directory mid-job: codex exec fails at once naming the proxy', async () => {
  const api = await new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200 } }).start()
  closers.push(() => api.stop())
  const runner = await newRunner(true)
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'key-isolation': 'proxy',
    'api-base-url': api.apiBaseUrl,
    'codex-version': CODEX_VERSION
  })
  expect(main.errors).toEqual([])
  const dir = main.state['key-proxy-dir']
  await fs.rm(dir, { recursive: true, force: true })
  await sleep(1000)
  const started = Date.now()
  const exec = await runner.run('codex', ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi'], {
    timeoutMs: 60_000
  })
  const took = Date.now() - started
  await runner.post()
  expect({
    timedOut: exec.timedOut,
    slow: took > 30_000,
    named: `${exec.stdout}\n${exec.stderr}`.includes('key proxy')
  }).toEqual({ timedOut: false, slow: false, named: true })
}, 180_000)

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
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const main = await runner.main(
    {
      'api-key': AZURE_KEY,
      'api-base-url': 'https://acme.openai.azure.com/openai/v1',
      'export-env': 'true',
      config: `[shell_environment_policy]\n${policy}\n`,
      install: 'false'
    },
    codex.env
  )
  await runner.post()
  expect(main.exitCode).toBe(1)
  // An Azure key is never exported: Codex never holds it, whatever the shell policy.
  expect(main.errors).toEqual([
    expect.stringContaining('::error::export-env: true cannot be used with an Azure OpenAI api-base-url')
  ])
  expect(Object.keys(main.exported)).not.toContain('AZURE_OPENAI_API_KEY')
})

/** A named codex-home with Azure: the proxy holds the key, so the config.toml written there holds none; post removes it. */
test('named codex-home, Azure: config.toml without the key, removed by post, home byte-identical', async () => {
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const named = path.join(runner.root, 'named-home')
  await fs.mkdir(named, { mode: 0o755 })
  const main = await runner.main(
    {
      'api-key': AZURE_KEY,
      'api-base-url': 'https://acme.openai.azure.com/openai/v1',
      'codex-home': named,
      install: 'false'
    },
    codex.env
  )
  expect(main.errors).toEqual([])
  const file = path.join(named, 'config.toml')
  const text = existsSync(file) ? readFileSync(file, 'utf8') : ''
  expect(text).toContain('codex-auth-action key proxy')
  expect(text).not.toContain(AZURE_KEY)
  expect((await fs.stat(file)).mode & 0o777).toBe(0o600)
  await runner.post()
  expect(await fs.readdir(named)).toEqual([])
})

/** A main step that fails after the proxy started (a named codex-home that holds auth.json): one error, no process left. */
test('main fails after the proxy started: one ::error::, and no key proxy or guard left running', async () => {
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const named = path.join(runner.root, 'named-home')
  await fs.mkdir(named)
  await fs.writeFile(path.join(named, 'auth.json'), '{}')
  const main = await runner.main(
    { 'api-key': TEST_API_KEY, 'key-isolation': 'proxy', 'codex-home': named, install: 'false' },
    codex.env
  )
  expect(main.exitCode).toBe(1)
  expect(main.errors).toHaveLength(1)
  await sleep(1500)
  expect(keyProxyProcesses(runner.root)).toEqual([])
})

/**
 * README: the proxy "drops any credential header on the way in". helpers/key-proxy/server.ts DROPPED is a
 * short list: Azure API Management's `Ocp-Apim-Subscription-Key` (a gateway in front of
 * Azure OpenAI, the documented use) and `X-Goog-Api-Key` pass through, and so does
 * `X-HTTP-Method-Override`, which some gateways honour as the method.
 */
test('credential and method-override headers a local caller adds are not forwarded upstream', async () => {
  const api = await new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200 } }).start()
  closers.push(() => api.stop())
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const main = await runner.main(
    { 'api-key': TEST_API_KEY, 'api-base-url': api.apiBaseUrl, 'key-isolation': 'proxy', install: 'false' },
    codex.env
  )
  const base = await proxyBase(main.outputs['codex-home'])
  const added = {
    'ocp-apim-subscription-key': 'someone-elses',
    'x-goog-api-key': 'someone-elses',
    'x-http-method-override': 'DELETE'
  }
  expect((await fetch(`${base}/models`, { headers: added })).status).toBe(200)
  const forwarded = api.server.requests.at(-1)?.headers ?? {}
  await runner.post()
  expect(Object.keys(added).filter((name) => name in forwarded)).toEqual([])
})
