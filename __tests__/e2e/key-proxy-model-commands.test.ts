/**
 * Issue 30: what a command of the model's can do to the key proxy, which it reaches on
 * 127.0.0.1 with the capability it reads in config.toml. The bundled dist/ key proxy is
 * started as the main step starts it, in front of a loopback Responses API that reports a
 * usage of 600 tokens a response; the client here plays the model's command. Each test
 * failed against the proxy before its fix (the comment says how).
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, promises as fs, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import * as http from 'node:http'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { WebSocket, WebSocketServer } from 'ws'
import type { UsageReport } from '../../src/helpers/key-proxy/usage.js'
import type { SpendCaps } from '../../src/inputs/spend.js'
import { HELPER_NODE_FLAGS } from '../../src/helpers/node-flags.js'
import { useRunners } from '../harness/lifecycle.js'
import { alive, keyProxyProcesses } from '../harness/processes.js'
import { TEST_API_KEY } from '../harness/real-cli.js'
import { ROOT } from '../harness/runner.js'
import { LoopbackServer, sendJson } from '../harness/servers.js'
import { waitFor } from '../harness/wait.js'

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const runners = useRunners()
const TOKENS = 600
const STOP = "codex-auth-action's key proxy refuses every further model request in this job."
/**
 * The node to start the proxy with, and what startDetached adds on one that has it (22.14+).
 * The SIGUSR1 test wants a node without it: this machine's own Node 20 (the tests themselves
 * may run on the Node 24 of node_modules), where the proxy must hold without the flag.
 */
interface Node {
  path: string
  flags: string[]
}
const CURRENT: Node = {
  path: process.execPath,
  flags: process.allowedNodeEnvironmentFlags.has('--disable-sigusr1') ? ['--disable-sigusr1'] : []
}
function nodeWithoutDisableSigusr1(): Node {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'node')
    if (!dir || dir.includes('node_modules') || !existsSync(candidate)) continue
    const has = spawnSync(candidate, ['-p', "process.allowedNodeEnvironmentFlags.has('--disable-sigusr1')"], {
      encoding: 'utf8'
    }).stdout
    if (has?.trim() === 'false') return { path: candidate, flags: [] }
  }
  return CURRENT
}

/**
 * The Responses API over HTTP (SSE) and its websocket mode: each response is `created`, its
 * output item, then, `finalMs` later, `completed` with 600 tokens. `cut`: the stream ends
 * after the output item, without a final event. Anything over the websocket that is not a
 * `response.create` gets an `error` at once, naming no response, as the upstream answers one.
 */
class Upstream {
  /** Model requests it served, by the model its JSON.parse read. */
  readonly served: string[] = []
  /** Every websocket message type it was sent. */
  readonly messages: string[] = []
  finalMs = 300
  cut = false
  readonly server: LoopbackServer
  readonly sockets = new WebSocketServer({ noServer: true })

  constructor() {
    this.server = new LoopbackServer(async (req, res, body) => {
      if (req.method === 'GET') return sendJson(res, 200, { object: 'list', data: [] })
      const events = this.response(body)
      res.writeHead(200, { 'content-type': 'text/event-stream' })
      const send = (event: unknown) => res.write(`data: ${JSON.stringify(event)}\n\n`)
      events.slice(0, 2).forEach(send)
      await sleep(this.finalMs)
      if (this.cut) return void res.destroy()
      send(events[2])
      res.end()
    })
    this.server.onUpgrade = (req, socket, head) =>
      this.sockets.handleUpgrade(req, socket, head, (ws) =>
        ws.on('message', (data) => {
          const type = String((JSON.parse(String(data)) as { type?: unknown }).type)
          this.messages.push(type)
          if (type !== 'response.create')
            return ws.send(JSON.stringify({ type: 'error', status: 400, error: { message: `unknown type ${type}` } }))
          const events = this.response(String(data))
          events.slice(0, 2).forEach((e) => ws.send(JSON.stringify(e)))
          setTimeout(() => ws.send(JSON.stringify(events[2])), this.finalMs)
        })
      )
  }

