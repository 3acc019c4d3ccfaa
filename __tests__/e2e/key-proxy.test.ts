/**
 * key-isolation: proxy and api-base-url: against the real Codex CLI, a later step's
 * `codex exec` reaches a fake upstream through the detached key proxy (over HTTP, and over
 * HTTPS with a test CA), or an Azure-shaped endpoint directly; the key is in no file, no
 * environment and no command line; the post step stops the proxy. Then, with the stand-in
 * codex: verify against such endpoints (redirects included), the proxy variables the key
 * proxy honours or refuses, a proxy that stops or whose directory vanishes mid-job, the
 * headers it drops, and the inputs it refuses.
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'smol-toml'
import { fingerprint } from '../../src/secrets/mask.js'
import { FakeOpenAI, REPLY } from '../harness/fake-openai.js'
import { standInCodex } from '../harness/fake-package.js'
import { useRunners } from '../harness/lifecycle.js'
import { alive, keyProxyProcesses, startedKeyProxy } from '../harness/processes.js'
import { ForwardProxy } from '../harness/proxy.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { listFiles } from '../harness/runner.js'
import { LoopbackServer, sendJson } from '../harness/servers.js'
import { makeTestCa } from '../harness/test-ca.js'
import { waitFor } from '../harness/wait.js'

const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

const AZURE_KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
const OTHER_KEY = 'sk-proj-codexAuthActionRetiredKey0123456789'
const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi']

const runners = useRunners()

/** A runner that shares the real CLI the global setup installed. */
const newRunner = () => runners.create({ toolCache: sharedToolCache() })

const upstream = (options: ConstructorParameters<typeof FakeOpenAI>[0] = {}) =>
  runners.serve(new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200, [AZURE_KEY]: 200 }, ...options }))

/** The environments and command lines of `pids` that hold `secret`. */
function processesHolding(pids: number[], secret: string): string[] {
  return pids
    .flatMap((pid) => ['environ', 'cmdline'].map((file) => `/proc/${pid}/${file}`))
    .filter((file) => readFileSync(file, 'latin1').includes(secret))
}

async function statusOf(
  dir: string
): Promise<{ pid: number; requests: number; refused: number; upstreamErrors: number }> {
  await waitFor(() => existsSync(path.join(dir, 'status.json')), 1000)
  return JSON.parse(await fs.readFile(path.join(dir, 'status.json'), 'utf8'))
}

/** The proxy's base URL, from the config.toml the action wrote. */
async function proxyBase(home: string): Promise<string> {
  const config = parse(await fs.readFile(path.join(home, 'config.toml'), 'utf8')) as {
    model_provider: string
    model_providers: Record<string, { base_url: string }>
  }
  return config.model_providers[config.model_provider].base_url
}

