/**
 * ChatGPT sign-in with the real Codex CLI: a stale auth.json (its access token expired,
 * last_refresh 10 days old) is seeded by the action, a later step's `codex exec` refreshes
 * it through a fake OAuth endpoint (CODEX_REFRESH_TOKEN_URL_OVERRIDE), and the post step writes the refreshed file back to its
 * Actions secret through a fake GitHub API, which opens the sealed box. Every token, the
 * seed's and the refreshed ones, is a canary for the leak audit.
 * key-isolation: none throughout: Codex holds the sign-in and refreshes it itself (the opt-out);
 * chatgpt-signin-proxy.test.ts has the key proxy's refresh.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { chatgptAuth, FakeChatgpt } from '../harness/chatgpt-auth.js'
import { useRunners } from '../harness/lifecycle.js'
import { FakeGitHub } from '../harness/fake-github.js'
import { CODEX_VERSION, sharedToolCache } from '../harness/real-cli.js'
import { type Runner } from '../harness/runner.js'

const SECRET = 'CODEX_AUTH_JSON'
const TOKEN = 'github_pat_realCliTest0123456789abcdef'

let backend: FakeChatgpt
let github: FakeGitHub
let runner: Runner
// Every token the fake OAuth endpoint issued is a canary too.
const runners = useRunners({
  canaries: () => backend.issued.flatMap((issued) => [issued.id_token, issued.access_token, issued.refresh_token])
})

beforeEach(async () => {
  backend = await runners.serve(new FakeChatgpt())
  github = await runners.serve(new FakeGitHub(TOKEN))
  github.addSecret(SECRET)
  runner = await runners.create({ toolCache: sharedToolCache() })
})

/** The main step with `auth-json` held by Codex (key-isolation: none), written back to SECRET by the post step. */
function mainStep(authJson: string) {
  return runner.main(
    {
      'auth-json': authJson,
      'codex-version': CODEX_VERSION,
      'key-isolation': 'none',
      'persist-secret': SECRET,
      'persist-token': TOKEN,
      // Codex holds the sign-in and reaches the loopback backend itself, which the jail's own network does not share.
      'codex-network': 'open'
    },
    github.env()
  )
}

/** A seed whose access token expired ten minutes ago and whose last refresh was ten days ago. */
function staleSeed() {
  const seed = chatgptAuth({ expiresIn: -600, lastRefresh: new Date(Date.now() - 10 * 86_400_000), pretty: true })
  for (const secret of seed.secrets) runner.canaries.add(secret)
  return seed
}

test('codex exec refreshes the stale auth.json; the post step writes the refreshed file to the secret, byte for byte', async () => {
  const seed = staleSeed()
  backend.valid.add(seed.tokens.refresh_token)
  const main = await mainStep(seed.text)
  expect(main.errors).toEqual([])
  expect(main.outputs['auth-mode']).toBe('chatgpt')
  // codex login status accepted the file the action wrote.
  expect(main.stdout).toMatch(
    /ChatGPT sign-in \(auth\.json written\): plan plus, .*last_refresh \S+ \(10\.0 days ago\), the access token expired at/
  )

  const exec = await runner.run('codex', backend.execArgs(), { env: backend.env(), timeoutMs: 90_000 })
  // The refresh comes first; the turn itself then fails on loopback (0.171.0's workspace
  // routing wants an HTTPS backend), which does not matter here.
  expect(exec.timedOut).toBe(false)
  expect(backend.tokenRequests()).toEqual([
    expect.objectContaining({
      grant_type: 'refresh_token',
      refresh_reason: 'proactive_expiry',
      refresh_token: seed.tokens.refresh_token
    })
  ])
  const refreshed = await fs.readFile(path.join(main.outputs['codex-home'], 'auth.json'), 'utf8')
  expect(JSON.parse(refreshed).tokens.refresh_token).toBe(backend.issued[0].refresh_token)

  const post = await runner.post()
  expect(post.errors).toEqual([])
  expect(post.exitCode).toBe(0)
  expect(github.secret(SECRET)?.value).toBe(refreshed)
  expect(post.summary).toMatch(/Refreshed during the job.*yes/s)
  expect(post.summary).toMatch(/Persisted.*yes, to the repository secret CODEX_AUTH_JSON of acme\/app/s)
  expect(await runner.tempFiles()).toEqual([])
}, 120_000)

test('a refresh token already used elsewhere: nothing is written, and the post step explains refresh_token_reused', async () => {
  // The OAuth endpoint accepts no refresh token: another copy of this sign-in was refreshed first.
  const seed = staleSeed()
  const main = await mainStep(seed.text)
  expect(main.errors).toEqual([])
  const exec = await runner.run('codex', backend.execArgs(), { env: backend.env(), timeoutMs: 90_000 })
  expect(exec.exitCode).not.toBe(0)
  expect(exec.stderr + exec.stdout).toMatch(/refresh token was already used/)
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(github.puts()).toBe(0)
  expect(post.stdout).toMatch(
    /::warning::auth\.json was not refreshed, although its access token expired at .*refresh_token_reused: another job or machine refreshed this sign-in first/
  )
  expect(post.summary).toMatch(/Refresh.*refresh_token_reused/s)
}, 120_000)
