/**
 * ChatGPT sign-in (auth-json) through the bundled action, with the stand-in codex: the
 * file written and validated, both ways of keeping a refreshed file (a named codex-home on
 * a persistent runner; the post step writing it back to its Actions secret through a fake
 * GitHub API, which opens the sealed box), the API's refusals, the trust rules and every
 * malformed auth-json. Every token is a canary for the leak audit at dispose. At the end,
 * what an outside review tried: persist-token over plain http, an API answer as a workflow
 * command, repeated "tokens" keys, redirects, a symlinked auth.json at post time, odd
 * values, a payload that does not say whether the repository is public.
 */
import { existsSync, promises as fs } from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as net from 'node:net'
import * as path from 'node:path'
import { fingerprint } from '../../src/secrets/mask.js'
import { chatgptAuth, chatgptTokens, type ChatgptFile } from '../harness/chatgpt-auth.js'
import { FakeGitHub } from '../harness/fake-github.js'
import { standInCodex } from '../harness/fake-package.js'
import { useRunners } from '../harness/lifecycle.js'
import { listFiles, type Runner } from '../harness/runner.js'

const SECRET = 'CODEX_AUTH_JSON'
const PERSIST_TOKEN = `github_pat_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`

const runners = useRunners()
let github: FakeGitHub
let runner: Runner
let codexEnv: Record<string, string>

beforeEach(async () => {
  github = await runners.serve(new FakeGitHub(PERSIST_TOKEN))
  github.addSecret(SECRET)
  runner = await runners.create()
  codexEnv = (await standInCodex(runner.root)).env
})

/** A sign-in whose tokens the audit searches for. */
function signIn(options: Parameters<typeof chatgptAuth>[0] = {}): ChatgptFile {
  const file = chatgptAuth(options)
  for (const secret of file.secrets) runner.canaries.add(secret)
  return file
}

/** key-isolation: none: the sign-in in CODEX_HOME, refreshed by Codex (the stand-in) itself; chatgpt-signin-proxy.test.ts has the key proxy's. */
function main(inputs: Record<string, string>, env: Record<string, string> = {}) {
  return runner.main({ install: 'false', 'key-isolation': 'none', ...inputs }, { ...codexEnv, ...github.env(), ...env })
}

const persisted = (file: ChatgptFile, extra: Record<string, string> = {}) => ({
  'auth-json': file.text,
  'persist-secret': SECRET,
  'persist-token': PERSIST_TOKEN,
  ...extra
})

/** What Codex does when it refreshes: rewrite auth.json with new tokens and a new last_refresh. */
async function refreshInPlace(home: string): Promise<ChatgptFile> {
  const fresh = signIn({ lastRefresh: new Date(), pretty: true })
  await fs.writeFile(path.join(home, 'auth.json'), fresh.text)
  return fresh
}

/** An event payload for the trust checks. */
async function event(payload: object): Promise<Record<string, string>> {
  const file = path.join(runner.root, 'event.json')
  await fs.writeFile(file, JSON.stringify(payload))
  return { GITHUB_EVENT_PATH: file }
}

test.each([
  ['as it is, pretty-printed', (f: ChatgptFile) => f.text, true],
  ['base64-encoded', (f: ChatgptFile) => Buffer.from(f.text).toString('base64'), false],
  [
    'base64-encoded in 76-column lines (base64 without -w0)',
    (f: ChatgptFile) => Buffer.from(f.text).toString('base64').replace(/.{76}/g, '$&\n'),
    true
  ]
])(
  'auth-json %s: auth.json written 0600 byte for byte, outputs and log without any token, removed by the post step',
  async (_how, encode, pretty) => {
    const file = signIn({ pretty, plan: 'team', accountId: 'acct-outputs' })
    const result = await main({ 'auth-json': encode(file) })
    expect(result.errors).toEqual([])
    const home = result.outputs['codex-home']
    expect(await fs.readFile(path.join(home, 'auth.json'), 'utf8')).toBe(file.text)
    expect((await fs.stat(path.join(home, 'auth.json'))).mode & 0o777).toBe(0o600)
    expect(result.outputs).toMatchObject({
      'auth-mode': 'chatgpt',
      'credential-fingerprint': fingerprint('acct-outputs')
    })
    expect(result.outputs['credential-expires-at']).toBe(
      new Date(
        JSON.parse(Buffer.from(file.tokens.access_token.split('.')[1], 'base64url').toString()).exp * 1000
      ).toISOString()
    )
    expect(result.stdout).toMatch(
      /ChatGPT sign-in \(auth\.json written\): plan team, account sha256:[0-9a-f]{16}, last_refresh \S+ \(2\.0 days ago\), the access token expires at /
    )
    // Each token and each long JWT segment is masked before anything else is printed; the rest names neither the email nor the account.
    const [masks, printed] = [true, false].map((mask) =>
      result.stdout.split('\n').filter((l) => l.startsWith('::add-mask::') === mask)
    )
    expect(printed.join('\n')).not.toMatch(/ci-user@example\.com|acct-outputs/)
    expect(masks.every((l) => l !== '::add-mask::{' && l !== '::add-mask::}')).toBe(true)
    for (const token of file.secrets) expect(masks).toContain(`::add-mask::${token}`)
    expect(masks).toContain(`::add-mask::${file.tokens.access_token.split('.')[1]}`)
    expect(result.stdout).toMatch(/::warning::auth-json without persist-secret or codex-home/)
    expect(result.summary).toMatch(/ChatGPT plan.*team/s)
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(post.summary).toMatch(/Refreshed during the job.*no/s)
    expect(await runner.tempFiles()).toEqual([])
  }
)