test.each([
  ['HTTP', false],
  ['HTTPS with a test CA', true]
])(
  'over %s: codex exec goes through the proxy, which alone holds the key; post stops it',
  async (_kind, tls) => {
    const ca = tls ? makeTestCa('Key Proxy Test Root CA') : undefined
    const api = await upstream(ca ? { tls: ca.server } : {})
    const runner = await newRunner()
    const main = await runner.main({
      'api-key': TEST_API_KEY,
      'key-isolation': 'proxy',
      'api-base-url': api.apiBaseUrl,
      'codex-version': CODEX_VERSION,
      ...(ca ? { 'ca-certificate': ca.ca } : {})
    })
    expect(main.errors).toEqual([])
    expect(main.outputs).toMatchObject({ 'auth-mode': 'api-key', 'credential-fingerprint': fingerprint(TEST_API_KEY) })
    expect(main.outputs['login-log']).toBeUndefined()
    const home = main.outputs['codex-home']
    expect(await listFiles(home)).toEqual(['config.toml'])
    expect(Object.keys(main.exported).sort()).toEqual(
      ['CODEX_HOME', ...(ca ? ['CODEX_CA_CERTIFICATE', 'NODE_EXTRA_CA_CERTS'] : [])].sort()
    )
    expect(main.stdout).toMatch(/Key proxy started \(pid \d+\) on 127\.0\.0\.1:\d+ in \d+ ms/)

    const dir = main.state['key-proxy-dir']
    expect((await fs.stat(dir)).mode & 0o777).toBe(0o700)
    const base = await proxyBase(home)
    const capability = new URL(base).pathname.split('/')[1]
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]{43}\/v1$/)
    // The capability is masked, like a secret: it is in no log.
    expect(main.stdout).toContain(`::add-mask::${capability}`)
    expect(main.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::') && l.includes(capability))).toEqual([])

    const processes = await startedKeyProxy(runner.root)
    expect(processes.map((p) => p.guard).sort()).toEqual([false, true])
    expect(
      processesHolding(
        processes.map((p) => p.pid),
        TEST_API_KEY
      )
    ).toEqual([])

    const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
    expect(exec.timedOut).toBe(false)
    expect(exec.stdout).toContain(REPLY)
    expect(api.authorizations()).toEqual(expect.arrayContaining([`Bearer ${TEST_API_KEY}`]))
    expect(api.authorizations().every((a) => a === `Bearer ${TEST_API_KEY}`)).toBe(true)

    // Without the capability, with another, or for another route: refused. A credential someone adds is replaced.
    const origin = new URL(base).origin
    const before = api.server.requests.length
    for (const [url, init] of [
      [`${origin}/v1/responses`, { method: 'POST', body: '{}' }],
      [`${origin}/${'A'.repeat(43)}/v1/responses`, { method: 'POST', body: '{}' }],
      [`${base}/files`, {}],
      [`${base}/responses`, {}],
      [`${origin}/${capability}/v2/models`, {}]
    ] as const) {
      expect([url, (await fetch(url, init)).status]).toEqual([url, 404])
    }
    expect(api.server.requests.length).toBe(before)
    const models = await fetch(`${base}/models`, {
      headers: { authorization: 'Bearer sk-someone-elses-key', cookie: 'a=b' }
    })
    expect(models.status).toBe(200)
    expect(api.server.requests.at(-1)?.headers).toMatchObject({ authorization: `Bearer ${TEST_API_KEY}` })
    expect(api.server.requests.at(-1)?.headers.cookie).toBeUndefined()

    // The proxy writes its status within 100 ms of a change.
    let status = await statusOf(dir)
    await waitFor(async () => (status = await statusOf(dir)).refused >= 5, 1000)
    expect(status.refused).toBe(5)
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toMatch(
      new RegExp(
        `Key proxy \\(pid ${status.pid}\\): ${api.server.requests.length} requests forwarded \\(${api.upgrades().length} of them websockets, which carried ${api.websocketMessages.length} messages upstream\\), no upstream error, 5 refused; stopped\\.`
      )
    )
    await waitFor(() => !processes.some((p) => alive(p.pid)), 1000)
    expect(processes.filter((p) => alive(p.pid))).toEqual([])
    const gone = await fetch(`${base}/models`).then(
      (r) => `HTTP ${r.status} ${r.headers.get('connection')}`,
      (error: Error) => error.message
    )
    expect(gone).toBe('fetch failed')
    expect(await runner.tempFiles()).toEqual([])
  },
  180_000
)

test('through HTTPS_PROXY the proxy tunnels to the upstream, trusting the CA; NO_PROXY sends it direct', async () => {
  const ca = makeTestCa('Key Proxy Test Root CA')
  const api = await upstream({ tls: ca.server })
  const forward = await runners.serve(new ForwardProxy())
  for (const [env, tunnels] of [
    [{ HTTPS_PROXY: forward.url }, 1],
    [{ HTTPS_PROXY: forward.url, NO_PROXY: '127.0.0.1' }, 0]
  ] as const) {
    const runner = await newRunner()
    const main = await runner.main(
      {
        'api-key': TEST_API_KEY,
        'key-isolation': 'proxy',
        'api-base-url': api.apiBaseUrl,
        'codex-version': CODEX_VERSION,
        'ca-certificate': ca.ca
      },
      env
    )
    expect(main.errors).toEqual([])
    const before = forward.connects.length
    const models = await fetch(`${await proxyBase(main.outputs['codex-home'])}/models`)
    expect([env, models.status]).toEqual([env, 200])
    expect(api.server.requests.at(-1)?.headers).toMatchObject({ authorization: `Bearer ${TEST_API_KEY}` })
    expect([env, forward.connects.length - before]).toEqual([env, tunnels])
    // Without the post step the proxy would end with its directory and leave its guard for 6 hours.
    expect((await runner.post(env)).exitCode).toBe(0)
  }
}, 180_000)

/** A main step with the real CLI that started the key proxy in front of a fresh upstream; the proxy's directory and pid. */
async function proxiedJob() {
  const api = await upstream()
  const runner = await newRunner()
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'key-isolation': 'proxy',
    'api-base-url': api.apiBaseUrl,
    'codex-version': CODEX_VERSION
  })
  expect(main.errors).toEqual([])
  const dir = main.state['key-proxy-dir']
  return { runner, dir, pid: (await statusOf(dir)).pid }
}

