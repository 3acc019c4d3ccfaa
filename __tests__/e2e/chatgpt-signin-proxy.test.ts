/**
 * A ChatGPT sign-in (auth-json) held by the key proxy (the default), with the real CLI:
 * the proxy's refresh request is the one Codex makes natively (key-isolation: none) against
 * the same loopback token endpoint; the refreshed file is written back to its secret once;
 * concurrent requests under a 401 make one refresh; a refused refresh token gives the
 * documented message to Codex and in the post step. (That the model's commands find no token
 * of it: no-credential-in-reach.test.ts.) Every token, the seed's and the refreshed ones, is
 * a canary for the leak audit.
 */
import { promises as fs } from 'node:fs'
import * as https from 'node:https'
import * as path from 'node:path'
import { chatgptAuth, chatgptTokens, type ChatgptFile } from '../harness/chatgpt-auth.js'
import { ChatgptTokenBackend, TOKEN_TURN_TEXT, type BackendRequest } from '../harness/chatgpt-token-backend.js'
import { FakeGitHub } from '../harness/fake-github.js'
import { useRunners } from '../harness/lifecycle.js'
import { CODEX_VERSION, sharedToolCache } from '../harness/real-cli.js'
import { modelListRequests } from '../harness/request-views.js'
import { type Runner } from '../harness/runner.js'

const ACCOUNT = 'acct-signin-proxy'
const SECRET = 'CODEX_AUTH_JSON'
const GITHUB_TOKEN = 'github_pat_signinProxyTest0123456789abcdef'
const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi']
/** Headers each connection has of its own; accept-encoding: the proxy reads the token endpoint's answer uncompressed. */
const PER_CONNECTION = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'accept-encoding'])

let backend: ChatgptTokenBackend
const runners = useRunners({
  canaries: () => backend.issued.flatMap((issued) => [issued.id_token, issued.access_token, issued.refresh_token])
})

/** A sign-in of the backend's account, its tokens canaries; `accepted`: the backend takes its access token. */
function signIn(runner: Runner, options: { expiresIn?: number; accepted?: boolean; refreshable?: boolean }) {
  const file = chatgptAuth({ accountId: ACCOUNT, expiresIn: options.expiresIn, pretty: true })
  for (const secret of file.secrets) runner.canaries.add(secret)
  if (options.accepted) backend.tokens.push(file.tokens.access_token)
  if (options.refreshable) backend.refreshable.add(file.tokens.refresh_token)
  return file
}

async function start(file: ChatgptFile, runner: Runner, extra: Record<string, string> = {}, github?: FakeGitHub) {
  const main = await runner.main(
    { 'auth-json': file.text, 'codex-version': CODEX_VERSION, ...backend.inputs(), ...extra },
    { ...backend.env(), ...github?.env() }
  )
  expect(main.errors).toEqual([])
  expect(main.outputs['auth-mode']).toBe('chatgpt')
  return main
}

/** The token endpoint's request as compared: the refresh token replaced by whose it is. */
/** The post step writes the secret back once, with the last refresh token the token endpoint issued. */
async function expectWrittenBackOnce(runner: Runner, github: FakeGitHub): Promise<void> {
  const post = await runner.post()
  expect(post.errors).toEqual([])
  expect(github.puts()).toBe(1)
  const kept = JSON.parse(github.secret(SECRET)?.value ?? '{}') as { tokens: ChatgptFile['tokens'] }
  expect(kept.tokens.refresh_token).toBe(backend.issued.at(-1)?.refresh_token)
}

function refreshView(request: BackendRequest, seed: ChatgptFile) {
  const body = JSON.parse(request.body) as Record<string, string>
  expect(body.refresh_token).toBe(seed.tokens.refresh_token)
  return {
    method: request.method,
    url: request.url,
    headers: Object.fromEntries(
      Object.entries(request.headers).filter(([name]) => !PER_CONNECTION.has(name) && name !== 'user-agent')
    ),
    keys: Object.keys(body),
    body: { ...body, refresh_token: '<the seed’s>' }
  }
}

beforeEach(async () => {
  backend = await runners.serve(new ChatgptTokenBackend([], { accountId: ACCOUNT }))
})

