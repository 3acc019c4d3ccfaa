/**
 * Codex's WebSocket transport through the key proxy: the real CLI completes a turn over the
 * websocket with nothing but an api-key, falls back to HTTP at once when the upstream
 * refuses the upgrade, and every promise the HTTP path keeps holds over the websocket too
 * (capability, routes, no caller credential, no redirect followed, HTTPS_PROXY with the CA,
 * a dead proxy failing fast, the post step's counts).
 */
import { useRunners } from '../harness/lifecycle.js'
import { existsSync, promises as fs } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'smol-toml'
import { WebSocket } from 'ws'
import { FakeOpenAI, REPLY } from '../harness/fake-openai.js'
import { alive, startedKeyProxy } from '../harness/processes.js'
import { ForwardProxy } from '../harness/proxy.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { listFiles, type Runner } from '../harness/runner.js'
import { LoopbackServer } from '../harness/servers.js'
import { makeTestCa } from '../harness/test-ca.js'

const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi']
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const runners = useRunners()

const newRunner = () => runners.create({ toolCache: sharedToolCache() })

async function upstream(options: ConstructorParameters<typeof FakeOpenAI>[0] = {}): Promise<FakeOpenAI> {
  const api = await new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200 }, ...options }).start()
  runners.stopAfter(api)
  return api
}

/** The provider table the action wrote into config.toml. */
async function providerOf(home: string): Promise<{ base_url: string; supports_websockets?: boolean }> {
  const config = parse(await fs.readFile(path.join(home, 'config.toml'), 'utf8')) as {
    model_provider: string
    model_providers: Record<string, { base_url: string; supports_websockets?: boolean }>
  }
  return config.model_providers[config.model_provider]
}

/** Every auth.json under `dir`. */
async function authJsonFiles(dir: string): Promise<string[]> {
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true })
  return entries.filter((e) => e.isFile() && e.name === 'auth.json').map((e) => path.join(e.parentPath, e.name))
}

/** An upgrade to `url`: the websocket once open, or the status and body of the refusal. */
function upgrade(
  url: string,
  headers: Record<string, string> = {}
): Promise<{ ws?: WebSocket; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers })
    ws.once('open', () => resolve({ ws, status: 101, body: '' }))
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (chunk: Buffer) => (body += chunk.toString()))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    ws.once('error', reject)
  })
}

/** One `response.create` over `ws`; the types of the events until `response.completed`. */
function turn(ws: WebSocket): Promise<string[]> {
  return new Promise((resolve) => {
    const types: string[] = []
    const onMessage = (data: Buffer) => {
      const type = (JSON.parse(data.toString()) as { type: string }).type
      types.push(type)
      if (type === 'response.completed') {
        ws.off('message', onMessage)
        resolve(types)
      }
    }
    ws.on('message', onMessage)
    ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-test', input: [] }))
  })
}

async function mainWithProxy(runner: Runner, api: FakeOpenAI, inputs: Record<string, string> = {}, env = {}) {
  const main = await runner.main(
    { 'api-key': TEST_API_KEY, 'api-base-url': api.apiBaseUrl, 'codex-version': CODEX_VERSION, ...inputs },
    env
  )
  expect(main.errors).toEqual([])
  return { main, base: (await providerOf(main.outputs['codex-home'])).base_url }
}

test('nothing but api-key: codex exec completes its turn over the websocket through the proxy; no auth.json; post leaves no process', async () => {
  const api = await upstream()
  const runner = await newRunner()
  const { main } = await mainWithProxy(runner, api)
  const home = main.outputs['codex-home']
  expect(await providerOf(home)).toMatchObject({ supports_websockets: true })
  expect(await listFiles(home)).toEqual(['config.toml'])
  const processes = await startedKeyProxy(runner.root)
  expect(processes).toHaveLength(2)

  const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  expect(exec.timedOut).toBe(false)
  expect(exec.stdout).toContain(REPLY)
  // The turn went over the websocket: the upgrade carried the key, no POST fell back to HTTP.
  expect(api.upgrades().map((r) => r.headers.authorization)).toEqual(expect.arrayContaining([`Bearer ${TEST_API_KEY}`]))
  expect(api.upgrades().every((r) => r.headers.authorization === `Bearer ${TEST_API_KEY}`)).toBe(true)
  expect(api.responsesRequests().filter((r) => r.method === 'POST')).toEqual([])
  expect(api.websocketMessages.filter((m) => m.type === 'response.create' && m.generate !== false)).not.toEqual([])
  expect(await authJsonFiles(runner.root)).toEqual([])

  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  const messages = api.websocketMessages.length
  expect(post.stdout).toMatch(
    new RegExp(
      `Key proxy \\(pid \\d+\\): ${api.server.requests.length} requests forwarded \\(${api.upgrades().length} of them websockets, which carried ${messages} messages upstream\\), no upstream error, 0 refused; stopped\\.`
    )
  )
  for (let i = 0; i < 20 && processes.some((p) => alive(p.pid)); i++) await sleep(50)
  expect(processes.filter((p) => alive(p.pid))).toEqual([])
  expect(await runner.tempFiles()).toEqual([])
}, 180_000)

