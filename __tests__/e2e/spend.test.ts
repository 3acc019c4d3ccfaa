/**
 * Spend control through the key proxy, with the real Codex CLI against a loopback upstream
 * that reports a known usage for every response: the usage file and the post step's
 * summary hold exactly what the upstream reported; max-tokens, max-requests and
 * allowed-models stop a job at the proxy, at once and with a message that names the input,
 * and the upstream sees no request past the cap.
 */
import { existsSync, promises as fs, statSync } from 'node:fs'
import * as path from 'node:path'
import { parse } from 'smol-toml'
import type { UsageReport } from '../../src/helpers/key-proxy/usage.js'
import { standInCodex } from '../harness/fake-package.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { Runner } from '../harness/runner.js'
import { LoopbackServer, sendJson } from '../harness/servers.js'
import { WebSocketServer } from 'ws'

const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral']
const REPLY = 'counted by the key proxy'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Reported {
  model: string
  session: string
  usage: {
    input_tokens: number
    input_tokens_details: { cached_tokens: number }
    output_tokens: number
    output_tokens_details: { reasoning_tokens: number }
    total_tokens: number
  }
}

/**
 * The Responses API, playing a model: each answer reports a usage of its own (from the
 * request's number), written in small pieces as a real stream arrives. `loop` answers with
 * a tool call, so that Codex asks again at once and for ever: a runaway agent.
 */
class UsageUpstream {
  readonly reported: Reported[] = []
  loop = false
  tokensPerResponse?: number
  readonly server: LoopbackServer
  readonly sockets = new WebSocketServer({ noServer: true })

  /** `http`: an upgrade gets 426, and Codex falls back to HTTP at once; `websocket`: the Responses API's websocket mode. */
  constructor(readonly transport: 'http' | 'websocket') {
    this.server = new LoopbackServer(async (req, res, body) => {
      if (req.method === 'GET') return sendJson(res, 200, { object: 'list', data: [] })
      const request = JSON.parse(body) as { model: string }
      const events = this.answer(request.model, String(req.headers['session-id']), true)
      const text = events.map((e) => `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`).join('')
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      for (let at = 0; at < text.length;) {
        const piece = 1 + Math.floor(Math.random() * 400)
        res.write(text.slice(at, (at += piece)))
        await sleep(1)
      }
      res.end()
    })
    this.server.onUpgrade = (req, socket, head) => {
      if (this.transport === 'http')
        return void socket.end('HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\n\r\n')
      this.sockets.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data) => {
          const request = JSON.parse(String(data)) as { type: string; model: string; generate?: boolean }
          if (request.type !== 'response.create') return
          for (const event of this.answer(request.model, String(req.headers['session-id']), request.generate !== false))
            ws.send(JSON.stringify(event))
        })
      })
    }
  }

  /** The events of one response, its usage recorded in `reported`. */
  private answer(model: string, session: string, generate: boolean) {
    const n = this.reported.length + 1
    const total = this.tokensPerResponse ?? 1000 + 37 * n
    const usage = {
      input_tokens: total - 10 - n,
      input_tokens_details: { cached_tokens: 3 * n },
      output_tokens: 10 + n,
      output_tokens_details: { reasoning_tokens: n },
      total_tokens: total
    }
    this.reported.push({ model, session, usage })
    const item = this.loop
      ? { type: 'custom_tool_call', id: `ctc_${n}`, call_id: `call_${n}`, name: 'exec', input: 'text("again")' }
      : { type: 'message', role: 'assistant', id: `msg_${n}`, content: [{ type: 'output_text', text: REPLY }] }
    // Codex's warm-up over the websocket (generate: false) gets no output.
    const output = generate ? [item] : []
    return [
      { type: 'response.created', response: { id: `resp_${n}` } },
      ...(generate ? [...REPLY].map((c) => ({ type: 'response.output_text.delta', delta: c })) : []),
      ...output.map((done) => ({ type: 'response.output_item.done', item: done })),
      { type: 'response.completed', response: { id: `resp_${n}`, model, output, usage } }
    ]
  }

  get apiBaseUrl(): string {
    return `${this.server.origin}/v1`
  }

  /** The sums of what it reported, under the usage file's names. */
  sums(reported = this.reported) {
    const sum = (pick: (r: Reported) => number) => reported.reduce((total, r) => total + pick(r), 0)
    return {
      requests: reported.length,
      input_tokens: sum((r) => r.usage.input_tokens),
      cached_input_tokens: sum((r) => r.usage.input_tokens_details.cached_tokens),
      output_tokens: sum((r) => r.usage.output_tokens),
      reasoning_tokens: sum((r) => r.usage.output_tokens_details.reasoning_tokens),
      total_tokens: sum((r) => r.usage.total_tokens)
    }
  }
}

