/**
 * One ChatGPT sign-in for parallel jobs, with the real Codex CLI: a refresher job
 * (refresh: true, shared-secret) refreshes it once through the CLI and writes the full file
 * and an access-only copy through a fake GitHub secrets API, which opens both sealed boxes;
 * jobs on the copy run at once and complete a real turn against a loopback ChatGPT backend,
 * never refreshing and never writing. Every token is a canary for the leak audit.
 * key-isolation: none throughout: Codex holds the sign-in and refreshes it itself (the opt-out);
 * chatgpt-signin-proxy.test.ts has the key proxy's refresh.
 */
import { promises as fs } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { chatgptAuth, type ChatgptFile } from '../harness/chatgpt-auth.js'
import { ChatgptBackend, TURN_TEXT } from '../harness/chatgpt-backend.js'
import { FakeGitHub } from '../harness/fake-github.js'
import { CODEX_VERSION, sharedToolCache } from '../harness/real-cli.js'
import { Runner } from '../harness/runner.js'

const FULL = 'CODEX_AUTH_JSON'
const SHARED = 'CODEX_AUTH_JSON_SHARED'
const TOKEN = 'github_pat_sharedCopyTest0123456789abcdef'
const REFRESHER = 'Refresh the Codex sign-in'

let backend: ChatgptBackend
let github: FakeGitHub
/** What the runner sets for a job in a private repository. */
let jobEnv: Record<string, string>
const runners: Runner[] = []

beforeEach(async () => {
  backend = await new ChatgptBackend().start()
  github = await new FakeGitHub(TOKEN).start()
  github.addSecret(FULL)
  const event = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'chatgpt-shared-event-')), 'event.json')
  await fs.writeFile(event, JSON.stringify({ repository: { full_name: 'acme/app', private: true } }))
  jobEnv = { ...github.env(), ...backend.env(), GITHUB_EVENT_PATH: event }
})

afterEach(async () => {
  try {
    for (const runner of runners.splice(0)) {
      for (const issued of backend.issued)
        for (const token of [issued.id_token, issued.access_token, issued.refresh_token]) runner.canaries.add(token)
      await runner.dispose()
    }
  } finally {
    await backend.stop()
    await github.stop()
    await fs.rm(path.dirname(jobEnv.GITHUB_EVENT_PATH), { recursive: true, force: true })
  }
})

const warnings = (result: { stdout: string }) => result.stdout.split(/\r?\n/).filter((l) => l.startsWith('::warning::'))

async function newRunner(): Promise<Runner> {
  const runner = await Runner.create({ toolCache: sharedToolCache() })
  runners.push(runner)
  return runner
}

function seed(runner: Runner, options: Parameters<typeof chatgptAuth>[0] = {}): ChatgptFile {
  const file = chatgptAuth(options)
  for (const secret of file.secrets) runner.canaries.add(secret)
  return file
}

/** An access-only copy in the documented form: the file with an empty refresh token, and the action's mark. */
function accessOnly(file: ChatgptFile): string {
  const json = JSON.parse(file.text) as { tokens: Record<string, string> }
  json.tokens.refresh_token = ''
  return JSON.stringify({
    ...json,
    codex_auth_action_shared_copy: { access_only: true, workflow: REFRESHER, full_secret: FULL }
  })
}

const exec = (runner: Runner) =>
  runner.run('codex', ['exec', '--skip-git-repo-check', 'say hi'], { env: backend.env(), timeoutMs: 90_000 })

/**
 * The refresher job's main step: refresh: true on a seeded full file, writing both secrets in
 * post. Its refresh token is one the backend accepts, unless `spent` (another job used it first).
 */
async function refresher({ spent = false } = {}) {
  const runner = await newRunner()
  const full = seed(runner)
  if (!spent) backend.valid.add(full.tokens.refresh_token)
  const main = await runner.main(
    {
      'auth-json': full.text,
      'codex-version': CODEX_VERSION,
      'key-isolation': 'none',
      refresh: 'true',
      'persist-secret': FULL,
      'persist-token': TOKEN,
      'shared-secret': SHARED,
      ...backend.inputs(),
      // Codex holds the sign-in and reaches the loopback backend itself, which the jail's own network does not share.
      'codex-network': 'open'
    },
    { ...jobEnv, GITHUB_WORKFLOW: REFRESHER }
  )
  return { runner, full, main }
}