describe('persistence on ephemeral runners: the post step writes a refreshed auth.json back to its secret', () => {
  test('refreshed: the sealed box opens to the new file, byte for byte', async () => {
    const seed = signIn()
    const result = await main(persisted(seed))
    expect(result.errors).toEqual([])
    expect(result.stdout).toContain(
      `persist-secret: the repository secret ${SECRET} of acme/app was last written at 2026-01-01T00:00:00Z`
    )
    expect(result.state.chatgpt).not.toMatch(/rt_|eyJ/)
    const fresh = await refreshInPlace(result.outputs['codex-home'])
    const post = await runner.post()
    expect(post.errors).toEqual([])
    expect(post.exitCode).toBe(0)
    expect(github.puts()).toBe(1)
    expect(github.secret(SECRET)?.value).toBe(fresh.text)
    expect(post.stdout).toContain(
      `Wrote the refreshed auth.json to the repository secret ${SECRET} of acme/app; GitHub reports it updated at 20`
    )
    expect(post.summary).toMatch(/Refreshed during the job.*yes/s)
    expect(post.summary).toMatch(/Persisted.*yes, to the repository secret/s)
    expect(await runner.tempFiles()).toEqual([])
  })

  test('unchanged: nothing is written', async () => {
    await main(persisted(signIn()))
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toContain('auth.json is unchanged')
    expect(github.puts()).toBe(0)
    expect(post.summary).toMatch(/Persisted.*not needed: unchanged/s)
  })

  test('an environment secret', async () => {
    github.addSecret(SECRET, 'ci')
    const result = await main(persisted(signIn(), { 'persist-environment': 'ci' }))
    expect(result.errors).toEqual([])
    const fresh = await refreshInPlace(result.outputs['codex-home'])
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(github.secret(SECRET, 'ci')?.value).toBe(fresh.text)
    expect(github.secret(SECRET)?.value).toBeUndefined()
  })

  test('5xx then success: retried', async () => {
    const result = await main(persisted(signIn()))
    await refreshInPlace(result.outputs['codex-home'])
    github.faults.set('PUT secret', [500, 502])
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toMatch(/HTTP 500 .*retrying in/)
    expect(github.secret(SECRET)?.value).toBeDefined()
  }, 30_000)

  test.each([
    [
      403,
      /persist-token may not write the repository secret CODEX_AUTH_JSON of acme\/app \(HTTP 403\) \(GitHub says the request needs secrets=write\)\. The job's GITHUB_TOKEN cannot write secrets/
    ],
    [404, /persist-secret: there is no repository secret CODEX_AUTH_JSON of acme\/app \(HTTP 404\)/]
  ])(
    'a PUT answered %d fails the post step with what to do and how to re-seed; the home is still removed',
    async (status, pattern) => {
      const result = await main(persisted(signIn()))
      await refreshInPlace(result.outputs['codex-home'])
      github.faults.set('PUT secret', [status])
      const post = await runner.post()
      expect(post.exitCode).toBe(1)
      expect(post.errors).toHaveLength(1)
      expect(post.errors[0]).toMatch(/^::error::The refreshed auth\.json was not written back: /)
      expect(post.errors[0]).toMatch(pattern)
      expect(post.errors[0]).toContain(
        'To re-seed, sign in with `codex login` on a trusted machine, then: gh secret set CODEX_AUTH_JSON --repo acme/app < ~/.codex/auth.json'
      )
      expect(post.summary).toMatch(/Persisted.*failed/s)
      expect(await runner.tempFiles()).toEqual([])
    }
  )

  test('updated_at moved during the job: a warning to serialize with concurrency, and the file is still written', async () => {
    const result = await main(persisted(signIn()))
    github.addSecret(SECRET, undefined, '2026-02-02T00:00:00Z')
    const fresh = await refreshInPlace(result.outputs['codex-home'])
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(post.stdout).toMatch(
      /::warning::The repository secret CODEX_AUTH_JSON of acme\/app was written by someone else during this job \(updated_at 2026-01-01T00:00:00Z, now 2026-02-02T00:00:00Z\).*serialize them with `concurrency:`/
    )
    expect(github.secret(SECRET)?.value).toBe(fresh.text)
  })

  test.each([
    [
      'a token GitHub refuses',
      { 'persist-token': 'ghs_notTheRightToken0123456789' },
      {},
      /persist-token was refused by http:\/\/127\.0\.0\.1:\d+ \(HTTP 401\)/
    ],
    [
      'GITHUB_TOKEN (no secrets permission)',
      {},
      { 'GET public-key': [403] },
      /persist-token may not read the repository secret .* The job's GITHUB_TOKEN cannot read secrets/
    ],
    [
      'a secret that does not exist',
      { 'persist-secret': 'NO_SUCH_SECRET' },
      {},
      /persist-secret: there is no repository secret NO_SUCH_SECRET of acme\/app \(HTTP 404\)\. Create it/
    ],
    [
      'an environment that does not exist',
      { 'persist-environment': 'nope' },
      {},
      /persist-environment nope does not exist in acme\/app/
    ]
  ])('main refuses %s before writing anything', async (_what, inputs, faults, pattern) => {
    for (const [key, statuses] of Object.entries(faults)) github.faults.set(key, statuses as number[])
    const result = await main(persisted(signIn(), inputs))
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([expect.stringMatching(pattern)])
    expect(await runner.tempFiles()).toEqual([])
    expect((await runner.post()).exitCode).toBe(0)
    expect(github.puts()).toBe(0)
  })
})

