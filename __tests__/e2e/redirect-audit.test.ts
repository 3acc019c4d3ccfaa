/**
 * The redirect audit: every credential the action sends itself or hands Codex meets an
 * upstream that answers 307 to another origin (a sink that records everything it gets).
 * No credential may reach the sink, in a header or a body: the Bearer key (verify, the key
 * proxy, and Codex's own requests with the auth.json login), Azure's api-key header (with
 * key-isolation: proxy), registry-token, and persist-token in the main and the post step.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'smol-toml'
import { chatgptAuth } from '../harness/chatgpt-auth.js'
import { FakeGitHub } from '../harness/fake-github.js'
import { standInCodex } from '../harness/fake-package.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { Runner } from '../harness/runner.js'
import { LoopbackServer, sendJson } from '../harness/servers.js'

const AZURE_KEY = 'b1c2d3e4f5a60718293a4b5c6d7e8f90'
const REGISTRY_TOKEN = 'npm_redirectAuditToken0123456789abcdef'
const PERSIST_TOKEN = `github_pat_redirect_${Math.random().toString(36).slice(2)}`

let runner: Runner
let sink: LoopbackServer
const stops: (() => Promise<void>)[] = []

beforeEach(async () => {
  sink = await new LoopbackServer((_req, res) => sendJson(res, 200, {})).start()
  stops.push(() => sink.stop())
})

afterEach(async () => {
  await runner.dispose()
  for (const stop of stops.splice(0).reverse()) await stop()
})

/** A server that sends every request on to the same path at the sink, with 307 (method and body kept). */
async function redirector(): Promise<LoopbackServer> {
  const server = await new LoopbackServer((req, res) => {
    res.writeHead(307, { location: `${sink.origin}${req.url}` })
    res.end()
  }).start()
  stops.push(() => server.stop())
  return server
}

/** The audit's finding: every place in what the sink received that holds `secret`. */
function atSink(secret: string): string[] {
  return sink.requests.flatMap((r) =>
    [...Object.entries(r.headers).map(([name, value]) => [name, String(value)]), ['body', r.body]]
      .filter(([, value]) => value.includes(secret))
      .map(([name]) => `${r.method} ${r.url} ${name}`)
  )
}

async function proxyBase(home: string): Promise<string> {
  const config = parse(await fs.readFile(path.join(home, 'config.toml'), 'utf8')) as {
    model_provider: string
    model_providers: Record<string, { base_url: string }>
  }
  return config.model_providers[config.model_provider].base_url
}

