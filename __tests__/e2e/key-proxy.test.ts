/**
 * key-isolation: proxy and api-base-url, against the real Codex CLI: a later step's
 * `codex exec` reaches a fake upstream through the detached key proxy (over HTTP, and over
 * HTTPS with a test CA), or an Azure-shaped endpoint directly; the key is in no file, no
 * environment and no command line; the post step stops the proxy.
 */
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'smol-toml'
import { fingerprint } from '../../src/secrets/mask.js'
import { FakeOpenAI, REPLY } from '../harness/fake-openai.js'
import { standInCodex } from '../harness/fake-package.js'
import { alive, keyProxyProcesses, startedKeyProxy } from '../harness/processes.js'
import { ForwardProxy } from '../harness/proxy.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { listFiles, Runner } from '../harness/runner.js'
import { makeTestCa } from '../harness/test-ca.js'

const AZURE_KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
const OTHER_KEY = 'sk-proj-codexAuthActionRetiredKey0123456789'
const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi']
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const runners: Runner[] = []
const servers: FakeOpenAI[] = []

async function newRunner(): Promise<Runner> {
  const runner = await Runner.create({ toolCache: sharedToolCache() })
  runners.push(runner)
  return runner
}

async function upstream(options: ConstructorParameters<typeof FakeOpenAI>[0] = {}): Promise<FakeOpenAI> {
  const server = await new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200, [AZURE_KEY]: 200 }, ...options }).start()
  servers.push(server)
  return server
}

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.dispose()))
  await Promise.all(servers.splice(0).map((s) => s.stop()))
})

/** The environments and command lines of `pids` that hold `secret`. */
function processesHolding(pids: number[], secret: string): string[] {
  return pids
    .flatMap((pid) => ['environ', 'cmdline'].map((file) => `/proc/${pid}/${file}`))
    .filter((file) => readFileSync(file, 'latin1').includes(secret))
}

async function statusOf(
  dir: string
): Promise<{ pid: number; requests: number; refused: number; upstreamErrors: number }> {
  for (let i = 0; i < 20 && !existsSync(path.join(dir, 'status.json')); i++) await sleep(50)
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
    for (let i = 0; i < 20 && status.refused < 5; i++) status = await sleep(50).then(() => statusOf(dir))
    expect(status.refused).toBe(5)
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toMatch(
      new RegExp(
        `Key proxy \\(pid ${status.pid}\\): ${api.server.requests.length} requests forwarded \\(${api.upgrades().length} of them websockets, which carried ${api.websocketMessages.length} messages upstream\\), no upstream error, 5 refused; stopped\\.`
      )
    )
    for (let i = 0; i < 20 && processes.some((p) => alive(p.pid)); i++) await sleep(50)
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
  const forward = await new ForwardProxy().start()
  try {
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
    }
  } finally {
    await forward.stop()
  }
}, 180_000)

test('a proxy killed during the job: codex exec fails at once with a message that names it', async () => {
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
  const { pid } = await statusOf(dir)
  const processes = keyProxyProcesses(runner.root)
  expect(processes).toHaveLength(2)
  process.kill(pid, 'SIGKILL')
  for (let i = 0; i < 20 && alive(pid); i++) await sleep(50)
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
  for (let i = 0; i < 20 && processes.some((p) => alive(p.pid)); i++) await sleep(50)
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
  expect(main.state['key-proxy-dir']).toBeUndefined()
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
  expect(main.state['key-proxy-dir']).toBeUndefined()
})

test.each([
  [
    { 'access-token': 'at-codexAuthActionTestToken0123456789' },
    /^::error::key-isolation: proxy works with api-key only: Codex must hold an access-token itself/
  ],
  [
    { 'federation-rule-id': 'idpm_testFederationRule123', 'oidc-audience': 'https://api.openai.com/v1' },
    /^::error::key-isolation: proxy works with api-key only; federation-rule-id has no stored key/
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
