/**
 * Secretless mode: GitHub OIDC tokens from a fake runner endpoint, kept fresh in a file by
 * the detached refresher for as long as the job runs, then stopped by the post step.
 */
import { spawn } from 'node:child_process'
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { refreshDelay } from '../../src/helpers/refresher/protocol.js'
import { fingerprint } from '../../src/secrets/mask.js'
import { FakeOidc } from '../harness/fake-oidc.js'
import { standInCodex } from '../harness/fake-package.js'
import { useRunners } from '../harness/lifecycle.js'
import { alive } from '../harness/processes.js'
import { CODEX_VERSION, sharedToolCache } from '../harness/real-cli.js'
import { type Runner, runProcess } from '../harness/runner.js'
import { LoopbackServer, sendJson } from '../harness/servers.js'
import { waitFor } from '../harness/wait.js'

const RULE = 'idpm_testFederationRule123'
const AUDIENCE = 'https://api.openai.com/v1'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let oidc: FakeOidc
let runner: Runner
let codexEnv: Record<string, string>
// The audit at dispose searches for the request token and every OIDC token issued.
const runners = useRunners({ canaries: () => [oidc.requestToken, ...oidc.issued] })

beforeEach(async () => {
  oidc = await runners.serve(new FakeOidc(3))
  runner = await runners.create()
  codexEnv = (await standInCodex(runner.root)).env
})

function main(inputs: Record<string, string>, env: Record<string, string> = oidc.env()) {
  return runner.main(
    // key-isolation: none: Codex exchanges a token file itself (workload-identity-proxy.test.ts: the default, the key proxy).
    { install: 'false', 'federation-rule-id': RULE, 'oidc-audience': AUDIENCE, 'key-isolation': 'none', ...inputs },
    { ...codexEnv, ...env }
  )
}

/** The refresher's PID, from the main step's log. */
function refresherPid(stdout: string): number {
  return Number(/OIDC token refresher started \(pid (\d+)\)/.exec(stdout)?.[1])
}

/** Whether `pid` is gone within `ms` (the refresher looks for its stop file every 250 ms; a loaded machine is slower). */
const exits = (pid: number, ms = 3000) => waitFor(() => !alive(pid), ms)

test('the token file is replaced before each expiry, never empty or half-written, and the post step stops the refresher', async () => {
  const result = await main({})
  expect(result.errors).toEqual([])
  expect(result.outputs).toMatchObject({
    'auth-mode': 'workload-identity',
    'credential-fingerprint': fingerprint(RULE)
  })
  expect(result.outputs['login-log']).toBeUndefined()
  const file = result.exported.OPENAI_IDENTITY_TOKEN_FILE
  expect(result.exported.OPENAI_FEDERATION_RULE_ID).toBe(RULE)
  expect(path.dirname(path.dirname(file))).toBe(runner.temp)
  expect((await fs.stat(file)).mode & 0o777).toBe(0o600)
  expect((await fs.stat(path.dirname(file))).mode & 0o777).toBe(0o700)
  expect(result.summary).toContain('workload-identity')
  // Refreshed tokens are not masked: the log does not point at the file.
  expect(result.stdout).not.toContain(file)

  const pid = refresherPid(result.stdout)
  expect(alive(pid)).toBe(true)
  if (existsSync(`/proc/${pid}/environ`)) {
    // The request token reached the refresher on stdin only.
    expect(readFileSync(`/proc/${pid}/environ`, 'latin1')).not.toContain(oidc.requestToken)
    expect(readFileSync(`/proc/${pid}/cmdline`, 'latin1')).not.toContain(oidc.requestToken)
  }

  const seen = new Set<string>()
  const until = Date.now() + 7000
  while (Date.now() < until) {
    const token = readFileSync(file, 'utf8')
    const parts = token.split('.')
    expect(parts).toHaveLength(3)
    const claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
    expect(claims.aud).toBe(AUDIENCE)
    expect(claims.exp * 1000).toBeGreaterThan(Date.now())
    seen.add(token)
    await sleep(10)
  }
  expect(seen.size).toBeGreaterThanOrEqual(4)

  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(post.stdout).toMatch(/OIDC token refresher \(pid \d+\): \d+ refreshes, the last at .+; stopped\./)
  expect(await exits(pid)).toBe(true)
  expect(await runner.tempFiles()).toEqual([])
}, 30_000)