  private response(body: string) {
    const model = String((JSON.parse(body) as { model?: unknown }).model)
    this.served.push(model)
    const id = `resp_${this.served.length}`
    const usage = { input_tokens: TOKENS - 100, output_tokens: 100, total_tokens: TOKENS }
    return [
      { type: 'response.created', response: { id } },
      { type: 'response.output_item.done', item: { type: 'message', role: 'assistant', content: [] } },
      { type: 'response.completed', response: { id, model, usage } }
    ]
  }

  async start(): Promise<this> {
    await this.server.start()
    return this
  }

  async stop(): Promise<void> {
    this.sockets.close()
    await this.server.stop()
  }
}

interface Proxy {
  base: string
  dir: string
  pid: number
  usage(): UsageReport
  status(): { pid: number; faults?: number }
}

/** The dist/ key proxy, started as startDetached starts it, and stopped (with its guard) after the test. */
async function keyProxy(
  upstream: string,
  caps: SpendCaps = {},
  signalAfterMs?: number,
  node = CURRENT,
  extra: Record<string, unknown> = {}
): Promise<Proxy | string> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'key-proxy-model-'))
  const dir = path.join(root, 'proxy')
  await fs.mkdir(dir, { mode: 0o700 })
  const capability = randomBytes(32).toString('base64url')
  const stopToken = randomBytes(32).toString('base64url')
  const script = path.join(ROOT, 'dist', 'key-proxy', 'index.js')
  const child = spawn(node.path, [...HELPER_NODE_FLAGS, ...node.flags, script], {
    cwd: root,
    detached: true,
    stdio: ['pipe', 'pipe', 'ignore'],
    env: { PATH: process.env.PATH ?? '' }
  })
  runners.stopAfter({
    stop: async () => {
      const running = keyProxyProcesses(root)
      if (existsSync(dir)) await fs.writeFile(path.join(dir, 'stop'), stopToken)
      await waitFor(() => !running.some((p) => alive(p.pid)), 3000)
      for (const p of running.filter((p) => alive(p.pid))) process.kill(p.pid, 'SIGKILL')
      await fs.rm(root, { recursive: true, force: true })
    }
  })
  if (signalAfterMs !== undefined)
    setTimeout(() => child.pid && alive(child.pid) && child.kill('SIGUSR1'), signalAfterMs)
  child.stdin?.end(
    JSON.stringify({
      key: TEST_API_KEY,
      upstream,
      capability,
      dir,
      stopToken,
      deadline: Date.now() + 600_000,
      caps,
      ...extra
    })
  )
  const line = await new Promise<string>((resolve) => {
    let out = ''
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes('\n')) resolve(out)
    })
    child.once('exit', (code, signal) => resolve(out || `exit ${code ?? signal}`))
  })
  child.unref()
  const first = line.split('\n')[0]
  const answer = (first.startsWith('{') ? JSON.parse(first) : {}) as { port?: number; error?: string }
  if (!answer.port) return answer.error ?? line
  const read = (name: string) => JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as never
  return {
    base: `127.0.0.1:${answer.port}/${capability}/v1`,
    dir,
    pid: child.pid ?? 0,
    usage: () => read('usage.json'),
    status: () => read('status.json')
  }
}

async function started(upstream: Upstream, caps: SpendCaps = {}): Promise<Proxy> {
  const proxy = await keyProxy(upstream.server.origin + '/v1', caps)
  if (typeof proxy === 'string') throw new Error(`the key proxy did not start: ${proxy}`)
  return proxy
}