test('a proxy killed during the job: codex exec fails at once with a message that names it', async () => {
  const { runner, pid } = await proxiedJob()
  const processes = await startedKeyProxy(runner.root)
  expect(processes).toHaveLength(2)
  process.kill(pid, 'SIGKILL')
  await waitFor(() => !alive(pid), 1000)
  const started = Date.now()
  const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  expect(exec.timedOut).toBe(false)
  expect(Date.now() - started).toBeLessThan(60_000)
  expect(exec.exitCode).not.toBe(0)
  expect(`${exec.stdout}\n${exec.stderr}`).toContain(
    `The codex-auth-action key proxy (pid ${pid}) is no longer running`
  )
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(post.stdout).toMatch(/The key proxy \(pid \d+\) did not confirm that it stopped/)
  // The guard goes with the proxy's directory.
  await waitFor(() => !processes.some((p) => alive(p.pid)), 1000)
  expect(processes.filter((p) => alive(p.pid))).toEqual([])
  expect(await runner.tempFiles()).toEqual([])
}, 180_000)

test.each([
  ['key-isolation: proxy', 'proxy'],
  ['the default, auto: an Azure key always goes through the proxy', '']
])(
  'Azure OpenAI v1 (%s): the key goes in the api-key header only',
  async (_kind, isolation) => {
    const azure = await upstream({ azure: true })
    const runner = await newRunner()
    const main = await runner.main({
      'api-key': AZURE_KEY,
      'key-isolation': isolation,
      'api-base-url': azure.apiBaseUrl,
      verify: 'true',
      'codex-version': CODEX_VERSION
    })
    expect(main.errors).toEqual([])
    expect(main.stdout).toContain(`api-key ${fingerprint(AZURE_KEY)}: accepted by ${azure.apiBaseUrl}`)
    const home = main.outputs['codex-home']
    expect(await listFiles(home)).toEqual(['config.toml'])
    const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
    expect(exec.stdout).toContain(REPLY)
    const responses = azure.responsesRequests()
    expect(responses.length).toBeGreaterThan(0)
    for (const request of responses) {
      expect(request.headers['api-key']).toBe(AZURE_KEY)
      expect(request.headers.authorization).toBeUndefined()
    }
    await runner.post()
    expect(await runner.tempFiles()).toEqual([])
  },
  180_000
)

test('a gateway without the proxy: openai_base_url in config.toml, the normal login, and Codex sends the key there', async () => {
  const gateway = await upstream()
  const runner = await newRunner()
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'api-base-url': gateway.apiBaseUrl,
    'key-isolation': 'none',
    // Codex talks to the loopback gateway itself: the jail's relay carries its port to the runner's loopback.
    'codex-version': CODEX_VERSION
  })
  expect(main.errors).toEqual([])
  const home = main.outputs['codex-home']
  expect(parse(await fs.readFile(path.join(home, 'config.toml'), 'utf8'))).toMatchObject({
    openai_base_url: gateway.apiBaseUrl
  })
  expect(existsSync(path.join(home, 'auth.json'))).toBe(true)
  const exec = await runner.run(
    'codex',
    ['exec', '--skip-git-repo-check', '--ephemeral', '-c', 'features.responses_websockets=false', 'say hi'],
    { timeoutMs: 90_000 }
  )
  expect(exec.stdout).toContain(REPLY)
  expect(gateway.authorizations()).toContain(`Bearer ${TEST_API_KEY}`)
  await runner.post()
}, 180_000)

test('verify with a rotation list: the proxy gets the first key the upstream accepts', async () => {
  const api = await upstream({ apiKeys: { [TEST_API_KEY]: 200, [OTHER_KEY]: 401 } })
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const main = await runner.main(
    {
      'api-key': `${OTHER_KEY}\n${TEST_API_KEY}`,
      'key-isolation': 'proxy',
      'api-base-url': api.apiBaseUrl,
      verify: 'true',
      install: 'false'
    },
    codex.env
  )
  expect(main.errors).toEqual([])
  expect(main.outputs['credential-fingerprint']).toBe(fingerprint(TEST_API_KEY))
  expect(main.stdout).toContain(
    `::warning::api-key ${fingerprint(TEST_API_KEY)} is in use; the secret also holds ${fingerprint(OTHER_KEY)} (HTTP 401`
  )
  const base = await proxyBase(main.outputs['codex-home'])
  await fetch(`${base}/models`)
  expect(api.server.requests.at(-1)?.headers.authorization).toBe(`Bearer ${TEST_API_KEY}`)
  await runner.post()
})