const runners: Runner[] = []
const upstreams: UsageUpstream[] = []

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.dispose()))
  await Promise.all(
    upstreams.splice(0).map(async (u) => {
      u.sockets.close()
      await u.server.stop()
    })
  )
})

let transport: 'http' | 'websocket' = 'http'

async function upstream(): Promise<UsageUpstream> {
  const api = new UsageUpstream(transport)
  await api.server.start()
  upstreams.push(api)
  return api
}

/** A job whose main step started the key proxy with `inputs`. */
async function job(api: UsageUpstream, inputs: Record<string, string> = {}) {
  const runner = await Runner.create({ toolCache: sharedToolCache() })
  runners.push(runner)
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'key-isolation': 'proxy',
    'api-base-url': api.apiBaseUrl,
    'codex-version': CODEX_VERSION,
    ...inputs
  })
  expect(main.errors).toEqual([])
  return { runner, main, usageFile: main.outputs['usage-file'] }
}

/** The usage file once it shows `requests` requests done (the proxy writes it within 100 ms of a change). */
async function usageAfter(file: string, settled: (report: UsageReport) => boolean): Promise<UsageReport> {
  let report = JSON.parse(await fs.readFile(file, 'utf8')) as UsageReport
  for (let i = 0; i < 40 && !settled(report); i++) {
    await sleep(50)
    report = JSON.parse(await fs.readFile(file, 'utf8')) as UsageReport
  }
  return report
}

/** Over the websocket a command refused from its start counts twice: Codex's warm-up request, then its first turn. */
const refusedPerCommand = () => (transport === 'websocket' ? 2 : 1)

const codex = (runner: Runner, args: string[]) => runner.run('codex', [...EXEC, ...args], { timeoutMs: 90_000 })