/** POSTs `body` to /responses; `hangUpAt`: reads the answer until that text appears, then goes away. */
function post(proxy: Proxy, body: string, hangUpAt?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const req = http.request(`http://${proxy.base}/responses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' }
    })
    req.on('response', (res) => {
      let text = ''
      res.on('data', (chunk: Buffer) => {
        text += chunk.toString()
        if (hangUpAt && text.includes(hangUpAt)) {
          req.destroy()
          resolve({ status: res.statusCode ?? 0, text })
        }
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      res.on('error', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', (error) => resolve({ status: 0, text: error.message }))
    req.end(body)
  })
}

const settledUsage = async (proxy: Proxy, settled: (usage: UsageReport) => boolean) =>
  (await waitFor(() => (settled(proxy.usage()) ? proxy.usage() : undefined), 5000)) ?? proxy.usage()

test('max-tokens holds against a command that reads each answer to its last output item and hangs up', async () => {
  const upstream = await runners.serve(new Upstream())
  const proxy = await started(upstream, { maxTokens: 1000 })
  const refused: string[] = []
  for (let turn = 0; turn < 8; turn++) {
    const answer = await post(proxy, '{"model":"gpt-5-pro","input":[]}', 'response.output_item.done')
    if (answer.status === 400) refused.push(answer.text)
    await sleep(upstream.finalMs + 300)
  }
  // Before the fix: 8 of 8 served, usage file total_tokens 0, unreported_requests 8.
  expect(upstream.served).toHaveLength(2)
  expect(refused).toEqual(Array(6).fill(`max-tokens 1000 reached: 1,200 tokens used in this job; ${STOP}`))
  expect(await settledUsage(proxy, (u) => u.refused_requests === 6)).toMatchObject({
    requests: 2,
    total_tokens: 2 * TOKENS,
    unreported_requests: 0,
    unmetered_requests: 0,
    refused_requests: 6
  })
}, 60_000)

test('an answer cut off before its final event counts max-tokens as reached (fail closed)', async () => {
  const upstream = await runners.serve(new Upstream())
  upstream.cut = true
  upstream.finalMs = 50
  const proxy = await started(upstream, { maxTokens: 1_000_000 })
  const first = await post(proxy, '{"model":"gpt-5-pro","input":[]}')
  expect(first.status).toBe(200)
  await settledUsage(proxy, (u) => u.unmetered_requests === 1)
  // Before the fix: served (200) again and again, each counted as 0 tokens.
  const second = await post(proxy, '{"model":"gpt-5-pro","input":[]}')
  expect(second).toEqual({
    status: 400,
    text: `max-tokens 1000000 counted as reached: 1 model requests ended without a usage report (cut off before the upstream's last event), so the tokens they used are unknown; ${STOP}`
  })
  expect(upstream.served).toHaveLength(1)
  expect(await settledUsage(proxy, (u) => u.refused_requests === 1)).toMatchObject({
    requests: 1,
    total_tokens: 0,
    unreported_requests: 1,
    unmetered_requests: 1,
    refused_requests: 1
  })
}, 60_000)

/** A websocket to the proxy, as Codex opens it, with the events it received. */
async function socket(proxy: Proxy): Promise<{ ws: WebSocket; events: { type: string; response?: unknown }[] }> {
  const ws = new WebSocket(`ws://${proxy.base}/responses`)
  const events: { type: string }[] = []
  ws.on('message', (data) => events.push(JSON.parse(String(data)) as { type: string }))
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  return { ws, events }
}

test('over the websocket, a message after each response.create neither reaches the upstream nor frees the create', async () => {
  const upstream = await runners.serve(new Upstream())
  upstream.finalMs = 100
  const proxy = await started(upstream, { maxTokens: 1000 })
  const { ws, events } = await socket(proxy)
  // The create's own outcome: its response completed, or it was refused by the cap.
  const outcome = (e: { type: string; response?: unknown }) =>
    e.type === 'response.completed' || JSON.stringify(e.response ?? '').includes('max-tokens')
  for (let turn = 0; turn < 6; turn++) {
    const before = events.length
    ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-5-pro', input: [] }))
    ws.send(JSON.stringify({ type: 'response.noop' }))
    await waitFor(() => events.slice(before).some(outcome), 5000)
    await sleep(50)
  }
  ws.close()
  // Before the fix: 6 of 6 turns served, the noops relayed, and nothing counted.
  expect(upstream.messages).toEqual(['response.create', 'response.create'])
  expect(events.filter((e) => e.type === 'response.completed')).toHaveLength(2)
  const failed = events.filter((e) => e.type === 'response.failed').map((e) => JSON.stringify(e.response))
  expect(failed.filter((e) => e.includes('relays only response.create'))).toHaveLength(6)
  expect(failed.filter((e) => e.includes('max-tokens 1000 reached: 1,200 tokens used'))).toHaveLength(4)
  // The file is written every 100 ms: the last refusal may reach it a tick after the tokens.
  expect(await settledUsage(proxy, (u) => u.total_tokens === 2 * TOKENS && u.refused_requests === 4)).toMatchObject({
    requests: 2,
    total_tokens: 2 * TOKENS,
    refused_requests: 4
  })
}, 60_000)