test('the refresher refreshes once in main (through the CLI, its override reaching it), completes a turn, and writes both secrets once', async () => {
  const { runner, full, main } = await refresher()
  expect(main.errors).toEqual([])
  expect(main.exitCode).toBe(0)
  // Exactly one refresh, in the main step, with the seed's refresh token, and no model request.
  expect(backend.tokenRequests()).toEqual([expect.objectContaining({ refresh_token: full.tokens.refresh_token })])
  expect(backend.turns()).toBe(0)
  expect(main.stdout).toMatch(/refresh: true: the Codex CLI refreshed the ChatGPT sign-in/)
  const issued = backend.issued[0]
  expect(main.outputs['credential-expires-at']).toBe(
    new Date(
      JSON.parse(Buffer.from(issued.access_token.split('.')[1], 'base64url').toString()).exp * 1000
    ).toISOString()
  )

  // The full file completes a real turn, with no further refresh.
  const turn = await exec(runner)
  expect(turn.stdout).toContain(TURN_TEXT)
  expect(turn.exitCode).toBe(0)
  expect(backend.turns()).toBe(1)

  const post = await runner.post({ GITHUB_WORKFLOW: REFRESHER })
  expect(post.errors).toEqual([])
  expect(post.exitCode).toBe(0)
  expect(github.puts()).toBe(2)
  expect(backend.tokenRequests()).toHaveLength(1)
  const written = JSON.parse(github.secret(FULL)!.value!) as { tokens: Record<string, string> }
  expect(written.tokens.refresh_token).toBe(issued.refresh_token)
  const copy = github.secret(SHARED)!.value!
  const parsed = JSON.parse(copy) as { tokens: Record<string, string>; codex_auth_action_shared_copy: object }
  expect(parsed.tokens).toEqual({ ...written.tokens, refresh_token: '' })
  expect(parsed.codex_auth_action_shared_copy).toEqual({ access_only: true, workflow: REFRESHER, full_secret: FULL })
  // No refresh token anywhere in the copy: not the new one, not the seed's.
  for (const token of [issued.refresh_token, full.tokens.refresh_token]) expect(copy).not.toContain(token)
  expect(copy).not.toMatch(/rt_/)
  expect(post.summary).toMatch(/Access-only copy.*yes, to the repository secret CODEX_AUTH_JSON_SHARED of acme\/app/s)
  expect(await runner.tempFiles()).toEqual([])
}, 180_000)

test('a refresher whose refresh token was already used fails in main, says what to do, and writes nothing', async () => {
  const { runner, full, main } = await refresher({ spent: true })
  expect(main.exitCode).toBe(1)
  expect(main.errors).toEqual([
    expect.stringMatching(
      /refresh: true: the Codex CLI did not refresh the ChatGPT sign-in .*status=401.*: the token endpoint refused the refresh token\. refresh_token_reused: another job or machine refreshed this sign-in first/
    )
  ])
  expect(backend.tokenRequests()).toEqual([expect.objectContaining({ refresh_token: full.tokens.refresh_token })])
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(github.puts()).toBe(0)
  expect(await runner.tempFiles()).toEqual([])
}, 120_000)

test('two jobs on the shared copy run at once and each completes a turn, with no refresh and no write', async () => {
  const first = await refresher()
  expect(first.main.exitCode).toBe(0)
  expect((await first.runner.post({ GITHUB_WORKFLOW: REFRESHER })).exitCode).toBe(0)
  const copy = github.secret(SHARED)!.value!
  const refreshes = backend.tokenRequests().length
  const puts = github.puts()

  const job = async () => {
    const runner = await newRunner()
    for (const token of backend.issued.flatMap((t) => [t.id_token, t.access_token])) runner.canaries.add(token)
    const main = await runner.main(
      {
        'auth-json': copy,
        'codex-version': CODEX_VERSION,
        'key-isolation': 'none',
        ...backend.inputs(),
        // Codex holds the sign-in and reaches the loopback backend itself, which the jail's own network does not share.
        'codex-network': 'open'
      },
      jobEnv
    )
    const turn = await exec(runner)
    const post = await runner.post()
    return { runner, main, turn, post }
  }
  const jobs = await Promise.all([job(), job()])
  for (const { runner, main, turn, post } of jobs) {
    expect(main.errors).toEqual([])
    expect(warnings(main)).toEqual([])
    expect(main.stdout).toMatch(/an access-only copy written by the refresher workflow "Refresh the Codex sign-in"/)
    expect(main.outputs['auth-mode']).toBe('chatgpt')
    expect(main.outputs['credential-expires-at']).not.toBe('')
    expect(turn.exitCode).toBe(0)
    expect(turn.stdout).toContain(TURN_TEXT)
    expect(post.errors).toEqual([])
    expect(warnings(post)).toEqual([])
    expect(post.summary).toMatch(/Access-only copy.*never refreshed or written back/s)
    expect(await runner.tempFiles()).toEqual([])
  }
  // One turn each; the refresher sent none.
  expect(backend.turns()).toBe(2)
  expect(backend.tokenRequests()).toHaveLength(refreshes)
  expect(github.puts()).toBe(puts)
}, 300_000)