describe('a persistent runner: a named codex-home keeps the refreshed auth.json', () => {
  async function namedHome(files: Record<string, string> = {}): Promise<string> {
    const home = path.join(runner.root, 'persistent-home')
    await fs.mkdir(path.join(home, 'sessions'), { recursive: true })
    await fs.writeFile(path.join(home, 'sessions', 'keep.jsonl'), 'mine\n')
    await fs.writeFile(path.join(home, 'config.toml'), 'model = "o3"\n')
    for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(home, name), text, { mode: 0o600 })
    // The one documented exception to "nothing is left behind".
    runner.keptCredentials.add(path.join(home, 'auth.json'))
    return home
  }

  async function snapshot(home: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {}
    for (const file of await listFiles(home)) {
      const full = path.join(home, file)
      if ((await fs.lstat(full)).isFile()) out[file] = await fs.readFile(full, 'utf8')
    }
    return out
  }

  test('no auth.json: seeded (0600) and kept after the job; everything else byte for byte as it was', async () => {
    const home = await namedHome()
    const before = await snapshot(home)
    const seed = signIn()
    const result = await main({ 'auth-json': seed.text, 'codex-home': home })
    expect(result.errors).toEqual([])
    expect(result.stdout).toMatch(/ChatGPT sign-in \(auth\.json seeded\)/)
    expect(result.stdout).toContain(`auth.json in codex-home ${home} is the credential's home: it stays after the job`)
    expect(result.stdout).not.toMatch(/::warning::auth-json without persist-secret/)
    expect((await fs.stat(path.join(home, 'auth.json'))).mode & 0o777).toBe(0o600)
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(await snapshot(home)).toEqual({ ...before, 'auth.json': seed.text })
    expect(post.summary).toMatch(/Persisted.*kept in codex-home/s)
  })

  test('a newer auth.json of the same account is kept, never overwritten by the older seed', async () => {
    const newer = signIn({ lastRefresh: new Date(Date.now() - 3600_000) })
    const home = await namedHome({ 'auth.json': newer.text })
    const before = await snapshot(home)
    const result = await main({
      'auth-json': signIn({ lastRefresh: new Date(Date.now() - 9 * 86_400_000) }).text,
      'codex-home': home
    })
    expect(result.errors).toEqual([])
    expect(result.stdout).toMatch(/the newer one in codex-home is kept/)
    expect(result.stdout).toMatch(/ChatGPT sign-in \(auth\.json kept\).*last_refresh \S+ \(1 hours ago\)/)
    await runner.post()
    expect(await snapshot(home)).toEqual(before)
  })

  test('an older auth.json is replaced by a newer seed; a Codex refresh during the job stays', async () => {
    const home = await namedHome({ 'auth.json': signIn({ lastRefresh: new Date(Date.now() - 9 * 86_400_000) }).text })
    const before = await snapshot(home)
    const seed = signIn()
    const result = await main({ 'auth-json': seed.text, 'codex-home': home })
    expect(result.errors).toEqual([])
    expect(await fs.readFile(path.join(home, 'auth.json'), 'utf8')).toBe(seed.text)
    const fresh = await refreshInPlace(home)
    const post = await runner.post()
    expect(post.summary).toMatch(/Refreshed during the job.*yes/s)
    expect(await snapshot(home)).toEqual({ ...before, 'auth.json': fresh.text })
  })

  test('a codex-home that does not exist yet (the first job): the refreshed auth.json stays after the post step', async () => {
    const home = path.join(runner.root, 'persistent-home-new')
    runner.keptCredentials.add(path.join(home, 'auth.json'))
    const seed = signIn()
    const result = await main({ 'auth-json': seed.text, 'codex-home': home })
    expect(result.errors).toEqual([])
    expect(result.stdout).toContain(`auth.json in codex-home ${home} is the credential's home: it stays after the job`)
    await refreshInPlace(home)
    const post = await runner.post()
    expect(post.summary).toMatch(/Persisted.*kept in codex-home/s)
    expect(post.stdout).not.toMatch(/::warning::/)
    // Promised: "That auth.json stays after the job".
    expect(existsSync(path.join(home, 'auth.json'))).toBe(true)
  })

  test('an auth.json that is another kind of login is refused and left alone', async () => {
    const apiKeyLogin = JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-proj-someoneElsesKey0123456789' })
    runner.canaries.add('sk-proj-someoneElsesKey0123456789')
    const home = await namedHome({ 'auth.json': apiKeyLogin })
    const before = await snapshot(home)
    const result = await main({ 'auth-json': signIn().text, 'codex-home': home })
    expect(result.errors).toEqual([
      expect.stringMatching(
        /codex-home .* already holds an auth\.json that is not a ChatGPT sign-in the action can use, and the action does not replace another login/
      )
    ])
    await runner.post()
    expect(await snapshot(home)).toEqual(before)
  })
})