test('over the websocket too: a command that closes the socket after the last output item still pays', async () => {
  const upstream = await runners.serve(new Upstream())
  const proxy = await started(upstream, { maxTokens: 1000 })
  let refused = 0
  for (let turn = 0; turn < 6; turn++) {
    const { ws, events } = await socket(proxy)
    ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-5-pro', input: [] }))
    await waitFor(() => events.some((e) => e.type === 'response.output_item.done' || e.type === 'response.failed'))
    if (events.some((e) => e.type === 'response.failed')) refused++
    ws.terminate()
    await sleep(upstream.finalMs + 300)
  }
  // Before the fix: 6 of 6 served, each closed as unreported with 0 tokens.
  expect([upstream.served.length, refused]).toEqual([2, 4])
  expect(await settledUsage(proxy, (u) => u.total_tokens === 2 * TOKENS)).toMatchObject({
    requests: 2,
    total_tokens: 2 * TOKENS,
    unmetered_requests: 0
  })
}, 60_000)

test('a body that names the model twice is booked as unknown; allowed-models refuses it and sends the bytes it checked', async () => {
  const upstream = await runners.serve(new Upstream())
  upstream.finalMs = 0
  const open = await started(upstream)
  // JSON.parse (as the upstream here) reads the last model.
  expect((await post(open, '{"model":"gpt-5-nano","input":[],"model":"gpt-5-pro"}')).status).toBe(200)
  expect(upstream.served).toEqual(['gpt-5-pro'])
  // Before the fix: booked as gpt-5-nano, the first.
  expect((await settledUsage(open, (u) => u.total_tokens === TOKENS)).by_model).toEqual({
    unknown: expect.objectContaining({ requests: 1, total_tokens: TOKENS })
  })

  const checked = await started(upstream, { allowedModels: ['gpt-5-nano'] })
  const twice = await post(checked, '{"model":"gpt-5-pro","model":"gpt-5-nano"}')
  // Before the fix: sent (as `{"model":"gpt-5-nano"}`), though another parser would read gpt-5-pro.
  expect(twice).toEqual({
    status: 400,
    text: 'The request names its model more than once, so the upstream might read either, and allowed-models is gpt-5-nano: codex-auth-action\'s key proxy did not send it. Choose one of those models (config: model = "…"), or add this one to allowed-models.'
  })
  const body = '{ "model" : "gpt-5-nano", "input": [ ] }'
  expect((await post(checked, body)).status).toBe(200)
  // Before the fix: re-serialised.
  expect(upstream.server.requests.at(-1)?.body).toBe(body)
  expect(upstream.served).toEqual(['gpt-5-pro', 'gpt-5-nano'])
}, 60_000)

test('a JSON text nested 100,000 deep is refused, and the proxy goes on serving', async () => {
  const upstream = await runners.serve(new Upstream())
  upstream.finalMs = 0
  const proxy = await started(upstream, { allowedModels: ['gpt-5-pro'] })
  const deep = `{"type":"response.create","model":"gpt-5-pro","input":${'['.repeat(100_000)}${']'.repeat(100_000)}}`
  const { ws, events } = await socket(proxy)
  ws.send(deep)
  await waitFor(() => events.length > 0, 5000)
  expect(JSON.stringify(events[0])).toContain('The request nests deeper than 64 levels')
  // Before the fix: the re-serialisation threw outside any try and the process exited.
  ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-5-pro', input: [] }))
  await waitFor(() => events.some((e) => e.type === 'response.completed'), 5000)
  ws.close()
  expect(upstream.messages).toEqual(['response.create'])
  const refused = await post(proxy, deep)
  expect(refused.status).toBe(400)
  expect(refused.text).toMatch(/^The request nests deeper than 64 levels, and allowed-models/)
  expect((await post(proxy, '{"model":"gpt-5-pro","input":[]}')).status).toBe(200)
  expect(alive(proxy.pid)).toBe(true)
  expect(proxy.status().faults).toBeUndefined()
}, 60_000)