describe.each(['http', 'websocket'] as const)('over %s', (kind) => {
  beforeEach(() => {
    transport = kind
  })

  test('the usage file and the summary hold exactly what the upstream reported, concurrent codex processes included', async () => {
    const api = await upstream()
    const { runner, main, usageFile } = await job(api)
    const dir = main.state['key-proxy-dir']
    expect(usageFile).toBe(path.join(dir, 'usage.json'))
    expect(statSync(usageFile).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await fs.readFile(usageFile, 'utf8'))).toMatchObject({
      requests: 0,
      total_tokens: 0,
      by_model: {},
      by_session: {},
      limits: {}
    })
    expect(main.summary).toMatch(/Spend caps<\/th><td>none/)

    // Two in turn, then four at once, with two models.
    for (const model of ['gpt-spend-a', 'gpt-spend-b']) {
      const exec = await codex(runner, ['-c', `model="${model}"`, 'say hi'])
      expect(exec.stdout).toContain(REPLY)
    }
    const parallel = await Promise.all(
      ['gpt-spend-a', 'gpt-spend-b', 'gpt-spend-a', 'gpt-spend-b'].map((model) =>
        codex(runner, ['-c', `model="${model}"`, 'say hi'])
      )
    )
    for (const exec of parallel) expect(exec.stdout).toContain(REPLY)
    expect(api.reported.length).toBeGreaterThanOrEqual(6)

    const report = await usageAfter(usageFile, (r) => r.total_tokens === api.sums().total_tokens)
    expect(report).toMatchObject({ ...api.sums(), refused_requests: 0, unreported_requests: 0 })
    for (const model of ['gpt-spend-a', 'gpt-spend-b'])
      expect([model, report.by_model[model]]).toEqual([model, api.sums(api.reported.filter((r) => r.model === model))])
    const sessions = [...new Set(api.reported.map((r) => r.session))]
    expect(sessions).toHaveLength(6)
    expect(Object.keys(report.by_session).sort()).toEqual(sessions.sort())
    for (const session of sessions)
      expect(report.by_session[session]).toEqual(api.sums(api.reported.filter((r) => r.session === session)))

    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    const total = api.sums()
    const n = (value: number) => value.toLocaleString('en-US')
    expect(post.stdout).toContain(
      `Token usage in this job, as the upstream reported it: ${total.requests} requests, ${n(total.input_tokens)} input tokens (${n(total.cached_input_tokens)} cached), ${n(total.output_tokens)} output (${n(total.reasoning_tokens)} reasoning), ${n(total.total_tokens)} total.`
    )
    const a = api.sums(api.reported.filter((r) => r.model === 'gpt-spend-a'))
    expect(post.stdout).toContain(`  "gpt-spend-a": ${a.requests} requests, ${n(a.input_tokens)} input tokens`)
    const row = (name: string, t: typeof total) =>
      `<tr><td>${name}</td><td>${[t.requests, t.input_tokens, t.cached_input_tokens, t.output_tokens, t.reasoning_tokens, t.total_tokens].map(n).join('</td><td>')}</td></tr>`
    expect(post.summary).toContain('<h3>Codex token usage</h3>')
    expect(post.summary).toContain(row('gpt-spend-a', a))
    expect(post.summary).toContain(row('Total', total))
    expect(existsSync(usageFile)).toBe(false)
    expect(await runner.tempFiles()).toEqual([])
  }, 240_000)

  test('max-tokens stops a runaway at once, naming the input; the upstream sees no request after the cap', async () => {
    const api = await upstream()
    api.loop = true
    api.tokensPerResponse = 1000
    const { runner, main, usageFile } = await job(api, { 'max-tokens': '4500' })
    expect(main.summary).toMatch(/Spend caps<\/th><td>max-tokens 4,500 \(enforced by the key proxy\)/)
    const started = Date.now()
    const exec = await codex(runner, ['say hi'])
    expect(exec.timedOut).toBe(false)
    expect(Date.now() - started).toBeLessThan(20_000)
    expect(exec.exitCode).not.toBe(0)
    const message =
      "max-tokens 4500 reached: 5,000 tokens used in this job; codex-auth-action's key proxy refuses every further model request in this job."
    expect(exec.stderr).toContain(`ERROR: ${message}`)
    // Codex asks one request at a time: the fifth passed 4,500, the sixth was refused.
    expect(api.reported).toHaveLength(5)

    // A later command is refused at once too.
    const again = await codex(runner, ['say hi'])
    expect(again.exitCode).not.toBe(0)
    expect(again.stderr).toContain(`ERROR: ${message}`)
    expect(api.reported).toHaveLength(5)
    const report = await usageAfter(usageFile, (r) => r.refused_requests === 1 + refusedPerCommand())
    expect(report).toMatchObject({
      ...api.sums(),
      refused_requests: 1 + refusedPerCommand(),
      limits: { max_tokens: 4500 }
    })
    const post = await runner.post()
    expect(post.stdout).toContain(
      `Caps: max-tokens 4,500; ${1 + refusedPerCommand()} requests refused by them, never sent.`
    )
  }, 180_000)

  test('max-requests stops a runaway at exactly that many requests', async () => {
    const api = await upstream()
    api.loop = true
    const { runner, usageFile } = await job(api, { 'max-requests': '3' })
    const exec = await codex(runner, ['say hi'])
    expect(exec.timedOut).toBe(false)
    expect(exec.exitCode).not.toBe(0)
    expect(exec.stderr).toContain(
      "ERROR: max-requests 3 reached: 3 model requests sent in this job; codex-auth-action's key proxy refuses every further model request in this job."
    )
    expect(api.reported).toHaveLength(3)
    const report = await usageAfter(usageFile, (r) => r.refused_requests === 1)
    expect(report).toMatchObject({ ...api.sums(), refused_requests: 1 })
    await runner.post()
  }, 180_000)

  test('a model outside allowed-models never reaches the upstream; an allowed one does, with the body as checked', async () => {
    const api = await upstream()
    const { runner, main, usageFile } = await job(api, { 'allowed-models': 'gpt-spend-a,\ngpt-spend-c' })
    const refused = await codex(runner, ['-c', 'model="gpt-spend-b"', 'say hi'])
    expect(refused.timedOut).toBe(false)
    expect(refused.exitCode).not.toBe(0)
    expect(refused.stderr).toContain(
      'ERROR: Model "gpt-spend-b", and allowed-models is gpt-spend-a, gpt-spend-c: codex-auth-action\'s key proxy did not send it. Choose one of those models (config: model = "…"), or add this one to allowed-models.'
    )
    expect(api.reported).toEqual([])
    const allowed = await codex(runner, ['-c', 'model="gpt-spend-c"', 'say hi'])
    expect(allowed.stdout).toContain(REPLY)
    expect(new Set(api.reported.map((r) => r.model))).toEqual(new Set(['gpt-spend-c']))
    const sent = api.reported.length

    // Hand-made requests: one naming the model twice is refused whichever comes last (issue
    // 30.3: parsers disagree on which one the upstream reads); an allowed one goes as sent.
    const config = parse(await fs.readFile(path.join(main.outputs['codex-home'], 'config.toml'), 'utf8')) as {
      model_providers: Record<string, { base_url: string }>
    }
    const base = Object.values(config.model_providers)[0].base_url
    const post = (body: string) =>
      fetch(`${base}/responses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    expect((await post('{"model":"gpt-spend-a","model":"gpt-spend-b"}')).status).toBe(400)
    expect((await post('{"model":"gpt-spend-b","model":"gpt-spend-a"}')).status).toBe(400)
    expect((await post('{"input":[]}')).status).toBe(400)
    expect((await post('not json')).status).toBe(400)
    expect(api.reported).toHaveLength(sent)
    const body = '{ "model": "gpt-spend-a", "input": [] }'
    expect((await post(body)).status).toBe(200)
    expect(api.server.requests.at(-1)?.body).toBe(body)
    const report = await usageAfter(usageFile, (r) => r.requests === sent + 1)
    expect(report).toMatchObject({
      requests: sent + 1,
      refused_requests: 4 + refusedPerCommand(),
      limits: { allowed_models: ['gpt-spend-a', 'gpt-spend-c'] }
    })
    await runner.post()
  }, 180_000)
})

test('without the key proxy the summary says that usage needs it; caps without it are refused before anything starts', async () => {
  const runner = await Runner.create({ toolCache: sharedToolCache() })
  runners.push(runner)
  const stand = await standInCodex(runner.root)
  const main = await runner.main({ 'api-key': TEST_API_KEY, 'key-isolation': 'none', install: 'false' }, stand.env)
  expect(main.errors).toEqual([])
  expect(main.outputs['usage-file']).toBeUndefined()
  const post = await runner.post()
  expect(post.summary).toContain('<h3>Codex token usage</h3>')
  expect(post.summary).toContain(
    "Not counted: token usage is counted by the key proxy, which did not hold this job's credential (key-isolation: none, or auto where export-env, a codex-home, an endpoint in config or refresh: true keeps it with Codex, or an agent identity JWT, which only Codex can use). To count and cap usage, set key-isolation: proxy (an error then names anything that stands in its way)."
  )

  for (const [inputs, error] of [
    [
      { 'key-isolation': 'none', 'max-tokens': '1000' },
      "max-tokens is enforced by the key proxy, which does not hold this job's credential (key-isolation: none"
    ],
    [{ 'key-isolation': 'proxy', 'max-tokens': '2,000,000' }, 'max-tokens must be a whole number'],
    [{ 'key-isolation': 'proxy', 'max-requests': '0' }, 'max-requests must be a whole number'],
    [{ 'key-isolation': 'proxy', 'allowed-models': 'gpt 5' }, 'allowed-models holds "gpt 5"']
  ] as const) {
    const bad = await Runner.create({ toolCache: sharedToolCache() })
    runners.push(bad)
    const codexStandIn = await standInCodex(bad.root)
    const result = await bad.main({ 'api-key': TEST_API_KEY, install: 'false', ...inputs }, codexStandIn.env)
    expect([inputs, result.exitCode]).toEqual([inputs, 1])
    expect(result.errors).toEqual([expect.stringContaining(`::error::${error}`)])
    expect(result.state['key-proxy-dir'] ?? '').toBe('')
    expect(await bad.tempFiles()).toEqual([])
  }
}, 180_000)