describe('trust', () => {
  test('a public repository is refused before anything is written; the opt-in allows it with a warning', async () => {
    const env = await event({ repository: { full_name: 'acme/app', private: false, visibility: 'public' } })
    const refused = await main({ 'auth-json': signIn().text }, env)
    expect(refused.errors).toEqual([
      expect.stringMatching(
        /^::error::auth-json is refused on the public repository acme\/app: .*set allow-auth-json-on-public-repo: true/
      )
    ])
    expect(await runner.tempFiles()).toEqual([])
    await runner.post()
    const allowed = await main({ 'auth-json': signIn().text, 'allow-auth-json-on-public-repo': 'true' }, env)
    expect(allowed.errors).toEqual([])
    expect(allowed.stdout).toMatch(/::warning::allow-auth-json-on-public-repo: true/)
    await runner.post()
  })

  test('a private repository is fine', async () => {
    const result = await main(
      { 'auth-json': signIn().text },
      await event({ repository: { full_name: 'acme/app', private: true } })
    )
    expect(result.errors).toEqual([])
    await runner.post()
  })

  test('an untrusted trigger is refused as for the other sources', async () => {
    const env = await event({
      repository: { full_name: 'acme/app', private: true },
      pull_request: { head: { repo: { full_name: 'mallory/app' } } }
    })
    const result = await main({ 'auth-json': signIn().text }, { ...env, GITHUB_EVENT_NAME: 'pull_request_target' })
    expect(result.errors).toEqual([
      expect.stringMatching(/This run is untrusted: pull_request_target from the fork mallory\/app/)
    ])
  })

  test.each([
    ['forced_login_method = "api"', /forced_login_method = "api", but the action logs in with chatgpt/],
    ['cli_auth_credentials_store = "auto"', /macOS keychain or the Windows Credential Manager/]
  ])('config %s is refused', async (config, pattern) => {
    const result = await main({ 'auth-json': signIn().text, config })
    expect(result.errors).toEqual([expect.stringMatching(pattern)])
    expect(await runner.tempFiles()).toEqual([])
  })
})