/** Whether process `pid` listens on 127.0.0.1:9229, the inspector's port (its sockets, matched in /proc/net/tcp). */
function inspectorOpen(pid: number): boolean {
  const inodes = new Set<string>()
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`)
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1]
      if (inode) inodes.add(inode)
    }
  } catch {
    return false
  }
  // local_address 0100007F:240D (127.0.0.1:9229), state 0A (LISTEN), inode in column 10.
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .some((cols) => cols[1] === '0100007F:240D' && cols[3] === '0A' && inodes.has(cols[9]))
}

test('a SIGUSR1 at any moment of its start never leaves the key in a process with an open inspector', async () => {
  const upstream = await runners.serve(new Upstream())
  const node = nodeWithoutDisableSigusr1()
  const outcomes: string[] = []
  // Node opens the inspector on SIGUSR1 from early in its start; the proxy's own listener
  // comes once its bundle runs. Signals across that start, one start each.
  for (const ms of [0, 20, 40, 60, 80, 100, 150, 200, 300, 400, 600]) {
    const proxy = await keyProxy(upstream.server.origin + '/v1', {}, ms, node)
    if (typeof proxy === 'string') {
      // It refused to read the key: the inspector was opened before its listener.
      expect([ms, proxy]).toEqual([ms, expect.stringMatching(/a debugger was opened in it|exit SIGUSR1/)])
      outcomes.push('refused')
      continue
    }
    await sleep(ms + 300)
    // Before the fix on Node 20: the proxy served with its inspector open (any local user reads the key on 9229).
    expect([ms, inspectorOpen(proxy.pid)]).toEqual([ms, false])
    outcomes.push('served')
  }
  expect(outcomes).toContain('served')
}, 120_000)

test('an upstream that closes a kept-alive connection as the next request arrives: the proxy sends that GET again on a new one, not a 502', async () => {
  // As an upstream whose idle timeout (Node's servers: 5 s) ends a pooled connection just as
  // the proxy reuses it; under load the two race. Here: every second request on a connection.
  const upstream = await runners.serve(
    new LoopbackServer((req, res) => {
      const socket = req.socket as typeof req.socket & { served?: number }
      socket.served = (socket.served ?? 0) + 1
      if (socket.served === 2) return void socket.destroy()
      sendJson(res, 200, { object: 'list', data: [] })
    })
  )
  const proxy = await keyProxy(upstream.origin + '/v1')
  if (typeof proxy === 'string') throw new Error(`the key proxy did not start: ${proxy}`)
  const get = () =>
    new Promise<number>((resolve) =>
      http
        .get(`http://${proxy.base}/models`, (res) => {
          res.resume()
          resolve(res.statusCode ?? 0)
        })
        .on('error', () => resolve(0))
    )
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) {
    statuses.push(await get())
    // Time for the proxy to pool the connection again.
    await sleep(200)
  }
  // Before the fix: [200, 502, 200], and the upstream saw 3 requests.
  expect(statuses).toEqual([200, 200, 200])
  expect(upstream.requests).toHaveLength(5)
}, 60_000)

/**
 * An upstream that answers at once, before it has read a request's body, as Node's own servers
 * let any handler (and many gateways do for a GET); on a kept-alive connection it then reads
 * that body, as HTTP/1.1 says, from what comes next. It records what it was asked, and whether
 * with the job's key.
 */