test('verify refuses every key: one error naming each by fingerprint, and no proxy is started', async () => {
  const api = await upstream({ apiKeys: {} })
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const main = await runner.main(
    {
      'api-key': TEST_API_KEY,
      'key-isolation': 'proxy',
      'api-base-url': api.apiBaseUrl,
      verify: 'true',
      install: 'false'
    },
    codex.env
  )
  expect(main.errors).toEqual([
    `::error::No api-key was accepted by ${api.apiBaseUrl}: ${fingerprint(TEST_API_KEY)} (HTTP 401: the key is revoked, mistyped or was never valid). Put a current key first in the api-key secret.`
  ])
  expect(main.state['key-proxy-dir']).toBe('')
  expect(await runner.tempFiles()).toEqual([])
})

test('a named codex-home with its own config.toml cannot be pointed at the proxy: one clear error, nothing started', async () => {
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const named = path.join(runner.root, 'named-home')
  await fs.mkdir(named)
  await fs.writeFile(path.join(named, 'config.toml'), 'model = "mine"\n')
  const main = await runner.main(
    { 'api-key': TEST_API_KEY, 'key-isolation': 'proxy', 'codex-home': named, install: 'false' },
    codex.env
  )
  expect(main.errors).toEqual([
    expect.stringMatching(
      /^::error::key-isolation: proxy needs the config\.toml the action writes, but codex-home .+ has its own config\.toml/
    )
  ])
  expect(await fs.readFile(path.join(named, 'config.toml'), 'utf8')).toBe('model = "mine"\n')
  expect(main.state['key-proxy-dir']).toBe('')
})

test.each([
  [
    // An agent identity JWT (a private key inside, with which Codex signs requests itself).
    { 'access-token': `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url({ agent_runtime_id: 'r' })}.c2lnbmF0dXJl` },
    /^::error::key-isolation: proxy takes an access-token only when it is a personal access token/
  ],
  [
    { 'api-key': TEST_API_KEY, 'export-env': 'true' },
    /^::error::key-isolation: proxy and export-env: true contradict each other/
  ],
  [
    { 'api-key': TEST_API_KEY, 'key-isolation': 'memory' },
    /^::error::key-isolation must be auto, proxy or none, not "memory"\./
  ],
  [
    { 'api-key': TEST_API_KEY, 'api-base-url': 'ftp://gateway.example.com/v1' },
    /^::error::api-base-url must be an http or https URL/
  ],
  [
    { 'api-key': TEST_API_KEY, 'api-base-url': 'gateway.example.com' },
    /^::error::api-base-url "gateway\.example\.com" is not a URL/
  ],
  [{ 'api-key': AZURE_KEY }, /^::error::api-key does not look like an OpenAI API key/],
  [
    { 'api-key': 'not-an-azure-key!', 'api-base-url': 'https://acme.openai.azure.com/openai/v1' },
    /^::error::api-key does not look like an Azure OpenAI key \(32 to 128 letters and digits\) or an OpenAI API key/
  ]
])('bad inputs: %o', async (inputs, pattern) => {
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const main = await runner.main({ 'key-isolation': 'proxy', install: 'false', ...inputs }, codex.env)
  expect(main.exitCode).toBe(1)
  expect(main.errors).toEqual([expect.stringMatching(pattern)])
  expect(await runner.tempFiles()).toEqual([])
})

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
    const elsewhere = await runners.serve(
      new LoopbackServer((_req, res) => sendJson(res, 200, { object: 'list', data: [] }))
    )
    const azure = await runners.serve(
      new LoopbackServer((_req, res) => {
        res.writeHead(302, { location: `http://127.0.0.1:${elsewhere.port}/collect/models` })
        res.end()
      })
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
    const api = await upstream()
    const forward = await runners.serve(new ForwardProxy())
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
 * Issue 13: "It must not hang", after a cleanup step that empties RUNNER_TEMP (common on
 * self-hosted runners). Issue 30.6: the guard ends when the proxy's directory goes, as the
 * proxy does (before, it lived on until the 6-hour limit: a process per lost job on a
 * persistent runner). Both hold: the job's CODEX_HOME (and the jail's codex wrapper) go with
 * RUNNER_TEMP, so Codex stops at once without asking the port.
 */
