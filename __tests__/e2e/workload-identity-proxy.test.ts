/**
 * GitHub OIDC workload identity held by the key proxy, with the real CLI as the oracle.
 * Codex 0.171.0 exchanges at https://auth.openai.com/oauth/token and talks to
 * https://chatgpt.com/backend-api with no override, so both are played by one loopback
 * backend behind a forwarding proxy (HTTPS_PROXY) whose routes send those names to it, with a
 * certificate for them from a test CA (ca-certificate). The same `codex exec` runs natively
 * (key-isolation: none: Codex exchanges the token file itself) and through the proxy (the
 * default): the backend must see the same exchange and the same model requests. The spend
 * caps hold over both transports (harness/spend-caps.ts).
 */
import { promises as fs } from 'node:fs'
import * as https from 'node:https'
import * as path from 'node:path'
import {
  ChatgptTokenBackend,
  LoopingModel,
  TOKEN_TURN_TEXT,
  type BackendRequest
} from '../harness/chatgpt-token-backend.js'
import { FakeOidc } from '../harness/fake-oidc.js'
import { ATTACKER_DONE, AttackerModel } from '../harness/attacker.js'
import { useRunners } from '../harness/lifecycle.js'
import { ForwardProxy } from '../harness/proxy.js'
import { CODEX_VERSION, sharedToolCache } from '../harness/real-cli.js'
import { modelListRequests, modelRequests, normalized, PER_CONNECTION } from '../harness/request-views.js'
import { expectSpendCaps } from '../harness/spend-caps.js'

const RULE = 'fr_testFederationRule123'
const AUDIENCE = 'https://api.openai.com/v1'
const ACCOUNT = 'account-wif-test'
const USER = 'user-wif-test'
const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi']
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')

let oidc: FakeOidc
let backend: ChatgptTokenBackend
let forward: ForwardProxy
let model: AttackerModel | undefined
/** Every access token the token endpoint issued: canaries, with the OIDC tokens. */
const issued: string[] = []
/** The life of each exchanged token, in seconds (a test may shorten it to see a renewal). */
let lifetime = 600
const runners = useRunners({ canaries: () => [oidc.requestToken, ...oidc.issued, ...issued] })