test('an expired sign-in: the proxy refreshes it with the request Codex makes natively, Codex holds a placeholder, and the refreshed file is written back once', async () => {
  const views: ReturnType<typeof refreshView>[] = []
  const agents: string[] = []
  for (const isolation of ['none', 'proxy']) {
    const github = await runners.serve(new FakeGitHub(GITHUB_TOKEN))
    github.addSecret(SECRET)
    const runner = await runners.create({ toolCache: sharedToolCache() })
    const seed = signIn(runner, { expiresIn: -600, refreshable: true })
    const main = await start(
      seed,
      runner,
      isolation === 'none'
        ? { 'key-isolation': 'none', 'codex-network': 'open' }
        : { 'persist-secret': SECRET, 'persist-token': GITHUB_TOKEN },
      github
    )
    const home = main.outputs['codex-home']
    const auth = await fs.readFile(path.join(home, 'auth.json'), 'utf8')
    if (isolation === 'proxy') {
      for (const token of seed.secrets) expect(auth).not.toContain(token)
      expect(JSON.parse(auth)).toMatchObject({ personal_access_token: expect.stringMatching(/^at-/) })
      expect(main.summary).toMatch(/held by the key proxy/)
    }
    const from = backend.requests.length
    const exec = await runner.run('codex', EXEC, { env: isolation === 'none' ? backend.env() : {}, timeoutMs: 90_000 })
    if (!exec.stdout.includes(TOKEN_TURN_TEXT)) throw new Error(`no answer; Codex said: ${exec.stderr.slice(-3000)}`)
    if (isolation === 'proxy') {
      // Codex's model list (natively asked of chatgpt.com whatever chatgpt_base_url says) goes
      // through the proxy too, with the sign-in's token.
      expect(exec.stderr).not.toContain('failed to refresh available models')
      const lists = modelListRequests(backend.since(from))
      expect(lists.length).toBeGreaterThan(0)
      const tokens = backend.issued.map((t) => `Bearer ${t.access_token}`)
      expect(lists.every((r) => tokens.includes(r.headers.authorization ?? ''))).toBe(true)
    }
    const refreshes = backend.since(from).filter((r) => r.url === '/oauth/token')
    expect(refreshes).toHaveLength(1)
    views.push(refreshView(refreshes[0], seed))
    agents.push(String(refreshes[0].headers['user-agent']))
    const post = await runner.post()
    expect(post.errors).toEqual([])
    if (isolation === 'proxy') {
      // The file written back is the refreshed one, once; Codex's own auth.json never held it.
      expect(github.puts()).toBe(1)
      const kept = JSON.parse(github.secret(SECRET)?.value ?? '{}') as { tokens: ChatgptFile['tokens'] }
      expect(kept.tokens.refresh_token).toBe(backend.issued.at(-1)?.refresh_token)
      expect(kept.tokens.access_token).toBe(backend.issued.at(-1)?.access_token)
      expect(post.summary).toMatch(/Refreshed during the job.*yes/s)
      expect(await runner.tempFiles()).toEqual([])
    }
  }
  expect(views[0]).toMatchObject({
    body: { grant_type: 'refresh_token', refresh_reason: 'proactive_expiry' },
    headers: { 'content-type': 'application/json', originator: 'codex_exec' }
  })
  expect(views[1]).toEqual(views[0])
  // The user agent names the same client; the proxy's comes from a Codex request of its (see signin.ts).
  expect(agents[1]).toBe(agents[0])
}, 240_000)

test('a revoked access token under concurrent requests: one refresh, and both codex commands complete', async () => {
  const runner = await runners.create({ toolCache: sharedToolCache() })
  // Unexpired, but the backend no longer takes its access token: every first request gets a 401.
  const seed = signIn(runner, { refreshable: true })
  backend.refreshDelayMs = 1500
  await start(seed, runner)
  const runs = await Promise.all([0, 1].map(() => runner.run('codex', EXEC, { timeoutMs: 90_000 })))
  for (const exec of runs)
    if (!exec.stdout.includes(TOKEN_TURN_TEXT)) throw new Error(`no answer; Codex said: ${exec.stderr.slice(-3000)}`)
  const refreshes = backend.refreshes()
  expect(refreshes).toHaveLength(1)
  expect(JSON.parse(refreshes[0].body)).toMatchObject({ refresh_reason: 'unauthorized_recovery' })
  const post = await runner.post()
  expect(post.errors).toEqual([])
}, 180_000)

test('a refresh token already used elsewhere: Codex and the post step say what to do, and nothing is written back', async () => {
  const github = await runners.serve(new FakeGitHub(GITHUB_TOKEN))
  github.addSecret(SECRET)
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const seed = signIn(runner, { expiresIn: -600 })
  const main = await start(seed, runner, { 'persist-secret': SECRET, 'persist-token': GITHUB_TOKEN }, github)
  const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  expect(exec.exitCode).not.toBe(0)
  // Codex 0.171.0 prints only the status of its first request (workspace routing); the answer it got says what to do.
  expect(exec.stderr).toContain('unauthorized (401)')
  const home = main.outputs['codex-home']
  const placeholder = (
    JSON.parse(await fs.readFile(path.join(home, 'auth.json'), 'utf8')) as { personal_access_token: string }
  ).personal_access_token
  const answer = await new Promise<{ status?: number; text: string }>((resolve, reject) => {
    const origin = new URL(main.exported.CODEX_AUTHAPI_BASE_URL).origin
    https
      .get(
        `${origin}/backend-api/wham/accounts/check`,
        // The test asks what Codex was answered; the proxy's certificate is not what it checks.
        { headers: { authorization: `Bearer ${placeholder}` }, rejectUnauthorized: false },
        (res) => {
          let text = ''
          res
            .on('data', (chunk: Buffer) => (text += chunk.toString()))
            .on('end', () => resolve({ status: res.statusCode, text }))
        }
      )
      .on('error', reject)
  })
  expect(answer.status).toBe(401)
  expect(JSON.parse(answer.text).error.message).toMatch(
    /^The key proxy could not refresh the ChatGPT sign-in: the token endpoint refused its refresh token \(refresh_token_reused: .*\)\. To re-seed, sign in with `codex login` on a trusted machine and store the auth\.json it writes in the auth-json secret\.$/
  )
  // Refused once, for good: not again at every request.
  expect(backend.refreshes()).toHaveLength(1)
  const post = await runner.post()
  expect(github.puts()).toBe(0)
  expect(post.stdout).toMatch(
    /::warning::The ChatGPT sign-in was refused \d+ times during the job; the last time: The key proxy could not refresh the ChatGPT sign-in: .*refresh_token_reused: another job or machine refreshed this sign-in first.*To re-seed, sign in with `codex login` on a trusted machine/
  )
}, 180_000)

