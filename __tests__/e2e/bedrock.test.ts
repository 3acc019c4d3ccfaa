/**
 * provider: amazon-bedrock, against a loopback Bedrock (harness/fake-bedrock.ts) that checks
 * SigV4 with the AWS SDK's signer. The stand-in first proves itself: Codex's own
 * amazon-bedrock provider gets through it, an unsigned or wrongly signed request does not.
 * Then the action: the key proxy holds the job's AWS keys (as configure-aws-credentials
 * exports them) or a Bedrock API key, signs each request, and a later step's real
 * `codex exec` gets its turn while Codex and the commands it runs find no AWS credential;
 * wrong and expired credentials and a missing region end in one line that says what to do;
 * usage is counted and max-requests holds.
 */
import { Sha256 } from '@aws-crypto/sha256-js'
import { SignatureV4 } from '@smithy/signature-v4'
import { promises as fs, readFileSync } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'smol-toml'
import { AttackerModel } from '../harness/attacker.js'
import { findLeaks } from '../harness/audit.js'
import { BEDROCK_REGION, FakeBedrock, type FakeBedrockOptions, TEST_AWS_KEYS } from '../harness/fake-bedrock.js'
import { PLACEHOLDER_BEARER } from '../../src/sources/bedrock.js'
import { REPLY } from '../harness/fake-openai.js'
import { useRunners } from '../harness/lifecycle.js'
import { startedKeyProxy } from '../harness/processes.js'
import { makeTestCa } from '../harness/test-ca.js'
import { CODEX_VERSION, sharedToolCache } from '../harness/real-cli.js'
import { runProcess, type Runner } from '../harness/runner.js'
import { waitFor } from '../harness/wait.js'

const REGION = BEDROCK_REGION
const KEYS = TEST_AWS_KEYS
const BEDROCK_KEY = 'ABSKQmVkcm9ja0FQSUtleS1jb2RleEF1dGhBY3Rpb25UZXN0MDEyMzQ1Njc4OQ=='
const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi']

const runners = useRunners()

const bedrock = (options: Partial<FakeBedrockOptions> = {}) =>
  runners.serve(
    new FakeBedrock({
      region: REGION,
      keys: {
        [KEYS.AWS_ACCESS_KEY_ID]: { secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY, sessionToken: KEYS.AWS_SESSION_TOKEN }
      },
      apiKeys: [BEDROCK_KEY],
      ...options
    })
  )

/** A job whose earlier step exported `env` (configure-aws-credentials), each secret of it a canary of the audit. */
async function jobWith(env: Record<string, string>): Promise<Runner> {
  const runner = await runners.create({ toolCache: sharedToolCache() })
  Object.assign(runner.exported, env)
  for (const [name, value] of Object.entries(env)) if (/SECRET|TOKEN/.test(name)) runner.canaries.add(value)
  return runner
}

const bedrockInputs = (api: FakeBedrock, extra: Record<string, string> = {}) => ({
  provider: 'amazon-bedrock',
  'aws-region': REGION,
  'api-base-url': api.apiBaseUrl,
  'codex-version': CODEX_VERSION,
  config: 'model = "openai.gpt-5.5"',
  ...extra
})

/** The real CLI's binary, as the global setup installed it. */
const realCodex = () => path.join(sharedToolCache(), 'codex', CODEX_VERSION, process.arch, 'bin', 'codex')

/** A `codex exec` turn of Codex's own amazon-bedrock provider against `api`, with the AWS keys in its environment. */
async function nativeTurn(api: FakeBedrock) {
  const home = await fs.mkdtemp(path.join(sharedToolCache(), '..', 'bedrock-own-'))
  try {
    await fs.writeFile(
      path.join(home, 'config.toml'),
      `model_provider = "amazon-bedrock"\nmodel = "openai.gpt-5.5"\n[model_providers.amazon-bedrock]\nbase_url = "${api.apiBaseUrl}"\n[model_providers.amazon-bedrock.aws]\nregion = "${REGION}"\n`
    )
    return await runProcess(realCodex(), EXEC, {
      env: { PATH: process.env.PATH ?? '', HOME: home, CODEX_HOME: home, ...KEYS },
      timeoutMs: 60_000,
      cwd: home
    })
  } finally {
    await fs.rm(home, { recursive: true, force: true })
  }
}