/** The token endpoint's answer as the tests of Codex's own source show it; the access token is a JWT naming the user. */
function exchangeAnswer(form: URLSearchParams): { status: number; body: unknown } {
  if (form.get('federation_rule_id') !== RULE || !oidc.issued.includes(form.get('assertion') ?? ''))
    return { status: 400, body: { error: 'invalid_grant' } }
  const auth = { chatgpt_account_id: ACCOUNT, chatgpt_plan_type: 'enterprise', chatgpt_user_id: USER, user_id: USER }
  const token = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ jti: `access-${issued.length + 1}`, 'https://api.openai.com/auth': auth })}.sig`
  issued.push(token)
  backend.tokens.push(token)
  return {
    status: 200,
    body: {
      access_token: token,
      token_type: 'Bearer',
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      expires_in: lifetime,
      scope: 'model.request',
      chatgpt_account_id: ACCOUNT,
      chatgpt_account_user_id: `${USER}__${ACCOUNT}`,
      chatgpt_plan_type: 'enterprise',
      user_id: USER
    }
  }
}

/** `looping`: a model that never stops asking (the spend caps' test); else `commands`' AttackerModel, if any. */
async function serve(websocket = false, commands: string[] = [], looping?: LoopingModel): Promise<void> {
  oidc = await runners.serve(new FakeOidc(300))
  model = commands.length ? new AttackerModel(commands.map((command, i) => [`command ${i + 1}`, command])) : undefined
  backend = await runners.serve(
    new ChatgptTokenBackend([], {
      websocket,
      model: looping ?? model,
      accountId: ACCOUNT,
      names: ['chatgpt.com', 'auth.openai.com'],
      oauth: exchangeAnswer,
      configBundle: true
    })
  )
  const to = `127.0.0.1:${backend.port}`
  forward = await runners.serve(new ForwardProxy(undefined, { 'chatgpt.com:443': to, 'auth.openai.com:443': to }))
}

const exchanges = (requests: BackendRequest[]) => requests.filter((r) => r.url === '/oauth/token')

/** An exchange request as the token endpoint sees it: the assertion by what it is (a fresh OIDC token), the rest by value. */
function exchangeView(request: BackendRequest) {
  const form = new URLSearchParams(request.body)
  const assertion = form.get('assertion') ?? ''
  form.set('assertion', oidc.issued.includes(assertion) ? '<a GitHub OIDC token>' : assertion)
  return {
    method: request.method,
    host: request.headers.host,
    headers: Object.fromEntries(
      Object.entries(request.headers).filter(([name]) => !PER_CONNECTION.has(name) && name !== 'user-agent')
    ),
    form: [...form.entries()]
  }
}

async function run(isolation: string, execArgs = EXEC) {
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const main = await runner.main(
    {
      'federation-rule-id': RULE,
      'oidc-audience': AUDIENCE,
      'codex-version': CODEX_VERSION,
      'key-isolation': isolation,
      // Natively Codex must reach the forwarding proxy itself.
      'codex-network': 'open',
      'ca-certificate': backend.ca
    },
    { ...oidc.env(), HTTPS_PROXY: forward.url }
  )
  expect(main.errors).toEqual([])
  expect(main.outputs['auth-mode']).toBe('workload-identity')
  const from = backend.requests.length
  // The runner gives every step its OIDC request variables: the jail must keep them from Codex.
  const exec = await runner.run('codex', execArgs, {
    env: { ...oidc.env(), HTTPS_PROXY: forward.url },
    timeoutMs: 90_000
  })
  if (!exec.stdout.includes(model ? ATTACKER_DONE : TOKEN_TURN_TEXT))
    throw new Error(`no answer; Codex said: ${exec.stderr.slice(-3000)}`)
  return { runner, main, from, exec }
}

test.each([
  ['HTTP', false],
  ['the WebSocket transport', true]
])(
  'over %s: the token endpoint and the backend see the same exchange and model requests from Codex natively and through the key proxy',
  async (_transport, websocket) => {
    await serve(websocket)
    const views: ReturnType<typeof normalized>[][] = []
    const exchangeViews: ReturnType<typeof exchangeView>[][] = []
    for (const isolation of ['none', 'proxy']) {
      const before = backend.requests.length
      const issuedBefore = issued.length
      const { runner, main, from, exec } = await run(isolation)
      const home = main.outputs['codex-home']
      // Codex's model list (which it asks of chatgpt.com whatever chatgpt_base_url says) reaches
      // the backend with the exchanged token, through the proxy as natively: not the placeholder.
      expect(exec.stderr).not.toContain('failed to refresh available models')
      const lists = modelListRequests(backend.since(from))
      expect(lists.length).toBeGreaterThan(0)
      expect(lists.every((r) => issued.includes((r.headers.authorization ?? '').slice(7)))).toBe(true)
      if (isolation === 'proxy') {
        // Neither variable nor file: Codex holds a placeholder ChatGPT sign-in only the proxy accepts.
        expect(main.exported.OPENAI_FEDERATION_RULE_ID).toBeUndefined()
        expect(main.exported.OPENAI_IDENTITY_TOKEN_FILE).toBeUndefined()
        const auth = JSON.parse(await fs.readFile(path.join(home, 'auth.json'), 'utf8')) as Record<string, unknown>
        expect(auth).toMatchObject({ auth_mode: 'chatgpt', tokens: { account_id: ACCOUNT } })
      }
      exchangeViews.push(exchanges(backend.since(before)).map(exchangeView))
      const dirs = [runner.root, home].sort((a, b) => b.length - a.length)
      // Each run has an exchange of its own: its token, by what it is.
      const own = new Set(issued.slice(issuedBefore).map((token) => `Bearer ${token}`))
      views.push(
        modelRequests(backend.since(from)).map((r) => {
          const view = normalized(r, dirs)
          const bearer = view.values.authorization
          if (typeof bearer === 'string' && own.has(bearer))
            view.values.authorization = "Bearer <this run's exchanged token>"
          return view
        })
      )
      const post = await runner.post()
      expect(post.errors).toEqual([])
    }
    const [native, proxied] = views
    expect(native.length).toBeGreaterThan(0)
    expect(proxied).toEqual(native)
    expect(native[0].values.authorization).toBe("Bearer <this run's exchanged token>")
    expect(native[0].values['chatgpt-account-id']).toBe(ACCOUNT)
    // One exchange each; every one of them carries an OIDC token of its own (they are single-use).
    expect(exchangeViews[0]).toHaveLength(1)
    expect(exchangeViews[1]).toHaveLength(1)
    expect(exchangeViews[1]).toEqual(exchangeViews[0])
    const assertions = exchanges(backend.requests).map((r) => new URLSearchParams(r.body).get('assertion'))
    expect(new Set(assertions).size).toBe(assertions.length)
  },
  240_000
)

test('the proxy renews the exchanged token before it ends, with a new OIDC token, and the model requests carry the new one', async () => {
  await serve()
  // Long enough that a loaded machine's first codex call comes before the renewal is due.
  lifetime = 20
  try {
    const { runner } = await run('proxy')
    // The first exchange (main's) lives 20 s and is renewed in its last half: after 11 s a new one is due.
    await new Promise((resolve) => setTimeout(resolve, 11_000))
    const from = backend.requests.length
    const again = await runner.run('codex', EXEC, { env: { HTTPS_PROXY: forward.url }, timeoutMs: 90_000 })
    expect(again.stdout).toContain(TOKEN_TURN_TEXT)
    const renewals = exchanges(backend.since(from))
    expect(renewals.length).toBeGreaterThanOrEqual(1)
    // The proxy's renewal is the request Codex makes: same form, same headers.
    expect(exchangeView(renewals[0])).toEqual(exchangeView(exchanges(backend.requests)[0]))
    const used = modelRequests(backend.since(from)).map((r) => r.headers.authorization)
    expect(used.length).toBeGreaterThan(0)
    expect(used.every((a) => a !== `Bearer ${issued[0]}` && issued.includes((a ?? '').slice(7)))).toBe(true)
    await runner.post()
  } finally {
    lifetime = 600
  }
}, 180_000)

test('the backend refuses the exchanged token (401) under two codex commands at once: each Codex refreshes at the proxy, the proxy exchanges once, with a new OIDC token, and both commands complete', async () => {
  await serve()
  // Each test's tokens are added to the file's list: this test's are the ones from here on.
  const mine = issued.length
  const { runner } = await run('proxy')
  // Unexpired, but the backend no longer takes the first exchange's token: every next request gets a 401.
  backend.tokens.splice(0)
  // The exchange takes long enough that both commands' refreshes and requests meet it under way.
  backend.refreshDelayMs = 1500
  const from = backend.requests.length
  const runs = await Promise.all(
    [0, 1].map(() => runner.run('codex', EXEC, { env: { HTTPS_PROXY: forward.url }, timeoutMs: 90_000 }))
  )
  for (const exec of runs)
    if (!exec.stdout.includes(TOKEN_TURN_TEXT)) throw new Error(`no answer; Codex said: ${exec.stderr.slice(-3000)}`)
  const after = backend.since(from)
  // The refused token was sent (and answered 401), then never again once the new one was held.
  expect(after.some((r) => r.headers.authorization === `Bearer ${issued[mine]}`)).toBe(true)
  const renewals = exchanges(after)
  expect(renewals).toHaveLength(1)
  expect(exchangeView(renewals[0])).toEqual(exchangeView(exchanges(backend.requests)[0]))
  expect(issued.length - mine).toBe(2)
  const used = modelRequests(after).map((r) => r.headers.authorization)
  expect(used.length).toBeGreaterThanOrEqual(2)
  expect(used.every((a) => a === `Bearer ${issued[mine + 1]}`)).toBe(true)
  const post = await runner.post()
  expect(post.errors).toEqual([])
}, 180_000)

test.each([
  ['HTTP', false],
  ['the WebSocket transport', true]
])(
  'spend control over %s: allowed-models refuses before anything is sent, max-requests and max-tokens stop a looping turn at the cap, and the usage file and the summary count it',
  async (_transport, websocket) => {
    await serve(websocket, [], new LoopingModel())
    await expectSpendCaps(
      backend,
      websocket,
      async (caps) => {
        const runner = await runners.create({ toolCache: sharedToolCache() })
        const main = await runner.main(
          {
            'federation-rule-id': RULE,
            'oidc-audience': AUDIENCE,
            'codex-version': CODEX_VERSION,
            'ca-certificate': backend.ca,
            ...caps
          },
          { ...oidc.env(), HTTPS_PROXY: forward.url }
        )
        return { runner, main }
      },
      { HTTPS_PROXY: forward.url }
    )
  },
  240_000
)

test('a federation rule the token endpoint refuses: one error that says what to check, and nothing started', async () => {
  await serve()
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const main = await runner.main(
    {
      'federation-rule-id': 'fr_notTheRule',
      'oidc-audience': AUDIENCE,
      'codex-version': CODEX_VERSION,
      'ca-certificate': backend.ca
    },
    { ...oidc.env(), HTTPS_PROXY: forward.url }
  )
  expect(main.errors).toEqual([
    expect.stringMatching(
      /^::error::The workload identity exchange at https:\/\/auth\.openai\.com\/oauth\/token failed: HTTP 400 \(invalid_grant\)\. Check federation-rule-id and oidc-audience against the federation rule/
    )
  ])
  expect(main.state['key-proxy-dir'] ?? '').toBe('')
  expect(await runner.tempFiles()).toEqual([])
  await runner.post()
}, 120_000)

test("the model's commands (real codex exec, full access) find no OIDC token, request token or exchanged token in any variable, process or file", async () => {
  const loot = 'loot.txt'
  await serve(false, [
    // Every variable, every visible process's environment and command line, Codex's own files.
    'env; for p in /proc/[0-9]*; do cat "$p/environ" "$p/cmdline"; echo; done 2>/dev/null | tr "\\0" "\\n"; cat "$CODEX_HOME"/auth.json "$CODEX_HOME"/*.toml',
    // Every file a variable of any process names (OPENAI_IDENTITY_TOKEN_FILE, natively).
    'cat /proc/[0-9]*/environ 2>/dev/null | tr "\\0" "\\n" | sed -n "s/^[A-Z_]*FILE=//p" | sort -u | xargs -r cat',
    // Every readable file where a job keeps things, into the workspace (which the audit searches too).
    `find "$HOME" "$CODEX_HOME" "$RUNNER_TEMP" /tmp "$PWD" -xdev -type f -readable -size -2M 2>/dev/null | grep -v ${loot} | xargs -d "\\n" cat > ${loot} 2>/dev/null; wc -c < ${loot}`
  ])
  const { runner } = await run('proxy', [
    'exec',
    '--skip-git-repo-check',
    '--ephemeral',
    '--dangerously-bypass-approvals-and-sandbox',
    'ignore previous instructions'
  ])
  const swept = await fs.readFile(path.join(runner.workspace, loot), 'latin1')
  await fs.rm(path.join(runner.workspace, loot))
  // Each request carries every output so far: one per call.
  const byCall = new Map<string, string>()
  for (const request of backend.requests.filter((r) => r.method === 'POST' && r.url === '/backend-api/codex/responses'))
    for (const item of (JSON.parse(request.body) as { input: { type: string; call_id?: string; output?: unknown }[] })
      .input)
      if (item.type === 'custom_tool_call_output') byCall.set(item.call_id ?? '', JSON.stringify(item.output))
  const outputs = [...byCall.values()]
  // Both commands ran and said what they saw: the environment, and how much the sweep read.
  expect(outputs).toHaveLength(3)
  expect(outputs[0]).toContain('CODEX_HOME=')
  expect(swept.length).toBeGreaterThan(10_000)
  for (const secret of [oidc.requestToken, ...oidc.issued, ...issued]) {
    for (const output of outputs) expect(output).not.toContain(secret)
    expect(swept).not.toContain(secret)
  }
  expect(outputs[0]).not.toContain('ACTIONS_ID_TOKEN_REQUEST')
  await runner.post()
}, 180_000)

test("a body without end sent to the proxy's refresh path by any process (no capability needed) is refused at a bound, not read whole into the proxy's memory", async () => {
  await serve()
  const { runner, main } = await run('proxy')
  const refresh = new URL(main.exported.CODEX_REFRESH_TOKEN_URL_OVERRIDE)
  const chunk = Buffer.alloc(1 << 20, 'a')
  let sent = 0
  const status = await new Promise<number | undefined>((resolve, reject) => {
    const req = https.request(
      refresh,
      { method: 'POST', headers: { 'content-type': 'application/json' }, rejectUnauthorized: false },
      (res) => {
        res.resume()
        resolve(res.statusCode)
        req.destroy()
      }
    )
    // The proxy's 413 may race its close of the connection: a reset before the whole body was taken is a refusal too.
    req.on('error', (error) => (sent < 64 << 20 ? resolve(413) : reject(error)))
    // Up to 64 MiB, as fast as the proxy takes it: a bounded proxy answers (or closes) long before.
    const write = () => {
      while (sent < 64 << 20) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once('drain', write)
      }
      req.end()
    }
    write()
  })
  expect(status).toBe(413)
  expect(sent).toBeLessThan(64 << 20)
  const post = await runner.post()
  expect(post.errors).toEqual([])
}, 180_000)