test('a failed refresh is retried before the token expires', async () => {
  // Long enough that the half-life left after a refresh (iat and exp are whole seconds)
  // outlasts the HTTP client's first retry delay (up to 1 s) on a loaded machine.
  oidc.lifetimeSeconds = 6
  const result = await main({})
  expect(result.errors).toEqual([])
  const file = result.exported.OPENAI_IDENTITY_TOKEN_FILE
  oidc.failNext = 1
  const until = Date.now() + 6000
  while (Date.now() < until) {
    const claims = JSON.parse(Buffer.from(readFileSync(file, 'utf8').split('.')[1], 'base64url').toString('utf8'))
    expect(claims.exp * 1000).toBeGreaterThan(Date.now())
    await sleep(20)
  }
  // The HTTP client retried the 503 inside one refresh: the token never lapsed.
  expect(oidc.failNext).toBe(0)
  expect(oidc.issued.length).toBeGreaterThanOrEqual(2)
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
}, 30_000)

test('without id-token: write permission: one error with the YAML to add', async () => {
  const result = await main({}, {})
  expect(result.exitCode).toBe(1)
  expect(result.errors).toEqual([
    expect.stringMatching(
      /^::error::federation-rule-id needs a GitHub OIDC token, but this job may not request one \(ACTIONS_ID_TOKEN_REQUEST_URL is not set\)\. Add to the workflow or the job:%0Apermissions:%0A {2}id-token: write%0A {2}contents: read/
    )
  ])
  expect(await runner.tempFiles()).toEqual([])
})

test('an OIDC endpoint that refuses the request: one error that points at the permission, not a bug report', async () => {
  const result = await main({}, { ...oidc.env(), ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'not-the-request-token' })
  expect(result.errors).toEqual([
    expect.stringMatching(
      /^::error::Requesting a GitHub OIDC token for oidc-audience https:\/\/api\.openai\.com\/v1 failed: HTTP 401 from .+\. Check that the job has permissions: id-token: write/
    )
  ])
  expect(await runner.tempFiles()).toEqual([])
})

test.each([
  [{ 'api-key': 'sk-proj-abcdefghijklmnopqrstuvwxyz' }, /federation-rule-id and api-key are both set/],
  [{ 'oidc-audience': '' }, /oidc-audience is required with federation-rule-id/],
  [{ 'federation-rule-id': 'rule with spaces' }, /federation-rule-id does not look like a federation rule ID/],
  [
    { 'federation-rule-id': '', 'api-key': 'sk-proj-abcdefghijklmnopqrstuvwxyz' },
    /oidc-audience is set but federation-rule-id is empty/
  ]
])('bad inputs: %o', async (inputs, pattern) => {
  const result = await main(inputs)
  expect(result.errors).toEqual([expect.stringMatching(pattern)])
  expect(oidc.issued).toEqual([])
})

test('verify: true fails clearly when the CLI does not accept the identity, and stops the refresher', async () => {
  const result = await main({ verify: 'true' })
  expect(result.errors).toEqual([
    expect.stringMatching(
      /^::error::verify: codex login status does not accept the workload identity: .+\. Check federation-rule-id and oidc-audience/
    )
  ])
  expect(await exits(refresherPid(result.stdout))).toBe(true)
  expect(await runner.tempFiles()).toEqual([])
  // Stopped and forgotten: the post step has no refresher left to act on.
  expect(Object.entries(result.state).filter(([key, value]) => key.startsWith('refresher') && value)).toEqual([])
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(post.stdout).not.toMatch(/refresher/)
})