/**
 * What a Responses request is, without what differs between two turns or two senders: the
 * route, the header names (not the authentication or the connection's), the body's fields,
 * its tools and the kinds of its input items.
 */
function shape(request: { method: string; url: string; headers: Record<string, unknown>; body: string }) {
  const unlike =
    /^(authorization|x-amz-date|x-amz-security-token|host|content-length|connection|keep-alive|accept-encoding)$/
  const body = JSON.parse(request.body) as { tools?: { type: string; name?: string }[]; input?: { type: string }[] }
  return {
    route: `${request.method} ${request.url}`,
    headers: Object.keys(request.headers)
      .filter((name) => !unlike.test(name))
      .sort(),
    fields: Object.keys(body).sort(),
    tools: (body.tools ?? []).map((tool) => `${tool.type}:${tool.name ?? ''}`),
    input: (body.input ?? []).map((item) => item.type)
  }
}

describe('the Bedrock stand-in', () => {
  test("takes Codex's own amazon-bedrock provider's SigV4 requests; refuses a missing or wrong signature with 403", async () => {
    const api = await bedrock()
    const own = await nativeTurn(api)
    expect(own.stdout).toContain(REPLY)
    expect(api.verdicts).toContain(`sigv4 ${KEYS.AWS_ACCESS_KEY_ID}`)
    const url = `${api.apiBaseUrl}/models`
    const unsigned = await fetch(url)
    expect([unsigned.status, unsigned.headers.get('x-amzn-errortype')]).toEqual([
      403,
      'MissingAuthenticationTokenException'
    ])
    const sign = async (secretAccessKey: string, service = 'bedrock-mantle') => {
      const { hostname, port } = new URL(url)
      const signed = await new SignatureV4({
        service,
        region: REGION,
        sha256: Sha256,
        applyChecksum: false,
        credentials: { accessKeyId: KEYS.AWS_ACCESS_KEY_ID, secretAccessKey, sessionToken: KEYS.AWS_SESSION_TOKEN }
      }).sign({
        method: 'GET',
        protocol: 'http:',
        hostname,
        port: Number(port),
        path: '/openai/v1/models',
        query: {},
        headers: { host: `${hostname}:${port}` }
      })
      return fetch(url, { headers: signed.headers as Record<string, string> })
    }
    expect((await sign(KEYS.AWS_SECRET_ACCESS_KEY)).status).toBe(200)
    const wrong = await sign('not-the-secret-access-key')
    expect([wrong.status, wrong.headers.get('x-amzn-errortype')]).toEqual([403, 'InvalidSignatureException'])
    expect((await sign(KEYS.AWS_SECRET_ACCESS_KEY, 'bedrock-runtime')).status).toBe(403)
  }, 120_000)
})

test('through the proxy Codex sends what it sends Bedrock itself: the same route, headers, fields and tools', async () => {
  const api = await bedrock()
  const own = await nativeTurn(api)
  expect(own.stdout).toContain(REPLY)
  const direct = api.server.requests.filter((r) => r.method === 'POST').map(shape)
  const runner = await jobWith(KEYS)
  expect((await runner.main(bedrockInputs(api))).errors).toEqual([])
  const before = api.server.requests.length
  expect((await runner.run('codex', EXEC, { timeoutMs: 90_000 })).stdout).toContain(REPLY)
  const proxied = api.server.requests.slice(before).map(shape)
  expect(direct.length).toBeGreaterThan(0)
  expect(proxied).toEqual(direct)
}, 180_000)

