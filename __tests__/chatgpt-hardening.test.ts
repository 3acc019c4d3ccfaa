/**
 * The ChatGPT sign-in against an outside review's attempts: persist-token over plain http,
 * an API answer as a workflow command, repeated "tokens" keys, redirects, a symlinked
 * auth.json at post time, odd auth-json values, a payload that does not say whether the
 * repository is public. The first three failed before their fixes.
 */
import { promises as fs } from 'node:fs'
import * as http from 'node:http'
import * as net from 'node:net'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'
import { chatgptAuth, chatgptTokens, type ChatgptFile } from './harness/chatgpt-auth.js'
import { FakeGitHub } from './harness/fake-github.js'
import { standInCodex } from './harness/fake-package.js'
import { Runner } from './harness/runner.js'

const SECRET = 'CODEX_AUTH_JSON'
const PERSIST_TOKEN = `github_pat_review12${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`

let github: FakeGitHub
let runner: Runner
let codexEnv: Record<string, string>
const servers: http.Server[] = []

beforeEach(async () => {
  github = await new FakeGitHub(PERSIST_TOKEN).start()
  github.addSecret(SECRET)
  runner = await Runner.create()
  codexEnv = (await standInCodex(runner.root)).env
})

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  await runner.dispose()
  await github.stop()
})

function signIn(options: Parameters<typeof chatgptAuth>[0] = {}): ChatgptFile {
  const file = chatgptAuth(options)
  for (const secret of file.secrets) runner.canaries.add(secret)
  return file
}

function main(inputs: Record<string, string>, env: Record<string, string> = {}) {
  return runner.main({ install: 'false', ...inputs }, { ...codexEnv, ...github.env(), ...env })
}

const persisted = (file: ChatgptFile, extra: Record<string, string> = {}) => ({ 'auth-json': file.text, 'persist-secret': SECRET, 'persist-token': PERSIST_TOKEN, ...extra })

/** A loopback HTTP server for the test; records each request's method, URL and authorization header. */
async function server(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<{ origin: string; seen: { method?: string; url?: string; authorization?: string }[] }> {
  const seen: { method?: string; url?: string; authorization?: string }[] = []
  const s = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization })
    handler(req, res)
  })
  servers.push(s)
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return { origin: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen }
}

test('GITHUB_API_URL on plain http to another host: persist-token must not travel in cleartext', async () => {
  // An HTTP proxy on loopback stands for the network path to api.github.example: it sees what a wire would carry.
  // undici's ProxyAgent tunnels (CONNECT) even for http:, so the bytes inside the tunnel are the plain HTTP request.
  const upstream = new URL(github.server.origin)
  const proxy = await server((_req, res) => res.writeHead(405).end())
  const tunnels: string[] = []
  let wire = ''
  servers[servers.length - 1].on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(req.url ?? '')
    const target = net.connect(Number(upstream.port), upstream.hostname, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      target.write(head)
      client.on('data', (chunk: Buffer) => {
        wire += chunk.toString('latin1')
      })
      client.pipe(target)
      target.pipe(client)
    })
    for (const socket of [client, target]) socket.on('error', () => undefined)
  })
  const env = {
    GITHUB_API_URL: 'http://api.github.example',
    http_proxy: proxy.origin,
    HTTP_PROXY: proxy.origin,
    no_proxy: '127.0.0.1,localhost',
    NO_PROXY: '127.0.0.1,localhost'
  }
  const result = await main(persisted(signIn()), env)
  // Expected: refused before any request, as for registry-token and api-key (SECURITY.md "No secret over plain http beyond this machine").
  expect({ exitCode: result.exitCode, tunnels, tokenInCleartext: wire.includes(`authorization: Bearer ${PERSIST_TOKEN}`) }).toEqual({ exitCode: 1, tunnels: [], tokenInCleartext: false })
  await runner.post(env)
}, 60_000)

test('updated_at from the secrets API cannot act as a workflow command in the main step', async () => {
  github.addSecret(SECRET, undefined, '2026-01-01T00:00:00Z\n::warning::injected-by-api-answer')
  const result = await main(persisted(signIn()))
  expect(result.exitCode).toBe(0)
  const injected = result.stdout.split(/\r?\n/).filter((line) => /^\s*::warning::injected-by-api-answer/.test(line))
  expect(injected).toEqual([])
  await runner.post()
})