function eagerUpstream() {
  const seen: string[] = []
  const server = http.createServer((req, res) => {
    const key = req.headers.authorization === `Bearer ${TEST_API_KEY}` ? 'with the key' : 'without the key'
    seen.push(`${req.method} ${req.url} ${key}`)
    req.resume()
    if (req.method === 'GET' && req.url === '/v1/models') return sendJson(res, 200, { object: 'list', data: [] })
    sendJson(res, 404, { error: { message: `no route for ${req.method} ${req.url}` } })
  })
  return {
    seen,
    origin: () => `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    start: () => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve)),
    stop: () => {
      server.closeAllConnections()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** One request written as these very bytes on a connection of its own; the answer's status line. */
function rawRequest(proxy: Proxy, text: string): Promise<string> {
  const [host, port] = proxy.base.split('/')[0].split(':')
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), host, () => socket.write(text))
    let answer = ''
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1')
      if (answer.includes('\r\n\r\n')) socket.destroy()
    })
    socket.on('error', () => undefined)
    socket.on('close', () => resolve(answer.split('\r\n')[0]))
  })
}

test('a GET with a body the proxy does not send upstream declares none there: the next request on the pooled connection is not read as that body (request smuggling past the route allow-list)', async () => {
  const upstream = await runners.serve(eagerUpstream())
  const proxy = await keyProxy(`${upstream.origin()}/v1`)
  if (typeof proxy === 'string') throw new Error(`the key proxy did not start: ${proxy}`)
  const capability = proxy.base.split('/')[1]
  // The upstream is to swallow this much of the proxy's next request as the GET's body: its
  // request line and the name of its first header, Codex's own (a header the command chose).
  const swallowed = 'POST /v1/responses HTTP/1.1\r\nx-a: '.length
  const get = await rawRequest(
    proxy,
    `GET /${capability}/v1/models HTTP/1.1\r\nhost: x\r\ncontent-length: ${swallowed}\r\n\r\n${'a'.repeat(swallowed)}`
  )
  expect(get).toBe('HTTP/1.1 200 OK')
  // What is left of it then begins with the header's value: a request line of the command's choosing, the key below it.
  await rawRequest(
    proxy,
    `POST /${capability}/v1/responses HTTP/1.1\r\nx-a: GET /v1/files?purpose=fine-tune HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}`
  )
  await sleep(200)
  // Before the fix: the GET went upstream with content-length: 34 and no body, and the upstream
  // then saw `GET /v1/files?purpose=fine-tune` with the key (a path the proxy never forwards).
  expect(upstream.seen).toEqual(['GET /v1/models with the key', 'POST /v1/responses with the key'])
}, 60_000)

test("Amazon Bedrock with AWS keys (the proxy signs the whole body): a body without end is refused at a bound, not read whole into the proxy's memory", async () => {
  const upstream = await runners.serve(new Upstream())
  const proxy = await keyProxy(`${upstream.server.origin}/openai/v1`, {}, undefined, CURRENT, {
    key: '',
    bedrock: {
      region: 'us-east-1',
      auth: { kind: 'sigv4', keys: { accessKeyId: 'AKIACODEXAUTHACTION01', secretAccessKey: 'codexAuthActionSecret' } }
    }
  })
  if (typeof proxy === 'string') throw new Error(`the key proxy did not start: ${proxy}`)
  const chunk = Buffer.alloc(1 << 20, 'a')
  const limit = 192 << 20
  let sent = 0
  const status = await new Promise<number>((resolve, reject) => {
    const req = http.request(
      `http://${proxy.base}/responses`,
      { method: 'POST', headers: { 'content-type': 'application/json' } },
      (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
        req.destroy()
      }
    )
    // A refusal may race the proxy's close of the connection: a reset before the whole body was taken is one too.
    req.on('error', (error) => (sent < limit ? resolve(413) : reject(error)))
    const write = () => {
      while (sent < limit) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once('drain', write)
      }
      req.end()
    }
    write()
  })
  // Before the fix: the proxy read all 192 MiB into memory (and any more a command sends), then signed and sent them.
  expect(status).toBe(413)
  expect(sent).toBeLessThan(128 << 20)
  expect(upstream.served).toEqual([])
  expect(alive(proxy.pid)).toBe(true)
}, 120_000)

test("the usage file's breakdowns stay bounded whatever session ids and model names a command sends", async () => {
  const upstream = await runners.serve(new Upstream())
  upstream.finalMs = 0
  const proxy = await started(upstream)
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 })
  const send = (i: number) =>
    new Promise<void>((resolve) => {
      const req = http.request(`http://${proxy.base}/responses`, {
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/json', 'session-id': `session-${i}-${'s'.repeat(180)}` }
      })
      req.on('response', (res) => res.resume().on('end', resolve))
      req.on('error', () => resolve())
      req.end(JSON.stringify({ model: `model-${i}-${'m'.repeat(180)}`, input: [] }))
    })
  const count = 1200
  for (let i = 0; i < count; i += 8) await Promise.all(Array.from({ length: 8 }, (_, j) => send(i + j)))
  agent.destroy()
  const usage = await settledUsage(proxy, (u) => u.requests === count)
  expect(usage.requests).toBe(count)
  // Before the fix: 1,200 rows each (and as many as a command sends: the file, rewritten every
  // 100 ms, the post step's log and its job summary grow without end; past 1 MiB GitHub drops the summary).
  expect(Object.keys(usage.by_session).length).toBeLessThanOrEqual(501)
  expect(Object.keys(usage.by_model).length).toBeLessThanOrEqual(501)
  // Nothing is lost: the rows past the bound are counted together.
  const total = (rows: Record<string, { requests: number }>) => Object.values(rows).reduce((n, r) => n + r.requests, 0)
  expect([total(usage.by_session), total(usage.by_model)]).toEqual([count, count])
}, 120_000)