test('AWS keys from an earlier step: the proxy signs, codex exec gets its turn, Codex gets no AWS variable', async () => {
  const api = await bedrock({ tokens: 40 })
  const runner = await jobWith({ ...KEYS, AWS_REGION: REGION, AWS_DEFAULT_REGION: REGION })
  const main = await runner.main(
    bedrockInputs(api, { 'aws-region': '', verify: 'true', 'allowed-models': 'openai.gpt-5.5' })
  )
  expect(main.errors).toEqual([])
  expect(main.outputs['auth-mode']).toBe('amazon-bedrock')
  // verify: one signed GET /models, before the proxy started.
  expect(api.server.requests.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /openai/v1/models'])
  expect(api.verdicts).toEqual([`sigv4 ${KEYS.AWS_ACCESS_KEY_ID}`])
  const home = main.outputs['codex-home']
  const config = parse(await fs.readFile(path.join(home, 'config.toml'), 'utf8')) as {
    model_provider: string
    model_providers: Record<string, Record<string, unknown>>
  }
  // Codex's own Bedrock provider, pointed at the proxy, with a bearer that is no credential.
  expect(config.model_provider).toBe('amazon-bedrock')
  expect(config.model_providers['amazon-bedrock']).toEqual({
    base_url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+\/[A-Za-z0-9_-]{43}\/v1$/),
    aws: { region: REGION }
  })
  expect(await fs.readFile(path.join(home, '.env'), 'utf8')).toBe(`AWS_BEARER_TOKEN_BEDROCK=${PLACEHOLDER_BEARER}\n`)
  expect(Object.keys(main.exported).filter((name) => name.startsWith('AWS_'))).toEqual([])
  const proxy = await startedKeyProxy(runner.root)
  for (const { pid } of proxy)
    for (const file of ['environ', 'cmdline'])
      expect(readFileSync(`/proc/${pid}/${file}`, 'latin1')).not.toContain(KEYS.AWS_SECRET_ACCESS_KEY)

  const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  expect(exec.timedOut).toBe(false)
  expect(exec.stdout).toContain(REPLY)
  const turn = api.server.requests.filter((r) => r.url === '/openai/v1/responses')
  expect(turn.length).toBeGreaterThan(0)
  for (const request of turn) {
    expect(request.headers.authorization).toMatch(
      new RegExp(`^AWS4-HMAC-SHA256 Credential=${KEYS.AWS_ACCESS_KEY_ID}/\\d{8}/${REGION}/bedrock-mantle/aws4_request`)
    )
    expect(request.headers['x-amz-security-token']).toBe(KEYS.AWS_SESSION_TOKEN)
    expect(request.headers['x-amzn-mantle-client-agent']).toBe('codex')
    expect(request.headers.session_id).toBeUndefined()
  }
  expect(api.verdicts.every((v) => v === `sigv4 ${KEYS.AWS_ACCESS_KEY_ID}`)).toBe(true)
  // The proxy writes the usage file within 100 ms of a change.
  const usageOf = async () =>
    JSON.parse(await fs.readFile(main.outputs['usage-file'], 'utf8')) as { requests: number; total_tokens: number }
  await waitFor(async () => (await usageOf()).total_tokens > 0, 2000)
  expect(await usageOf()).toMatchObject({ requests: turn.length, total_tokens: 40 * turn.length })
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(post.stdout).toContain(`${turn.length} requests forwarded`)
}, 180_000)

test('over HTTPS with a test CA, as Bedrock is: the proxy signs for the TLS host and trusts the CA', async () => {
  const ca = makeTestCa('Bedrock Test Root CA')
  const api = await bedrock({ tls: ca.server })
  const runner = await jobWith(KEYS)
  const main = await runner.main(bedrockInputs(api, { 'ca-certificate': ca.ca, verify: 'true' }))
  expect(main.errors).toEqual([])
  expect(api.apiBaseUrl).toMatch(/^https:/)
  const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  expect(exec.stdout).toContain(REPLY)
  expect(api.verdicts.length).toBeGreaterThan(1)
  expect(api.verdicts.every((v) => v === `sigv4 ${KEYS.AWS_ACCESS_KEY_ID}`)).toBe(true)
}, 180_000)