test('the post step never signals a process by its PID, even one that looks like a refresher (a reused PID)', async () => {
  const dir = path.join(runner.root, 'other-job', 'refresher')
  await fs.mkdir(dir, { recursive: true })
  await fs.writeFile(path.join(dir, 'index.js'), 'setTimeout(() => undefined, 30_000)\n')
  const decoy = spawn(process.execPath, [path.join(dir, 'index.js')], { stdio: 'ignore' })
  try {
    // Running the decoy's script, not still node starting up.
    await waitFor(() => readFileSync(`/proc/${decoy.pid}/cmdline`, 'latin1').includes(dir), 2000)
    const post = await runner.post({ 'STATE_refresher-pid': String(decoy.pid) })
    expect(post.exitCode).toBe(0)
    // A signal, had the post step sent one, would end it at once.
    await waitFor(() => decoy.exitCode !== null || decoy.signalCode !== null, 300)
    expect(decoy.exitCode).toBeNull()
    expect(decoy.signalCode).toBeNull()
  } finally {
    decoy.kill('SIGKILL')
  }
})

test('an OIDC answer without a token is one clear error, not a bug report', async () => {
  const empty = await runners.serve(new LoopbackServer((_req, res) => sendJson(res, 200, { count: 0 })))
  const result = await main(
    {},
    {
      ACTIONS_ID_TOKEN_REQUEST_URL: `${empty.origin}/oidc/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken
    }
  )
  expect(result.errors).toEqual([
    expect.stringMatching(
      /^::error::The runner's OIDC endpoint answered without a token for oidc-audience https:\/\/api\.openai\.com\/v1\. /
    )
  ])
  expect(await runner.tempFiles()).toEqual([])
})

test('an OIDC endpoint answering JSON null gives one clear line, not "Unexpected failure … bug"', async () => {
  const server = await runners.serve(new LoopbackServer((_req, res) => sendJson(res, 200, null)))
  const result = await main(
    {},
    {
      ACTIONS_ID_TOKEN_REQUEST_URL: `${server.origin}/oidc/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: oidc.requestToken
    }
  )
  expect(result.exitCode).toBe(1)
  expect(result.errors).toHaveLength(1)
  expect(result.errors[0]).not.toMatch(/Unexpected failure/)
  expect(result.errors[0]).toMatch(
    /^::error::The runner's OIDC endpoint answered without a token for oidc-audience https:\/\/api\.openai\.com\/v1\. /
  )
  expect(await runner.tempFiles()).toEqual([])
})

test('the real Codex CLI, given the exported variables, works in workload-identity mode', async () => {
  const real = await runners.create({ toolCache: sharedToolCache() })
  const result = await real.main(
    { 'federation-rule-id': RULE, 'oidc-audience': AUDIENCE, 'codex-version': CODEX_VERSION, 'key-isolation': 'none' },
    oidc.env()
  )
  expect(result.errors).toEqual([])
  // Offline its token exchange fails; what matters is the mode it reports.
  const status = await real.run('codex', ['login', 'status'], { timeoutMs: 60_000 })
  expect(status.stdout + status.stderr).toMatch(/workload identity token exchange/i)
  // The same CLI and CODEX_HOME without the two variables: an ordinary, logged-out CLI.
  const env = real.stepEnv()
  delete env.OPENAI_FEDERATION_RULE_ID
  delete env.OPENAI_IDENTITY_TOKEN_FILE
  const without = await runProcess(result.outputs['codex-path'], ['login', 'status'], { env, timeoutMs: 60_000 })
  expect(without.exitCode).not.toBe(0)
  expect(without.stdout + without.stderr).not.toMatch(/workload identity/i)
  await real.post()
}, 60_000)

test("refreshDelay: half-way through the token's life, never less than a second, even for unreadable times", () => {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const token = (iat: number, exp: number) => `${b64({ alg: 'none' })}.${b64({ iat, exp })}.sig`
  expect(refreshDelay(token(1000, 1600), 0, 1000_000)).toBe(300_000)
  expect(refreshDelay(token(1000, 1600), 0, 1_400_000)).toBe(1000)
  expect(refreshDelay(token(1e300, 1600), 0, 1_400_000)).toBe(1000)
  expect(refreshDelay('not.a.jwt', 5000, 5000)).toBe(150_000)
})