test('an upstream that refuses the upgrade (426): the same turn completes over HTTP at once', async () => {
  const api = await upstream({ websocket: 'refuse' })
  const runner = await newRunner()
  await mainWithProxy(runner, api)
  const started = Date.now()
  const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  const took = Date.now() - started
  expect(exec.stdout).toContain(REPLY)
  expect(api.upgrades().length).toBeGreaterThan(0)
  expect(api.responsesRequests().filter((r) => r.method === 'POST').length).toBeGreaterThan(0)
  // Codex retries a websocket that failed otherwise for seconds before it falls back.
  expect(took).toBeLessThan(5_000)
  await runner.post()
}, 180_000)

test('over the websocket: the capability, the route, no caller credential, no redirect followed', async () => {
  const api = await upstream()
  const runner = await newRunner()
  const { base } = await mainWithProxy(runner, api)
  const origin = new URL(base).origin
  const capability = new URL(base).pathname.split('/')[1]
  const before = api.server.requests.length
  for (const url of [
    `${origin}/v1/responses`,
    `${origin}/${'A'.repeat(43)}/v1/responses`,
    `${base}/models`,
    `${base}/responses/compact`,
    `${origin}/${capability}/v2/responses`
  ]) {
    expect([url, (await upgrade(url)).status]).toEqual([url, 404])
  }
  expect(api.server.requests.length).toBe(before)

  const added = {
    authorization: 'Bearer sk-someone-elses-key',
    cookie: 'a=b',
    'ocp-apim-subscription-key': 'someone-elses',
    'x-goog-api-key': 'someone-elses',
    'x-http-method-override': 'DELETE'
  }
  const { ws, status } = await upgrade(`${base}/responses`, added)
  expect(status).toBe(101)
  expect(await turn(ws as WebSocket)).toEqual(['response.created', 'response.output_item.done', 'response.completed'])
  ws?.close()
  const seen = api.upgrades().at(-1)?.headers ?? {}
  expect(seen.authorization).toBe(`Bearer ${TEST_API_KEY}`)
  expect(Object.keys(added).filter((name) => name !== 'authorization' && name in seen)).toEqual([])
  await runner.post()
}, 180_000)

test('an upstream that redirects the upgrade: the redirect goes back unfollowed, the other origin gets nothing', async () => {
  const elsewhere = await new LoopbackServer((_req, res) => void res.end()).start()
  elsewhere.onUpgrade = (_req, socket) => socket.destroy()
  const api = await upstream()
  api.server.onUpgrade = (_req, socket) =>
    socket.end(
      `HTTP/1.1 307 Temporary Redirect\r\nlocation: ${elsewhere.origin}/v1/responses\r\ncontent-length: 0\r\n\r\n`
    )
  runners.stopAfter(elsewhere)
  const runner = await newRunner()
  const { base } = await mainWithProxy(runner, api)
  const answer = await upgrade(`${base}/responses`)
  expect(answer.status).toBe(307)
  // The real CLI against the same redirect: whatever it does, no key reaches the other origin.
  await runner.run('codex', EXEC, { timeoutMs: 20_000 })
  expect(elsewhere.requests.map((r) => r.headers.authorization ?? r.headers['api-key'] ?? '')).not.toContain(
    expect.stringContaining(TEST_API_KEY)
  )
  expect(api.upgrades().every((r) => r.headers.authorization === `Bearer ${TEST_API_KEY}`)).toBe(true)
  await runner.post()
}, 180_000)

test('a websocket through HTTPS_PROXY tunnels with CONNECT, trusting the CA; NO_PROXY sends it direct', async () => {
  const ca = makeTestCa('Key Proxy WebSocket Test Root CA')
  const api = await upstream({ tls: ca.server })
  const forward = await new ForwardProxy().start()
  runners.stopAfter(forward)
  for (const [env, tunnels] of [
    [{ HTTPS_PROXY: forward.url }, 1],
    [{ HTTPS_PROXY: forward.url, NO_PROXY: '127.0.0.1' }, 0]
  ] as const) {
    const runner = await newRunner()
    const { base } = await mainWithProxy(runner, api, { 'ca-certificate': ca.ca }, env)
    const before = forward.connects.length
    const { ws, status } = await upgrade(`${base}/responses`)
    expect([env, status]).toEqual([env, 101])
    expect(await turn(ws as WebSocket)).toContain('response.completed')
    ws?.close()
    expect(api.upgrades().at(-1)?.headers.authorization).toBe(`Bearer ${TEST_API_KEY}`)
    expect([env, forward.connects.length - before]).toEqual([env, tunnels])
    await runner.post(env)
  }
}, 180_000)

test('a dead proxy: its guard answers the upgrade with 410 naming it, and codex exec fails at once', async () => {
  const api = await upstream()
  const runner = await newRunner()
  const { main, base } = await mainWithProxy(runner, api)
  const dir = main.state['key-proxy-dir']
  for (let i = 0; i < 20 && !existsSync(path.join(dir, 'status.json')); i++) await sleep(50)
  const { pid } = JSON.parse(await fs.readFile(path.join(dir, 'status.json'), 'utf8')) as { pid: number }
  process.kill(pid, 'SIGKILL')
  for (let i = 0; i < 20 && alive(pid); i++) await sleep(50)
  const refused = await upgrade(`${base}/responses`)
  expect(refused.status).toBe(410)
  expect(refused.body).toContain(`The codex-auth-action key proxy (pid ${pid}) is no longer running`)
  const started = Date.now()
  const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  expect(exec.timedOut).toBe(false)
  expect(Date.now() - started).toBeLessThan(30_000)
  expect(`${exec.stdout}\n${exec.stderr}`).toContain(
    `The codex-auth-action key proxy (pid ${pid}) is no longer running`
  )
  await runner.post()
}, 180_000)