test('allowed-models: a body that names the model twice in different case is refused (Go and ASP.NET Core read `Model` as `model`)', async () => {
  const upstream = await runners.serve(new Upstream())
  upstream.finalMs = 0
  const checked = await started(upstream, { allowedModels: ['gpt-5-nano'] })
  // Before the fix: sent, though an upstream that matches keys in any case (Go's encoding/json,
  // ASP.NET Core's web defaults) takes the last of them: gpt-5-pro.
  const twice = await post(checked, '{"model":"gpt-5-nano","input":[],"Model":"gpt-5-pro"}')
  expect(twice).toEqual({
    status: 400,
    text: 'The request names its model more than once, so the upstream might read either, and allowed-models is gpt-5-nano: codex-auth-action\'s key proxy did not send it. Choose one of those models (config: model = "…"), or add this one to allowed-models.'
  })
  // The same over the websocket transport.
  const { ws, events } = await socket(checked)
  ws.send('{"type":"response.create","model":"gpt-5-nano","MODEL":"gpt-5-pro","input":[]}')
  await waitFor(() => events.length > 0, 5000)
  ws.close()
  expect(JSON.stringify(events[0])).toContain('The request names its model more than once')
  expect(upstream.served).toEqual([])
}, 60_000)

/** The resident memory of process `pid`, in MB. */
const residentMb = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024

// Each request under allowed-models is held up to 64 MB; before the fix nothing bounded how many
// at once: a command that opened a dozen made the proxy hold most of a GB, and enough of them end
// it (out of memory) for the job's later steps. Now one budget (held.ts) bounds them all together.
test('requests held at once: the proxy holds a bounded total, whatever number of large bodies a command keeps open', async () => {
  const upstream = await runners.serve(new Upstream())
  const proxy = await started(upstream, { allowedModels: ['gpt-5-nano'] })
  const before = residentMb(proxy.pid)
  const chunk = Buffer.alloc(1 << 20, 'a')
  const open: http.ClientRequest[] = []
  const refused: { status: number; text: string }[] = []
  try {
    await Promise.all(
      Array.from(
        { length: 12 },
        () =>
          new Promise<void>((resolve) => {
            const req = http.request(`http://${proxy.base}/responses`, {
              method: 'POST',
              headers: { 'content-type': 'application/json' }
            })
            req.on('error', () => resolve())
            req.on('response', (res) => {
              let text = ''
              res.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')))
              res.on('end', () => refused.push({ status: res.statusCode ?? 0, text }))
            })
            open.push(req)
            let sent = 0
            const write = () => {
              while (sent < 56) {
                sent++
                if (!req.write(chunk)) return void req.once('drain', write)
              }
              resolve()
            }
            write()
          })
      )
    )
    await sleep(1000)
    // Without the budget (held.ts): about 12 x 56 MB more.
    expect(residentMb(proxy.pid) - before).toBeLessThan(256)
    // Those past the budget are refused at once (503: Codex tries again a few times), saying why.
    expect(refused.length).toBeGreaterThan(0)
    for (const answer of refused) {
      expect(answer.status).toBe(503)
      expect(answer.text).toContain('codex-auth-action key proxy: it already holds 128 MB of request bodies at once')
    }
  } finally {
    for (const req of open) req.destroy()
  }
  // Requests that went away release what they held: the next large one is served.
  await sleep(500)
  const large = `{"model":"gpt-5-nano","input":[],"pad":"${'a'.repeat(40 << 20)}"}`
  expect((await post(proxy, large)).status).toBe(200)
}, 120_000)