test('a prompt-injected model finds no AWS credential in the environment, config.toml or any file it can read', async () => {
  const runner = await jobWith({ ...KEYS, AWS_BEARER_TOKEN_BEDROCK: BEDROCK_KEY })
  const model = new AttackerModel(
    [
      ['environment', 'env; cat /proc/$PPID/environ | tr "\\0" "\\n"'],
      ['config', 'cat "$CODEX_HOME/config.toml" "$CODEX_HOME/.env"; ls -la "$CODEX_HOME"'],
      [
        'files',
        `grep -rIl -e ${KEYS.AWS_SECRET_ACCESS_KEY.slice(0, 20)} -e ${KEYS.AWS_SESSION_TOKEN.slice(0, 20)} -e ${BEDROCK_KEY.slice(0, 20)} "$HOME" "$CODEX_HOME" "${runner.temp}" "${runner.workspace}" /tmp 2>/dev/null | head; echo searched`
      ],
      [
        'processes',
        'for f in /proc/[0-9]*/environ; do tr "\\0" "\\n" < $f 2>/dev/null | grep "^AWS_"; done; echo scanned'
      ]
    ],
    'function'
  )
  await model.server.start()
  const api = await bedrock({ model: { origin: model.server.origin } })
  try {
    // A Bedrock model (openai.gpt-5.5): Codex gives it exec_command as a function.
    const main = await runner.main(bedrockInputs(api))
    expect(main.errors).toEqual([])
    const exec = await runner.run(
      'codex',
      ['exec', '--dangerously-bypass-approvals-and-sandbox', '--skip-git-repo-check', '--ephemeral', 'fix the bug'],
      { timeoutMs: 150_000 }
    )
    expect(exec.timedOut).toBe(false)
    const doors = Object.fromEntries(model.outputs.map((o) => [o.door, o.output]))
    // Each command ran and printed what it saw: a test that cannot fail proves nothing.
    expect(Object.keys(doors)).toEqual(['environment', 'config', 'files', 'processes'])
    expect(doors.environment).toContain('CODEX_HOME=')
    expect(doors.environment).not.toMatch(/AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)=/)
    // What Codex has instead: the placeholder the proxy drops.
    expect(doors.config).toContain(`AWS_BEARER_TOKEN_BEDROCK=${PLACEHOLDER_BEARER}`)
    expect(doors.config).toContain('model_provider')
    expect(doors.files).toContain('searched')
    expect(doors.processes).toContain('scanned')
    const secrets = [KEYS.AWS_SECRET_ACCESS_KEY, KEYS.AWS_SESSION_TOKEN, BEDROCK_KEY]
    expect(
      findLeaks([...model.bodies(), ...model.outputs.map((o) => ({ place: o.door, text: o.output }))], secrets).leaks
    ).toEqual([])
    // The proxy signed with the keys (they win over AWS_BEARER_TOKEN_BEDROCK, which Codex would prefer).
    expect(api.verdicts.length).toBeGreaterThan(0)
    expect(api.verdicts.every((v) => v === `sigv4 ${KEYS.AWS_ACCESS_KEY_ID}`)).toBe(true)
  } finally {
    await model.server.stop()
  }
}, 240_000)

