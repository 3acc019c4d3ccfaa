/**
 * A Codex personal access token held by the key proxy, with the real CLI as the oracle: the
 * same `codex exec` runs once natively (key-isolation: none, Codex holds the token) and once
 * through the proxy (the default), against one loopback ChatGPT backend. The backend must
 * see the same requests: method, path, body (decompressed: Codex zstd-compresses model
 * requests in ChatGPT mode) and headers, credential headers by value, over HTTP and over the
 * WebSocket transport. The token is a canary: after the proxied run it is in no file. Spend
 * control (allowed-models, max-requests, max-tokens, the usage file and the summary: harness/spend-caps.ts)
 * is checked over both transports, for a ChatGPT sign-in (auth-json) too, which the proxy serves the same way.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { chatgptAuth } from '../harness/chatgpt-auth.js'
import { ChatgptTokenBackend, LoopingModel, TOKEN_TURN_TEXT } from '../harness/chatgpt-token-backend.js'
import { modelRequests, normalized, otherRequests } from '../harness/request-views.js'
import { useRunners } from '../harness/lifecycle.js'
import { ForwardProxy } from '../harness/proxy.js'
import { expectSpendCaps } from '../harness/spend-caps.js'
import { CODEX_VERSION, sharedToolCache } from '../harness/real-cli.js'
import type { Runner } from '../harness/runner.js'

const TOKEN = 'at-brokerTestToken0123456789abcdefXYZ'
const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi']

const runners = useRunners()

test.each([
  ['HTTP', false],
  ['the WebSocket transport', true]
])(
  'an access token over %s: the backend sees the same requests from Codex natively and through the key proxy',
  async (_transport, websocket) => {
    // It plays chatgpt.com too, behind a forwarding proxy: Codex asks its model list there whatever chatgpt_base_url says.
    const backend = await runners.serve(new ChatgptTokenBackend([TOKEN], { websocket, names: ['chatgpt.com'] }))
    const forward = await runners.serve(new ForwardProxy(undefined, { 'chatgpt.com:443': `127.0.0.1:${backend.port}` }))
    const views: ReturnType<typeof normalized>[][] = []
    const others: ReturnType<typeof normalized>[][] = []
    const paths: string[][] = []
    for (const isolation of ['none', 'proxy']) {
      const runner = await runners.create({ toolCache: sharedToolCache() })
      const main = await runner.main(
        // codex-network: open in both runs: natively Codex must reach the loopback backend itself
        // (the spend tests below run through the default network jail).
        {
          'access-token': TOKEN,
          'codex-version': CODEX_VERSION,
          'key-isolation': isolation,
          'codex-network': 'open',
          ...backend.inputs()
        },
        backend.env()
      )
      expect(main.errors).toEqual([])
      expect(main.outputs['auth-mode']).toBe('access-token')
      const home = main.outputs['codex-home']
      if (isolation === 'proxy') {
        // Codex is signed in with a placeholder; the token is nowhere in its home.
        const auth = await fs.readFile(path.join(home, 'auth.json'), 'utf8')
        expect(auth).not.toContain(TOKEN)
        expect(main.exported.CODEX_AUTHAPI_BASE_URL).toMatch(/^https:\/\/127\.0\.0\.1:\d+\/authapi$/)
      }
      const from = backend.requests.length
      // The native run needs AuthAPI named for it; through the proxy the action exported its own.
      const exec = await runner.run('codex', EXEC, {
        env: { ...(isolation === 'none' ? backend.env() : {}), HTTPS_PROXY: forward.url },
        timeoutMs: 90_000
      })
      if (!exec.stdout.includes(TOKEN_TURN_TEXT)) throw new Error(`no answer; Codex said: ${exec.stderr.slice(-3000)}`)
      // The model list reached the backend (below: with the token, through the proxy as natively).
      expect(exec.stderr).not.toContain('failed to refresh available models')
      const requests = backend.since(from)
      const dirs = [runner.root, home].sort((a, b) => b.length - a.length)
      views.push(modelRequests(requests).map((r) => normalized(r, dirs)))
      // Every other request (the websocket's upgrade, whoami, routing, settings, the config bundle, plugins, analytics) in full too.
      others.push(otherRequests(requests, dirs))
      paths.push([...new Set(requests.map((r) => `${r.method} ${r.url.split('?')[0]}`))].sort())
      const post = await runner.post()
      expect(post.errors).toEqual([])
      if (isolation === 'proxy') {
        expect(post.stdout).toMatch(/Key proxy \(pid \d+\): \d+ requests forwarded/)
        expect(await runner.tempFiles()).toEqual([])
      }
    }
    const [native, proxied] = views
    expect(native.length).toBeGreaterThan(0)
    expect(proxied).toEqual(native)
    expect(native[0].values.authorization).toBe(`Bearer ${TOKEN}`)
    if (!websocket) expect(native[0].values['content-encoding']).toBe('zstd')
    // Every endpoint Codex asked natively, it asked through the proxy (plugins, routing, analytics),
    // with the same method, body and headers, the credential's by value.
    expect(paths[1]).toEqual(paths[0])
    expect(others[1]).toEqual(others[0])
    expect(others[0].some((r) => r.values.authorization === `Bearer ${TOKEN}`)).toBe(true)
    expect(paths[1]).toContain('GET /backend-api/codex/models')
  },
  240_000
)

test('a revoked access token: one error from the AuthAPI check that says what to do, before anything is installed or started', async () => {
  const backend = await runners.serve(new ChatgptTokenBackend([TOKEN]))
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const revoked = 'at-revokedBrokerToken0123456789abcdef'
  const main = await runner.main(
    { 'access-token': revoked, 'codex-version': CODEX_VERSION, ...backend.inputs() },
    backend.env()
  )
  expect(main.exitCode).toBe(1)
  expect(main.errors).toEqual([
    expect.stringMatching(
      /^::error::The access-token was refused by AuthAPI \(HTTP 401 from https:\/\/127\.0\.0\.1:\d+\/authapi\/v1\/user-auth-credential\/whoami: Invalid personal access token\): it is revoked, expired or mistyped\. Create a new personal access token and update the secret\.$/
    )
  ])
  expect(main.state['key-proxy-dir'] ?? '').toBe('')
  expect(await runner.tempFiles()).toEqual([])
  expect(backend.requests.map((r) => r.url)).toEqual(['/authapi/v1/user-auth-credential/whoami'])
  await runner.post()
})

/** The credential of each source Codex reaches the ChatGPT backend with through the proxy: an access token, a sign-in (auth-json). */
const CREDENTIALS: Record<string, (backend: ChatgptTokenBackend, runner: Runner) => Record<string, string>> = {
  'an access token': () => ({ 'access-token': TOKEN }),
  'a ChatGPT sign-in': (backend, runner) => {
    const file = chatgptAuth({ accountId: 'account-token-test' })
    for (const secret of file.secrets) runner.canaries.add(secret)
    backend.tokens.push(file.tokens.access_token)
    return { 'auth-json': file.text }
  }
}

test.each([
  ['an access token', 'HTTP (zstd-compressed bodies)', false],
  ['an access token', 'the WebSocket transport', true],
  ['a ChatGPT sign-in', 'HTTP (zstd-compressed bodies)', false],
  ['a ChatGPT sign-in', 'the WebSocket transport', true]
])(
  'spend control with %s over %s: allowed-models refuses before anything is sent, max-requests and max-tokens stop a looping turn at the cap, and the usage file and the summary count it',
  async (credential, _transport, websocket) => {
    const backend = await runners.serve(new ChatgptTokenBackend([TOKEN], { websocket, model: new LoopingModel() }))
    await expectSpendCaps(backend, websocket, async (caps) => {
      const runner = await runners.create({ toolCache: sharedToolCache() })
      const main = await runner.main(
        { ...CREDENTIALS[credential](backend, runner), 'codex-version': CODEX_VERSION, ...caps, ...backend.inputs() },
        backend.env()
      )
      return { runner, main }
    })
  },
  240_000
)