describe('a failed refresh is explained in the log and the summary', () => {
  test('an access token that expired with auth.json unchanged', async () => {
    const result = await main({ 'auth-json': signIn({ expiresIn: -60 }).text })
    expect(result.errors).toEqual([])
    expect(result.stdout).toMatch(/the access token expired at \S+; Codex refreshes it at its first request/)
    const post = await runner.post()
    expect(post.stdout).toMatch(
      /::warning::auth\.json was not refreshed, although its access token expired at .*either no Codex command ran, or its refresh failed\. Look in the Codex step's output for refresh_token_reused: .*invalid_grant: /
    )
    expect(post.summary).toMatch(/Refresh.*refresh_token_reused/s)
  })

  test.each([
    [
      'refresh_token_reused',
      /The CLI's log records a failed refresh, refresh_token_reused: another job or machine refreshed this sign-in first.*`concurrency:`/
    ],
    ['invalid_grant', /The CLI's log records a failed refresh, invalid_grant: the refresh token expired or was revoked/]
  ])("the CLI's log holds %s", async (code, pattern) => {
    const result = await main({ 'auth-json': signIn().text })
    const log = path.join(result.outputs['codex-home'], 'log')
    await fs.mkdir(log, { recursive: true })
    await fs.writeFile(
      path.join(log, 'codex-tui.log'),
      `ERROR codex_login: Failed to refresh token: 401 {"error":{"code":"${code}"}}\n`
    )
    const post = await runner.post()
    expect(post.stdout).toMatch(new RegExp(`::warning::${pattern.source}`))
    expect(post.summary).toContain(code)
    expect(await runner.tempFiles()).toEqual([])
  })
})

describe('malformed inputs: one error naming the input, never the value, nothing written', () => {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64')
  const good = () => JSON.parse(chatgptAuth().text)
  const withTokens = (tokens: object) => JSON.stringify({ ...good(), tokens: { ...good().tokens, ...tokens } })

  test.each([
    ['neither JSON nor base64', () => 'not json at all!', /auth-json is neither JSON nor base64-encoded JSON/],
    [
      'base64 of something else',
      () => Buffer.from('hello world').toString('base64'),
      /neither JSON nor base64-encoded JSON/
    ],
    ['broken JSON', () => '{"tokens": ', /auth-json is not valid JSON/],
    ['a JSON array', () => '[1,2]', /neither JSON nor base64/],
    [
      'an API-key login',
      () => JSON.stringify({ auth_mode: 'apikey', OPENAI_API_KEY: 'sk-proj-abcdefghijklmnopqrstuvwxyz' }),
      /auth-json holds an API key \(OPENAI_API_KEY\), not a ChatGPT sign-in\. Put an API key in api-key/
    ],
    [
      'an access-token login',
      () => JSON.stringify({ OPENAI_API_KEY: null, personal_access_token: 'at-abcdefghijklmnopqrstuvwxyz' }),
      /holds a Codex access token, not a ChatGPT sign-in\. Put the token in access-token/
    ],
    [
      'another auth_mode',
      () => JSON.stringify({ ...good(), auth_mode: 'chatgptAuthTokens' }),
      /auth-json has an auth_mode other than "chatgpt"/
    ],
    ['no tokens', () => JSON.stringify({ auth_mode: 'chatgpt' }), /auth-json has no "tokens" object/],
    ['no refresh token', () => withTokens({ refresh_token: undefined }), /auth-json has no tokens\.refresh_token/],
    ['an empty access token', () => withTokens({ access_token: '' }), /auth-json has no tokens\.access_token/],
    [
      'an id_token that is no JWT',
      () => withTokens({ id_token: 'plainly-not-a-jwt-0123456789' }),
      /tokens\.id_token is not a JWT/
    ],
    [
      'a token with white space',
      () => withTokens({ refresh_token: 'rt_abc def' }),
      /tokens\.refresh_token contains white space/
    ],
    [
      'no account',
      () => withTokens({ account_id: undefined, id_token: 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2ln' }),
      /names no ChatGPT account/
    ],
    [
      'a bad last_refresh',
      () => JSON.stringify({ ...good(), last_refresh: 'yesterday-ish' }),
      /last_refresh is not a timestamp/
    ],
    [
      'an exp beyond any date',
      () => withTokens({ access_token: 'eyJhbGciOiJub25lIn0.eyJleHAiOjFlMzAwfQ.c2lnbmF0dXJlc2ln' }),
      /the access token's exp is not a date/
    ],
    ['64 KB of base64', () => b64({ pad: 'x'.repeat(70_000) }), /auth-json is larger than 64 KB/]
  ])('auth-json: %s', async (_what, value, pattern) => {
    const text = value()
    runner.canaries.add(text)
    const result = await main({ 'auth-json': text })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([expect.stringMatching(pattern)])
    expect(result.outputs).toEqual({})
    expect(await runner.tempFiles()).toEqual([])
  })

  test.each([
    [{ 'api-key': 'sk-proj-abcdefghijklmnopqrstuvwxyz' }, /auth-json and api-key are both set/],
    [{ 'access-token': 'at-abcdefghijklmnopqrstuvwxyz' }, /auth-json and access-token are both set/],
    [{ 'federation-rule-id': 'idpm_rule0123', 'oidc-audience': 'x' }, /auth-json and federation-rule-id are both set/],
    [{ 'persist-secret': SECRET }, /persist-secret needs persist-token: .*GITHUB_TOKEN cannot write secrets/],
    [{ 'persist-token': PERSIST_TOKEN }, /persist-token is set but persist-secret is empty/],
    [
      { 'persist-secret': 'not a name', 'persist-token': PERSIST_TOKEN },
      /persist-secret is not an Actions secret name/
    ],
    [
      { 'persist-secret': 'GITHUB_THING', 'persist-token': PERSIST_TOKEN },
      /persist-secret is not an Actions secret name/
    ],
    [{ 'allow-auth-json-on-public-repo': 'maybe' }, /allow-auth-json-on-public-repo must be true or false/]
  ])('%o', async (inputs, pattern) => {
    const result = await main({ 'auth-json': signIn().text, ...inputs })
    expect(result.errors).toEqual([expect.stringMatching(pattern)])
    expect(await runner.tempFiles()).toEqual([])
  })

  test('persist-secret without auth-json', async () => {
    const result = await main({
      'api-key': 'sk-proj-abcdefghijklmnopqrstuvwxyz',
      'persist-secret': SECRET,
      'persist-token': PERSIST_TOKEN
    })
    expect(result.errors).toEqual([expect.stringMatching(/persist-secret is set but auth-json is empty/)])
  })
})

/** A loopback HTTP server for the test; records each request's method, URL and authorization header. */
async function server(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void
): Promise<{ origin: string; seen: { method?: string; url?: string; authorization?: string }[]; server: http.Server }> {
  const seen: { method?: string; url?: string; authorization?: string }[] = []
  const s = http.createServer((req, res) => {
    seen.push({ method: req.method, url: req.url, authorization: req.headers.authorization })
    handler(req, res)
  })
  runners.stopAfter({
    stop: () => {
      s.closeAllConnections()
      return new Promise((resolve) => s.close(resolve))
    }
  })
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  return { origin: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen, server: s }
}

test('GITHUB_API_URL on plain http to another host: persist-token must not travel in cleartext', async () => {
  // An HTTP proxy on loopback stands for the network path to api.github.example: it sees what a wire would carry.
  // undici's ProxyAgent tunnels (CONNECT) even for http:, so the bytes inside the tunnel are the plain HTTP request.
  const upstream = new URL(github.server.origin)
  const proxy = await server((_req, res) => res.writeHead(405).end())
  const tunnels: string[] = []
  let wire = ''
  proxy.server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
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
  expect({
    exitCode: result.exitCode,
    tunnels,
    tokenInCleartext: wire.includes(`authorization: Bearer ${PERSIST_TOKEN}`)
  }).toEqual({ exitCode: 1, tunnels: [], tokenInCleartext: false })
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
  const sink = await server((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"key_id":"k","key":"AAAA","updated_at":"x"}')
  )
  const redirector = await server((req, res) => res.writeHead(307, { location: `${sink.origin}${req.url}` }).end())
  const result = await main(persisted(signIn()), { GITHUB_API_URL: redirector.origin })
  expect(sink.seen).toEqual([])
  expect(result.exitCode).toBe(1)
  expect(result.errors).toHaveLength(1)
  expect(result.errors[0]).not.toMatch(/Unexpected failure/)
  expect(result.errors[0]).toMatch(
    /^::error::Could not read the repository secret CODEX_AUTH_JSON of acme\/app: HTTP 307 from http:\/\/127\.0\.0\.1:\d+\/repos\/acme\/app\/actions\/secrets\/public-key\./
  )
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
  expect(post.exitCode).toBe(0)
  // Nothing kept, and the log and summary say so.
  expect(post.stdout).toMatch(/^::warning::auth\.json /m)
  expect(post.summary).toMatch(/Refreshed during the job<\/th><td>no/)
  await fs.rm(elsewhere)
})

describe('odd auth-json values never give "Unexpected failure", never print the email or hostile claims', () => {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const jwt = (claims: object) => `${b64({ alg: 'none' })}.${b64(claims)}.c2lnbmF0dXJlc2lnbmF0dXJl`
  const hostile = {
    email: 'victim@example.com',
    'https://api.openai.com/auth': {
      chatgpt_account_id: '::warning::acct\n::error::x',
      chatgpt_plan_type: '**plan**\n::warning::plan',
      chatgpt_user_id: '<b>u</b>'
    }
  }
  const base = () => JSON.parse(chatgptAuth({ email: 'victim@example.com' }).text)
  const withTokens = (tokens: object) => JSON.stringify({ ...base(), tokens: { ...base().tokens, ...tokens } })
  /** What each is: a sign-in the action uses (`runs`), or the one error that says what is missing. */
  const runs = undefined
  const refused = (why: string) =>
    `::error::auth-json${why}. Sign in with \`codex login\` on a trusted machine and store the auth.json it writes.`
  test.each([
    [
      'tokens is an array',
      () => JSON.stringify({ ...base(), tokens: ['a', 'b'] }),
      refused(' has no "tokens" object, so it holds no ChatGPT sign-in')
    ],
    ['id_token is a number', () => withTokens({ id_token: 12345 }), refused(' has no tokens.id_token')],
    [
      'last_refresh is a number',
      () => JSON.stringify({ ...base(), last_refresh: 1700000000 }),
      refused(': last_refresh is not a timestamp')
    ],
    ['exp is a string', () => withTokens({ access_token: jwt({ exp: '1700000000' }) }), runs],
    ['account_id is an object', () => withTokens({ account_id: { x: 1 } }), runs],
    [
      'auth claims are an array',
      () => withTokens({ account_id: undefined, id_token: jwt({ 'https://api.openai.com/auth': [1] }) }),
      refused(' names no ChatGPT account (tokens.account_id, or chatgpt_account_id in the id_token)')
    ],
    [
      'hostile claims and an email',
      () =>
        withTokens({
          account_id: undefined,
          id_token: jwt(hostile),
          access_token: jwt({ exp: 4102444800, ...hostile })
        }),
      runs
    ],
    ['CRLF and a BOM', () => '\uFEFF' + JSON.stringify(base(), null, 2).replace(/\n/g, '\r\n'), runs],
    [
      'base64 of garbage starting with {',
      () => Buffer.from('{\u0000\u00ff garbage').toString('base64'),
      refused(' is not valid JSON')
    ],
    [
      'deeply nested',
      () => `${JSON.stringify(base()).slice(0, -1)},"extra":${'['.repeat(20000)}${']'.repeat(20000)}}`,
      runs
    ],
    ['__proto__ tokens', () => `{"__proto__": {"x": 1}, "tokens": ${JSON.stringify(base().tokens)}}`, runs],
    ['a top-level email field', () => JSON.stringify({ ...base(), email: 'victim@example.com' }), runs]
  ])('%s', async (_what, value, error) => {
    const result = await main({ 'auth-json': value() })
    expect(result.errors).toEqual(error === runs ? [] : [error])
    expect(result.exitCode).toBe(error === runs ? 0 : 1)
    if (error === runs) expect(result.outputs['auth-mode']).toBe('chatgpt')
    const printed = result.stdout
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n')
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
  expect({ exitCode: result.exitCode, warnedOrRefused: /public|visibility/i.test(result.stdout) }).toEqual({
    exitCode: 0,
    warnedOrRefused: true
  })
  await runner.post()
})