test('bedrock-api-key: the proxy sends it as a bearer; max-requests holds', async () => {
  const api = await bedrock()
  const runner = await jobWith({})
  const main = await runner.main(
    bedrockInputs(api, { 'bedrock-api-key': BEDROCK_KEY, 'max-requests': '1', config: '' })
  )
  expect(main.errors).toEqual([])
  expect(main.stdout).toContain('::notice::provider: amazon-bedrock and config names no model')
  const first = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  expect(first.stdout).toContain(REPLY)
  expect(api.verdicts).toEqual(['bearer'])
  expect(api.server.requests[0].headers.authorization).toBe(`Bearer ${BEDROCK_KEY}`)
  const second = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
  expect(second.exitCode).not.toBe(0)
  expect(second.stdout + second.stderr).toContain('max-requests 1 reached')
  expect(api.verdicts).toEqual(['bearer'])
}, 180_000)

describe('refusals: one line that says what to do', () => {
  test.each([
    [
      'a wrong secret access key',
      { keys: { [KEYS.AWS_ACCESS_KEY_ID]: { secretAccessKey: 'another', sessionToken: KEYS.AWS_SESSION_TOKEN } } },
      "Amazon Bedrock refused the request's SigV4 signature: check that AWS_SECRET_ACCESS_KEY belongs to AWS_ACCESS_KEY_ID"
    ],
    [
      'an expired role session',
      {
        keys: {
          [KEYS.AWS_ACCESS_KEY_ID]: {
            secretAccessKey: KEYS.AWS_SECRET_ACCESS_KEY,
            sessionToken: KEYS.AWS_SESSION_TOKEN,
            expired: true
          }
        }
      },
      'Amazon Bedrock refused the AWS credentials: the session has expired.'
    ]
  ])(
    '%s: verify fails the step; without verify, codex exec says it',
    async (_label, options, message) => {
      const api = await bedrock(options)
      const checked = await jobWith(KEYS)
      const verified = await checked.main(bedrockInputs(api, { verify: 'true' }))
      expect(verified.exitCode).toBe(1)
      expect(verified.errors).toEqual([expect.stringContaining(`::error::verify: ${message}`)])
      const runner = await jobWith(KEYS)
      const main = await runner.main(bedrockInputs(api))
      expect(main.errors).toEqual([])
      const exec = await runner.run('codex', EXEC, { timeoutMs: 90_000 })
      expect(exec.exitCode).not.toBe(0)
      expect(exec.stdout + exec.stderr).toContain(message)
      // The post step says it again, for whoever reads the job's end.
      const post = await runner.post()
      expect(post.stdout).toMatch(
        /::warning::Amazon Bedrock refused the credentials \d+ times during the job; the last time: /
      )
      expect(post.stdout).toContain(message)
    },
    180_000
  )

  test.each([
    ['no region', KEYS, { 'aws-region': '' }, 'provider: amazon-bedrock needs a region: set aws-region'],
    [
      'no credential',
      { AWS_REGION: REGION },
      {},
      'provider: amazon-bedrock needs AWS credentials: run aws-actions/configure-aws-credentials'
    ],
    [
      'another credential input',
      KEYS,
      { 'api-key': 'sk-proj-codexAuthActionTest0123456789abcdefXYZ' },
      'provider: amazon-bedrock and api-key are both set'
    ],
    [
      'key-isolation: none',
      KEYS,
      { 'key-isolation': 'none' },
      'key-isolation: none cannot be used with provider: amazon-bedrock'
    ],
    [
      "config's own model_provider",
      KEYS,
      { config: 'model_provider = "amazon-bedrock"' },
      "provider: amazon-bedrock and config's model_provider contradict"
    ],
    ['a region that is none', KEYS, { 'aws-region': 'Mars' }, 'aws-region "Mars" is not an AWS region']
  ])(
    '%s',
    async (_label, env, inputs, message) => {
      const api = await bedrock()
      const runner = await jobWith(env)
      const main = await runner.main(bedrockInputs(api, { ...inputs }))
      expect(main.exitCode).toBe(1)
      expect(main.errors).toHaveLength(1)
      expect(main.errors[0]).toContain(message)
      expect(api.server.requests).toEqual([])
    },
    60_000
  )
})