test('a cleanup step that empties RUNNER_TEMP mid-job: the proxy and its guard end, and codex exec fails at once', async () => {
  const { runner } = await proxiedJob()
  const processes = await startedKeyProxy(runner.root)
  expect(processes).toHaveLength(2)
  for (const entry of await fs.readdir(runner.temp))
    await fs.rm(path.join(runner.temp, entry), { recursive: true, force: true, maxRetries: 5 })
  await waitFor(() => !processes.some((p) => alive(p.pid)), 4000)
  expect(processes.filter((p) => alive(p.pid))).toEqual([])
  const started = Date.now()
  // As a workflow's run step calls it: the codex on PATH may have gone with RUNNER_TEMP too.
  const exec = await runner.run('bash', ['-c', 'codex exec --skip-git-repo-check --ephemeral "say hi"'], {
    timeoutMs: 60_000
  })
  const took = Date.now() - started
  await runner.post()
  expect({ timedOut: exec.timedOut, slow: took > 30_000, failed: exec.exitCode !== 0 }).toEqual({
    timedOut: false,
    slow: false,
    failed: true
  })
}, 180_000)

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
  await waitFor(() => keyProxyProcesses(runner.root).length === 0, 1500)
  expect(keyProxyProcesses(runner.root)).toEqual([])
})

/**
 * README: the proxy "drops any credential header on the way in". helpers/key-proxy/server.ts DROPPED is a
 * short list: Azure API Management's `Ocp-Apim-Subscription-Key` (a gateway in front of
 * Azure OpenAI, the documented use) and `X-Goog-Api-Key` pass through, and so does
 * `X-HTTP-Method-Override`, which some gateways honour as the method.
 */
test('credential and method-override headers a local caller adds are not forwarded upstream', async () => {
  const api = await upstream()
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

test('key proxy whose directory is removed during the job: the proxy and its guard end with it, and the post step goes on', async () => {
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const main = await runner.main(
    { install: 'false', 'api-key': TEST_API_KEY, 'key-isolation': 'proxy', 'api-base-url': 'http://127.0.0.1:9/v1' },
    codex.env
  )
  expect(main.errors).toEqual([])
  const dir = main.state['key-proxy-dir']
  const processes = await startedKeyProxy(runner.root)
  expect(processes.map((p) => p.guard).sort()).toEqual([false, true])
  const ours = processes.map((p) => p.pid)
  // What a runner restarted or a job killed leaves: main ran, its post step never will, and
  // the job's files are removed. Main does not wait for the proxy's first writes: one may land while the directory goes.
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 5 })
  // Issue 30.6: before the fix the guard kept its port and process until the 6-hour limit.
  await waitFor(() => !ours.some(alive), 4000)
  expect(ours.filter(alive)).toEqual([])
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
}, 60_000)

/** A proxy variable the key proxy cannot use: one error naming the variables, nothing left in RUNNER_TEMP. */
test.each([
  ['a malformed HTTPS_PROXY', 'HTTPS_PROXY', 'http://[bad', String.raw`Invalid URL \(ERR_INVALID_URL\)`],
  ['ALL_PROXY=socks5://… (a common runner setting)', 'ALL_PROXY', 'socks5://127.0.0.1:1080', '.+']
])(
  'key proxy + %s: one clear ::error::, not "Unexpected failure … bug"',
  async (_case, variable, value, cause) => {
    const runner = await newRunner()
    const codex = await standInCodex(runner.root)
    const main = await runner.main(
      {
        install: 'false',
        'api-key': TEST_API_KEY,
        'key-isolation': 'proxy',
        'api-base-url': 'https://api.example.test/v1'
      },
      { ...codex.env, [variable]: value }
    )
    expect(main.errors).toHaveLength(1)
    expect(main.errors[0]).not.toMatch(/Unexpected failure|bug in codex-auth-action/)
    expect(main.errors[0]).toMatch(
      new RegExp(
        String.raw`^::error::The key proxy could not start: ${cause}\. Check HTTPS_PROXY, ALL_PROXY and NO_PROXY, through which it reaches https://api\.example\.test/v1, or set key-isolation: none\.$`
      )
    )
    expect(await runner.tempFiles()).toEqual([])
  },
  60_000
)

test('key proxy + a codex-home that is a regular file: the error says what is wrong (not "has its own config.toml")', async () => {
  const runner = await newRunner()
  const codex = await standInCodex(runner.root)
  const file = path.join(runner.root, 'not-a-dir')
  await fs.writeFile(file, 'x')
  const main = await runner.main(
    { install: 'false', 'api-key': TEST_API_KEY, 'key-isolation': 'proxy', 'codex-home': file },
    codex.env
  )
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).not.toMatch(/has its own config\.toml/)
  expect(main.errors[0]).toMatch(
    /^::error::codex-home \S+\/not-a-dir exists and is not a directory\. Name a directory, or leave codex-home empty\.$/
  )
  expect(main.state['key-proxy-dir']).toBe('')
})