test('a refresh under way when the post step stops the proxy: the refreshed file, not the seed whose refresh token is spent, is written back', async () => {
  const github = await runners.serve(new FakeGitHub(GITHUB_TOKEN))
  github.addSecret(SECRET)
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const seed = signIn(runner, { expiresIn: -600, refreshable: true })
  const main = await start(seed, runner, { 'persist-secret': SECRET, 'persist-token': GITHUB_TOKEN }, github)
  const placeholder = (
    JSON.parse(await fs.readFile(path.join(main.outputs['codex-home'], 'auth.json'), 'utf8')) as {
      personal_access_token: string
    }
  ).personal_access_token
  // The token endpoint rotates the refresh token at once and answers a second later.
  backend.refreshDelayMs = 1000
  // A request with the placeholder (any process that reads CODEX_HOME has it), left under way.
  const origin = new URL(main.exported.CODEX_AUTHAPI_BASE_URL).origin
  https
    .get(
      `${origin}/backend-api/wham/accounts/check`,
      { headers: { authorization: `Bearer ${placeholder}` }, rejectUnauthorized: false },
      (res) => res.resume()
    )
    .on('error', () => undefined)
  for (const until = Date.now() + 10_000; !backend.refreshes().length && Date.now() < until;)
    await new Promise((resolve) => setTimeout(resolve, 10))
  expect(backend.refreshes()).toHaveLength(1)
  await expectWrittenBackOnce(runner, github)
}, 180_000)

test('a refreshed sign-in the proxy could not write at once (a full disk): the proxy uses and keeps the new tokens, and the post step writes them back', async () => {
  const github = await runners.serve(new FakeGitHub(GITHUB_TOKEN))
  github.addSecret(SECRET)
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const seed = signIn(runner, { expiresIn: -600, refreshable: true })
  const main = await start(seed, runner, { 'persist-secret': SECRET, 'persist-token': GITHUB_TOKEN }, github)
  // auth.json cannot be replaced while Codex runs (a directory in its place: the test runs as root,
  // whom no mode stops), as on a disk a command filled.
  const file = path.join(path.dirname(main.outputs['usage-file']), 'auth.json')
  await fs.rm(file)
  await fs.mkdir(path.join(file, 'blocked'), { recursive: true })
  const exec = await runner
    .run('codex', EXEC, { timeoutMs: 90_000 })
    .finally(() => fs.rm(file, { recursive: true, force: true }))
  if (!exec.stdout.includes(TOKEN_TURN_TEXT)) throw new Error(`no answer; Codex said: ${exec.stderr.slice(-3000)}`)
  // One refresh: the rotated refresh token was not lost and spent again.
  expect(backend.refreshes()).toHaveLength(1)
  await expectWrittenBackOnce(runner, github)
}, 180_000)

test('a token endpoint that asks to slow down (429): the sign-in is not given up for the job, the next request refreshes it', async () => {
  let busy = true
  backend = await runners.serve(
    new ChatgptTokenBackend([], {
      accountId: ACCOUNT,
      oauth: () => {
        if (busy) {
          busy = false
          return { status: 429, body: { error: { message: 'Too many requests', code: 'rate_limit_exceeded' } } }
        }
        const fresh = chatgptTokens({ accountId: ACCOUNT })
        backend.issued.push(fresh)
        backend.tokens.push(fresh.access_token)
        return { status: 200, body: fresh }
      }
    })
  )
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const seed = signIn(runner, { expiresIn: -600 })
  await start(seed, runner)
  // The first command meets the 429 (its requests go out with the expired token); the second must not be refused.
  await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  if (!exec.stdout.includes(TOKEN_TURN_TEXT)) throw new Error(`no answer; Codex said: ${exec.stderr.slice(-3000)}`)
  const post = await runner.post()
  expect(post.errors).toEqual([])
}, 180_000)