describe('the action sends it itself', () => {
  beforeEach(async () => {
    runner = await Runner.create()
  })

  test.each([
    ['Bearer api-key, verify', TEST_API_KEY, 'none'],
    ['Bearer api-key, verify before the key proxy starts', TEST_API_KEY, 'proxy'],
    ['Azure api-key header, verify before the key proxy starts', AZURE_KEY, 'proxy']
  ])('%s', async (_what, key, isolation) => {
    const upstream = await redirector()
    const codex = await standInCodex(runner.root)
    const azure = key === AZURE_KEY
    const main = await runner.main(
      {
        install: 'false',
        'api-key': key,
        'api-base-url': `${upstream.origin}${azure ? '/openai/v1' : '/v1'}`,
        'key-isolation': isolation,
        verify: 'true'
      },
      codex.env
    )
    expect(upstream.requests).toHaveLength(1)
    expect(main.exitCode).toBe(1)
    expect(atSink(key)).toEqual([])
    await runner.post()
  })

  test.each([
    ['Bearer api-key', TEST_API_KEY, '/v1'],
    ['Azure api-key header', AZURE_KEY, '/openai/v1']
  ])('%s, forwarded by the key proxy to an upstream that redirects', async (_what, key, suffix) => {
    const upstream = await redirector()
    const codex = await standInCodex(runner.root)
    const main = await runner.main(
      { install: 'false', 'api-key': key, 'api-base-url': `${upstream.origin}${suffix}`, 'key-isolation': 'proxy' },
      codex.env
    )
    expect(main.errors).toEqual([])
    const base = await proxyBase(main.outputs['codex-home'])
    const answer = await fetch(`${base}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"model":"gpt-test","input":"hi"}',
      redirect: 'manual'
    })
    await answer.arrayBuffer()
    expect(upstream.requests).toHaveLength(1)
    expect(atSink(key)).toEqual([])
    await runner.post()
  })

  test('registry-token, to a registry that redirects', async () => {
    const registry = await redirector()
    const main = await runner.main({
      'api-key': TEST_API_KEY,
      'registry-url': registry.origin,
      'registry-token': REGISTRY_TOKEN,
      'codex-version': '0.171.0'
    })
    expect(registry.requests[0]?.headers.authorization).toBe(`Bearer ${REGISTRY_TOKEN}`)
    expect(main.exitCode).toBe(1)
    expect(atSink(REGISTRY_TOKEN)).toEqual([])
  })

  test('persist-token: the main step, and the post step when the API starts redirecting during the job', async () => {
    const github = await new FakeGitHub(PERSIST_TOKEN).start()
    stops.push(() => github.stop())
    github.addSecret('CODEX_AUTH_JSON')
    // GITHUB_API_URL: passes requests to the fake API until told to redirect them.
    let redirecting = false
    const api = await new LoopbackServer(async (req, res, body) => {
      if (redirecting) return void res.writeHead(307, { location: `${sink.origin}${req.url}` }).end()
      const answer = await fetch(`${github.server.origin}${req.url}`, {
        method: req.method,
        headers: { authorization: String(req.headers.authorization ?? '') },
        body: req.method === 'PUT' ? body : undefined
      })
      res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text())
    }).start()
    stops.push(() => api.stop())
    const codex = await standInCodex(runner.root)
    const file = chatgptAuth()
    for (const secret of file.secrets) runner.canaries.add(secret)
    const main = await runner.main(
      {
        install: 'false',
        'auth-json': file.text,
        // Codex (the stand-in) refreshes auth.json in CODEX_HOME itself: what the post step then writes back.
        'key-isolation': 'none',
        'persist-secret': 'CODEX_AUTH_JSON',
        'persist-token': PERSIST_TOKEN
      },
      { ...codex.env, GITHUB_API_URL: api.origin, GITHUB_REPOSITORY: 'acme/app' }
    )
    expect(main.errors).toEqual([])
    const fresh = chatgptAuth({ lastRefresh: new Date() })
    for (const secret of fresh.secrets) runner.canaries.add(secret)
    await fs.writeFile(path.join(main.outputs['codex-home'], 'auth.json'), fresh.text)
    redirecting = true
    const post = await runner.post()
    expect(post.exitCode).toBe(1)
    expect(post.stdout).not.toMatch(/Wrote the refreshed auth\.json/)
    expect(atSink(PERSIST_TOKEN)).toEqual([])
    expect(github.puts()).toBe(0)
  })
})

test('Bearer api-key as Codex sends it (the auth.json login, real CLI): its client drops it on the redirect', async () => {
  runner = await Runner.create({ toolCache: sharedToolCache() })
  const upstream = await redirector()
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'api-base-url': `${upstream.origin}/v1`,
    'codex-version': CODEX_VERSION
  })
  expect(main.errors).toEqual([])
  // Codex retries a failed stream: bounded, then killed.
  await runner.run(
    'codex',
    ['exec', '--skip-git-repo-check', '--ephemeral', '-c', 'features.responses_websockets=false', 'say hi'],
    { timeoutMs: 15_000 }
  )
  expect(upstream.requests.filter((r) => r.headers.authorization === `Bearer ${TEST_API_KEY}`).length).toBeGreaterThan(
    0
  )
  expect(atSink(TEST_API_KEY)).toEqual([])
  await runner.post()
}, 60_000)