test('a redirect from GITHUB_API_URL is not followed with persist-token', async () => {
  const sink = await server((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"key_id":"k","key":"AAAA","updated_at":"x"}'))
  const redirector = await server((req, res) => res.writeHead(307, { location: `${sink.origin}${req.url}` }).end())
  const result = await main(persisted(signIn()), { GITHUB_API_URL: redirector.origin })
  expect(sink.seen).toEqual([])
  expect(result.exitCode).toBe(1)
  expect(result.errors).toHaveLength(1)
  expect(result.errors[0]).not.toMatch(/Unexpected failure/)
  await runner.post()
})

test('auth-json with a duplicate "tokens" key: every token in the secret is masked', async () => {
  const good = JSON.parse(chatgptAuth().text)
  const shadowed = chatgptTokens({ accountId: 'acct-shadowed' })
  // JSON.parse keeps the last "tokens"; the first one's tokens are still the user's secrets.
  const text = `{\n  "auth_mode": "chatgpt",\n  "tokens": ${JSON.stringify(shadowed, null, 2)},\n  "tokens": ${JSON.stringify(good.tokens, null, 2)},\n  "last_refresh": "${good.last_refresh}"\n}`
  const result = await main({ 'auth-json': text })
  const masks = result.stdout.split('\n').filter((l) => l.startsWith('::add-mask::'))
  expect(masks).toContain(`::add-mask::${shadowed.refresh_token}`)
  expect(masks).toContain(`::add-mask::${shadowed.access_token}`)
  await runner.post()
})

test('post does not upload through an auth.json replaced by a symlink to another sign-in', async () => {
  const result = await main(persisted(signIn()))
  expect(result.errors).toEqual([])
  const home = result.outputs['codex-home']
  const other = signIn({ lastRefresh: new Date(), accountId: 'acct-other' })
  const elsewhere = path.join(runner.root, 'elsewhere.json')
  await fs.writeFile(elsewhere, other.text)
  await fs.rm(path.join(home, 'auth.json'))
  await fs.symlink(elsewhere, path.join(home, 'auth.json'))
  const post = await runner.post()
  expect(github.puts()).toBe(0)
  expect(post.stdout).not.toMatch(/Unexpected failure/)
  await fs.rm(elsewhere)
})

describe('odd auth-json values never give "Unexpected failure", never print the email or hostile claims', () => {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const jwt = (claims: object) => `${b64({ alg: 'none' })}.${b64(claims)}.c2lnbmF0dXJlc2lnbmF0dXJl`
  const hostile = { email: 'victim@example.com', 'https://api.openai.com/auth': { chatgpt_account_id: '::warning::acct\n::error::x', chatgpt_plan_type: '**plan**\n::warning::plan', chatgpt_user_id: '<b>u</b>' } }
  const base = () => JSON.parse(chatgptAuth({ email: 'victim@example.com' }).text)
  const withTokens = (tokens: object) => JSON.stringify({ ...base(), tokens: { ...base().tokens, ...tokens } })
  test.each([
    ['tokens is an array', () => JSON.stringify({ ...base(), tokens: ['a', 'b'] })],
    ['id_token is a number', () => withTokens({ id_token: 12345 })],
    ['last_refresh is a number', () => JSON.stringify({ ...base(), last_refresh: 1700000000 })],
    ['exp is a string', () => withTokens({ access_token: jwt({ exp: '1700000000' }) })],
    ['account_id is an object', () => withTokens({ account_id: { x: 1 } })],
    ['auth claims are an array', () => withTokens({ account_id: undefined, id_token: jwt({ 'https://api.openai.com/auth': [1] }) })],
    ['hostile claims and an email', () => withTokens({ account_id: undefined, id_token: jwt(hostile), access_token: jwt({ exp: 4102444800, ...hostile }) })],
    ['CRLF and a BOM', () => '\uFEFF' + JSON.stringify(base(), null, 2).replace(/\n/g, '\r\n')],
    ['base64 of garbage starting with {', () => Buffer.from('{\u0000\u00ff garbage').toString('base64')],
    ['deeply nested', () => `${JSON.stringify(base()).slice(0, -1)},"extra":${'['.repeat(20000)}${']'.repeat(20000)}}`],
    ['__proto__ tokens', () => `{"__proto__": {"x": 1}, "tokens": ${JSON.stringify(base().tokens)}}`],
    ['a top-level email field', () => JSON.stringify({ ...base(), email: 'victim@example.com' })]
  ])('%s', async (_what, value) => {
    const result = await main({ 'auth-json': value() })
    expect([0, 1]).toContain(result.exitCode)
    expect(result.errors.length).toBe(result.exitCode)
    const printed = result.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::')).join('\n')
    expect(printed).not.toMatch(/Unexpected failure|victim@example\.com|::warning::(acct|plan)|\*\*plan/)
    expect(result.summary).not.toMatch(/victim@example\.com|\*\*plan|<b>u<\/b>/)
    await runner.post()
  })
})

test('an event payload without repository (a schedule payload as GHES sent it) is not judged public or private', async () => {
  const file = path.join(runner.root, 'event.json')
  await fs.writeFile(file, JSON.stringify({ schedule: '0 * * * *' }))
  const result = await main({ 'auth-json': signIn().text }, { GITHUB_EVENT_PATH: file, GITHUB_EVENT_NAME: 'schedule' })
  // Nothing proves the repository private, yet auth-json is used without even a warning.
  expect({ exitCode: result.exitCode, warnedOrRefused: /public|visibility/i.test(result.stdout) }).toEqual({ exitCode: 0, warnedOrRefused: true })
  await runner.post()
})