test('an expired shared copy is refused at once, naming the refresher', async () => {
  const runner = await newRunner()
  const main = await runner.main(
    {
      'auth-json': accessOnly(seed(runner, { expiresIn: -60 })),
      'codex-version': CODEX_VERSION,
      'key-isolation': 'none'
    },
    jobEnv
  )
  expect(main.exitCode).toBe(1)
  expect(main.errors).toEqual([
    expect.stringMatching(
      /access-only copy whose access token expired at .*cannot be refreshed\. Run the refresher workflow "Refresh the Codex sign-in" \(full auth\.json in CODEX_AUTH_JSON\)/
    )
  ])
  // Refused before the CLI is installed or anything is written.
  expect(main.stdout).not.toMatch(/Codex CLI \d/)
  expect(main.outputs['codex-home']).toBeUndefined()
  expect(await runner.tempFiles()).toEqual([])
})

test('a shared copy that expires within a day is used, with a warning to run the refresher', async () => {
  const runner = await newRunner()
  const main = await runner.main(
    {
      'auth-json': accessOnly(seed(runner, { expiresIn: 2 * 3600 })),
      'codex-version': CODEX_VERSION,
      'key-isolation': 'none'
    },
    jobEnv
  )
  expect(main.exitCode).toBe(0)
  expect(warnings(main)).toEqual([
    expect.stringMatching(/expires at .* \(in 2 hours\).*Run the refresher workflow "Refresh the Codex sign-in"/)
  ])
  expect((await runner.post()).exitCode).toBe(0)
})

test.each([
  ['persist-secret', { 'persist-secret': FULL, 'persist-token': TOKEN }],
  ['refresh: true', { refresh: 'true' }]
])('a shared copy given %s is refused before anything is written', async (given, inputs) => {
  const runner = await newRunner()
  const main = await runner.main(
    { 'auth-json': accessOnly(seed(runner)), 'codex-version': CODEX_VERSION, 'key-isolation': 'none', ...inputs },
    jobEnv
  )
  expect(main.exitCode).toBe(1)
  expect(main.errors).toEqual([
    expect.stringContaining(`auth-json is an access-only copy (the refresher's shared-secret): it has no refresh token`)
  ])
  expect(main.errors[0]).toContain(given)
  expect(github.server.requests).toEqual([])
  expect(await runner.tempFiles()).toEqual([])
})

test('a 401 from the backend on a shared copy fails fast, sends no refresh token, writes nothing, and the post step says why', async () => {
  const runner = await newRunner()
  const file = seed(runner)
  const main = await runner.main(
    {
      'auth-json': accessOnly(file),
      'codex-version': CODEX_VERSION,
      'key-isolation': 'none',
      ...backend.inputs(),
      // Codex holds the sign-in and reaches the loopback backend itself, which the jail's own network does not share.
      'codex-network': 'open'
    },
    jobEnv
  )
  expect(main.exitCode).toBe(0)
  const home = main.outputs['codex-home']
  const before = await fs.readFile(path.join(home, 'auth.json'), 'utf8')
  backend.unauthorized = true
  const started = Date.now()
  const turn = await exec(runner)
  const seconds = (Date.now() - started) / 1000
  expect(turn.timedOut).toBe(false)
  expect(turn.exitCode).not.toBe(0)
  expect(seconds).toBeLessThan(60)
  expect(backend.turns()).toBe(0)
  // The CLI's recovery asks the token endpoint with the copy's empty refresh token: nothing to rotate.
  expect(backend.tokenRequests().every((r) => r.refresh_token === '')).toBe(true)
  expect(await fs.readFile(path.join(home, 'auth.json'), 'utf8')).toBe(before)
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(github.puts()).toBe(0)
  expect(warnings(post)).toEqual([
    expect.stringMatching(
      /The ChatGPT backend refused the access-only copy's access token \(HTTP 401\).*run the refresher workflow "Refresh the Codex sign-in"/
    )
  ])
  console.log(`codex exec on a refused shared copy ended after ${seconds.toFixed(1)} s (exit ${turn.exitCode})`)
}, 120_000)
