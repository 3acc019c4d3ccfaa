/**
 * Part of `npm run bench`: what key isolation and Codex's jail (the defaults) cost.
 * Side by side in one run: the warm main step by default, without the jail
 * (codex-isolation: none) and without the key proxy (the login); each `codex` call through
 * the jail against the bare CLI, in a small and a 60,000-file workspace; the main bundle's load time against
 * main's committed one; and Codex's transports through the proxy against a direct
 * connection to the same loopback upstream, with a bare relay for scale: time to first
 * event, a 20-turn tool-call conversation, bytes sent upstream per turn.
 */
import { execFileSync, spawn } from 'node:child_process'
import { promises as fs } from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import { WebSocket } from 'ws'
import { ROOT, Runner, runProcess } from '../__tests__/harness/runner.js'
import { HELPER_NODE_FLAGS } from '../src/helpers/node-flags.js'
import { startProxy } from './bench-proxy.mjs'
import { ResponsesUpstream } from './loopback-responses.mjs'

const KEY = 'sk-bench-placeholder-NOT-A-REAL-KEY-000000000'
const TURNS = 20
/** What Codex sends first (instructions, tools, the prompt) and what each tool call adds, roughly. */
const FIRST_INPUT = 24 * 1024
const TOOL_OUTPUT = 2 * 1024
/** The loopback model's time to its first event: a fast model, so that overheads show. */
const THINK_MS = 10

/** @param {number[]} values */
const p50 = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
/** @param {number} ms */
const ms = (ms) => `${ms.toFixed(1)} ms`
/** A ratio as the percentage it is over 1. @param {number} ratio */
const pct = (ratio) => `${((ratio - 1) * 100).toFixed(1)} %`

/**
 * Warm main steps, alternating the default (the key proxy, and Codex's jail where the
 * machine allows it), without the jail (codex-isolation: none) and key-isolation: none (the
 * login), each followed by its post step. The tool cache must hold the CLI (one download first).
 * @param {{ rounds: number, version: string, toolCache: string }} options
 */
export async function benchWarmIsolation({ rounds, version, toolCache }) {
  const runner = await Runner.create({ toolCache })
  const upstream = await new ResponsesUpstream().start()
  try {
    const base = { 'api-key': KEY, 'codex-version': version, 'api-base-url': `${upstream.origin}/v1` }
    await runner.main(base)
    await runner.post()
    const kinds = {
      none: { 'key-isolation': 'none' },
      noJail: { 'codex-isolation': 'none' },
      proxy: {}
    }
    /** @type {Record<keyof kinds, number[]>} */
    const times = { none: [], noJail: [], proxy: [] }
    let jail = false
    for (let i = 0; i < rounds; i++) {
      for (const kind of /** @type {(keyof kinds)[]} */ (Object.keys(kinds))) {
        const started = performance.now()
        const main = await runner.main({ ...base, ...kinds[kind] })
        times[kind].push(performance.now() - started)
        if (main.outputs['cache-hit'] !== 'true' || main.exitCode !== 0)
          throw new Error(`warm run (${kind}) failed or missed the tool cache:\n${main.stdout}${main.stderr}`)
        if (kind !== 'none' && !main.stdout.includes('Key proxy started')) throw new Error('the proxy did not start')
        jail ||= kind === 'proxy' && main.stdout.includes('Codex runs in a jail of its own')
        await runner.post()
      }
    }
    return { proxy: p50(times.proxy), noJail: p50(times.noJail), none: p50(times.none), jail, rounds }
  } finally {
    await upstream.stop()
    await runner.dispose()
  }
}

/** Files in the large workspace: a node_modules of 600 packages with 100 files each. */
const LARGE_WORKSPACE = 60_000

/**
 * What one `codex` call costs through the jail: `codex --version` through the wrapper main
 * put on PATH against the bare CLI, alternating, in a small workspace and then in one of
 * 60,000 files. As this machine's user (root here: the jail is made as root; through sudo
 * a call adds sudo's own start).
 * @param {{ rounds: number, version: string, toolCache: string }} options
 */
export async function benchJailCall({ rounds, version, toolCache }) {
  const runner = await Runner.create({ toolCache })
  const modules = path.join(runner.workspace, 'node_modules')
  try {
    const base = { 'api-key': KEY, 'codex-version': version, 'api-base-url': 'http://127.0.0.1:9/v1' }
    const bare = (await runner.main({ ...base, 'codex-isolation': 'none' })).outputs['codex-path']
    await runner.post()
    const main = await runner.main(base)
    const wrapper = main.outputs['codex-path']
    if (!main.stdout.includes('Codex runs in a jail of its own')) return undefined
    /** @param {string} binary */
    const time = async (binary) => {
      const started = performance.now()
      const result = await runner.run(binary, ['--version'])
      if (result.exitCode !== 0) throw new Error(`${binary} --version failed: ${result.stderr}`)
      return performance.now() - started
    }
    const measure = async () => {
      /** @type {Record<'jail' | 'bare', number[]>} */
      const t = { jail: [], bare: [] }
      for (let i = 0; i < rounds; i++) {
        t.bare.push(await time(bare))
        t.jail.push(await time(wrapper))
      }
      return { jail: p50(t.jail), bare: p50(t.bare) }
    }
    const small = await measure()
    for (let d = 0; d < LARGE_WORKSPACE / 100; d++) {
      const dir = path.join(modules, `pkg-${d}`)
      await fs.mkdir(dir, { recursive: true })
      await Promise.all(Array.from({ length: 100 }, (_, f) => fs.writeFile(path.join(dir, `f${f}.js`), '')))
    }
    const large = await measure()
    return { small, large, rounds }
  } finally {
    await fs.rm(modules, { recursive: true, force: true })
    await runner.dispose()
  }
}

/**
 * The main bundle's load time: `node dist/main/index.js` with no input (it fails at once,
 * at the first input), this branch's build against main's committed one, minus `node -e 0`.
 * @param {number} rounds
 */
export async function benchBundleLoad(rounds) {
  const before = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-main-bundle-'))
  try {
    const files = execFileSync('git', ['ls-tree', '--name-only', 'main', 'dist/main/'], { cwd: ROOT })
      .toString()
      .split('\n')
      .filter((f) => f.endsWith('.js') || f.endsWith('.json'))
    for (const file of files)
      await fs.writeFile(
        path.join(before, path.basename(file)),
        execFileSync('git', ['show', `main:${file}`], { cwd: ROOT, maxBuffer: 64 << 20 })
      )
    const env = { PATH: process.env.PATH ?? '', RUNNER_TEMP: before }
    /** @param {string[]} args */
    const time = async (args) => {
      const started = performance.now()
      await runProcess(process.execPath, args, { env })
      return performance.now() - started
    }
    /** @type {Record<'now' | 'before' | 'node', number[]>} */
    const t = { now: [], before: [], node: [] }
    for (let i = 0; i < rounds; i++) {
      t.node.push(await time(['-e', '0']))
      t.before.push(await time([path.join(before, 'index.js')]))
      t.now.push(await time([path.join(ROOT, 'dist', 'main', 'index.js')]))
    }
    const size = async (/** @type {string} */ file) => (await fs.stat(file)).size / 2 ** 20
    return {
      now: p50(t.now) - p50(t.node),
      before: p50(t.before) - p50(t.node),
      nowMb: await size(path.join(ROOT, 'dist', 'main', 'index.js')),
      beforeMb: await size(path.join(before, 'index.js')),
      rounds
    }
  } finally {
    await fs.rm(before, { recursive: true, force: true })
  }
}

/** One turn's new input: the first carries the instructions and prompt, later ones a tool's output. @param {number} turn */
const newInput = (turn) =>
  turn === 0
    ? [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: 'x'.repeat(FIRST_INPUT) }] }]
    : [{ type: 'function_call_output', call_id: `call_${turn}`, output: 'y'.repeat(TOOL_OUTPUT) }]

/**
 * A 20-turn conversation over one websocket, as Codex holds it: each turn sends only its new
 * input after the previous response. Per turn: ms to the first event, bytes the upstream got.
 * @param {string} url @param {Record<string, string>} headers @param {ResponsesUpstream} upstream
 */
async function websocketConversation(url, headers, upstream) {
  const ws = new WebSocket(url, { headers, perMessageDeflate: false })
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
  const started = performance.now()
  /** @type {number[]} */
  const firstEvent = []
  /** @type {number[]} */
  const bytes = []
  /** @type {string | undefined} */
  let previous
  for (let turn = 0; turn < TURNS; turn++) {
    const before = upstream.bytesIn
    const sent = performance.now()
    let first = 0
    previous = await new Promise((resolve) => {
      ws.on('message', function onMessage(data) {
        first ||= performance.now() - sent
        const event = JSON.parse(data.toString())
        if (event.type !== 'response.completed') return
        ws.off('message', onMessage)
        resolve(event.response.id)
      })
      ws.send(
        JSON.stringify({
          type: 'response.create',
          model: 'gpt-bench',
          ...(previous && { previous_response_id: previous }),
          input: newInput(turn)
        })
      )
    })
    firstEvent.push(first)
    bytes.push(upstream.bytesIn - before)
  }
  const total = performance.now() - started
  ws.close()
  return { firstEvent, bytes, total }
}

/**
 * The same conversation over HTTP, as Codex's fallback holds it: each turn POSTs the whole
 * input so far (Codex does not store responses), the answer an SSE stream.
 * @param {string} url @param {ResponsesUpstream} upstream
 */
async function httpConversation(url, upstream) {
  const agent = new http.Agent({ keepAlive: true })
  const started = performance.now()
  /** @type {number[]} */
  const firstEvent = []
  /** @type {number[]} */
  const bytes = []
  /** @type {object[]} */
  const input = []
  for (let turn = 0; turn < TURNS; turn++) {
    input.push(...newInput(turn))
    const before = upstream.bytesIn
    const sent = performance.now()
    const first = await new Promise((resolve, reject) => {
      const req = http.request(
        url,
        { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          let at = 0
          res.on('data', () => (at ||= performance.now() - sent))
          res.on('end', () => resolve(at))
        }
      )
      req.on('error', reject)
      req.end(JSON.stringify({ model: 'gpt-bench', stream: true, input }))
    })
    input.push({ type: 'function_call', call_id: `call_${turn + 1}`, name: 'shell', arguments: '{"cmd":"ls"}' })
    firstEvent.push(first)
    bytes.push(upstream.bytesIn - before)
  }
  agent.destroy()
  return { firstEvent, bytes, total: performance.now() - started }
}

/** @param {{ rounds?: number }} [options] */
export async function benchTransport(options = {}) {
  const upstream = await new ResponsesUpstream({ thinkMs: THINK_MS, tool: true }).start()
  const proxy = await startProxy(`${upstream.origin}/v1`)
  const direct = `${upstream.origin.replace(/^http/, 'ws')}/v1/responses`
  // The floor: a bare relay, with the flags the key proxy runs with.
  const bare = spawn(
    process.execPath,
    [...HELPER_NODE_FLAGS, path.join(ROOT, 'scripts', 'bare-ws-relay.mjs'), direct],
    {
      // Its stdin is a pipe from here: should this bench die, the relay exits with it.
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { PATH: process.env.PATH ?? '' }
    }
  )
  try {
    /** @type {number} */
    const barePort = await new Promise((resolve, reject) => {
      bare.once('error', reject)
      bare.once('exit', () => reject(new Error('scripts/bare-ws-relay.mjs exited before it was ready')))
      bare.stdout.once('data', (/** @type {Buffer} */ chunk) => {
        try {
          resolve(JSON.parse(chunk.toString()).port)
        } catch (error) {
          reject(error)
        }
      })
    })
    const relayed = `ws://127.0.0.1:${barePort}/v1/responses`
    const proxied = `${proxy.base.replace(/^http/, 'ws')}/responses`
    // The first upgrade loads the ws library in the proxy: not part of a conversation's time.
    await websocketConversation(proxied, {}, upstream)
    await websocketConversation(relayed, {}, upstream)
    const rounds = options.rounds ?? 15
    /** @type {Record<'direct' | 'proxy' | 'bare' | 'http', Awaited<ReturnType<typeof websocketConversation>>[]>} */
    const runs = { direct: [], proxy: [], bare: [], http: [] }
    for (let i = 0; i < rounds; i++) {
      runs.direct.push(await websocketConversation(direct, { authorization: `Bearer ${KEY}` }, upstream))
      runs.proxy.push(await websocketConversation(proxied, {}, upstream))
      runs.bare.push(await websocketConversation(relayed, {}, upstream))
      runs.http.push(await httpConversation(`${proxy.base}/responses`, upstream))
    }
    /** @param {typeof runs.direct} list */
    const summary = (list) => ({
      firstEvent: p50(list.flatMap((r) => r.firstEvent)),
      total: p50(list.map((r) => r.total)),
      bytesPerTurn: list.flatMap((r) => r.bytes).reduce((a, b) => a + b, 0) / (list.length * TURNS),
      lastTurnBytes: p50(list.map((r) => r.bytes.at(-1) ?? 0))
    })
    const result = {
      direct: summary(runs.direct),
      proxy: summary(runs.proxy),
      bare: summary(runs.bare),
      http: summary(runs.http),
      rounds
    }
    console.log(`transport: ${JSON.stringify(result)}`)
    return result
  } finally {
    bare.kill()
    await proxy.stop()
    await upstream.stop()
  }
}

/**
 * The BENCHMARK.md section.
 * @param {Awaited<ReturnType<typeof benchWarmIsolation>>} warm
 * @param {Awaited<ReturnType<typeof benchJailCall>>} call
 * @param {Awaited<ReturnType<typeof benchBundleLoad>>} bundle
 * @param {Awaited<ReturnType<typeof benchTransport>>} t
 */
export function isolationSection(warm, call, bundle, t) {
  const pass = (/** @type {boolean} */ ok) => (ok ? 'met' : '**missed**')
  const kb = (/** @type {number} */ b) => `${(b / 1024).toFixed(1)} KiB`
  const totalOk = t.proxy.total <= t.direct.total * 1.03
  const firstOk = t.proxy.firstEvent <= t.direct.firstEvent + 5
  return [
    '## Key isolation by default (key-isolation: auto)',
    '',
    `Warm main step (tool cache hit, API key), median of ${warm.rounds} alternating rounds:`,
    '',
    '| main step | median | target | |',
    '| --- | --- | --- | --- |',
    `| default: the key proxy started, no login${warm.jail ? ", and Codex's jail made and proven (codex-isolation: auto)" : ''} | ${(warm.proxy / 1000).toFixed(3)} s | ≤ key-isolation: none (#26) | ${pass(warm.proxy <= warm.none)} |`,
    `| without the jail (codex-isolation: none) | ${(warm.noJail / 1000).toFixed(3)} s | ≤ without the proxy | ${pass(warm.noJail <= warm.none)} |`,
    `| key-isolation: none (codex login, login status) | ${(warm.none / 1000).toFixed(3)} s | | |`,
    '',
    ...(call
      ? [
          `One \`codex --version\` call through the jail's \`codex\` against the bare CLI, median of ${call.rounds} alternating calls (the jail made as root here):`,
          '',
          '| workspace | bare CLI | through the jail | difference | target | |',
          '| --- | --- | --- | --- | --- | --- |',
          .../** @type {[string, { jail: number, bare: number }][]} */ ([
            ['small', call.small],
            [`${LARGE_WORKSPACE.toLocaleString('en')} files`, call.large]
          ]).map(
            ([label, r]) =>
              `| ${label} | ${ms(r.bare)} | ${ms(r.jail)} | +${ms(r.jail - r.bare)} | ≤ +50 ms | ${pass(r.jail - r.bare <= 50)} |`
          ),
          ''
        ]
      : ['The jail could not be made on this machine: no per-call figures.', '']),
    `Main bundle, \`node dist/main/index.js\` failing at its first input, minus \`node -e 0\` (median of ${bundle.rounds}):`,
    `${ms(bundle.now)} for this build (${bundle.nowMb.toFixed(2)} MB) against ${ms(bundle.before)} for main's committed one (${bundle.beforeMb.toFixed(2)} MB).`,
    '',
    `Transport, against one loopback upstream that answers each turn with a tool call after ${THINK_MS} ms;`,
    `a ${TURNS}-turn conversation (the first turn ${FIRST_INPUT / 1024} KiB of input, each later one a ${TOOL_OUTPUT / 1024} KiB tool output), ${t.rounds} conversations a path, alternating:`,
    '',
    '| path | first event (p50 of all turns) | 20-turn conversation (p50) | sent upstream per turn (mean) | last turn |',
    '| --- | --- | --- | --- | --- |',
    `| WebSocket direct | ${ms(t.direct.firstEvent)} | ${ms(t.direct.total)} | ${kb(t.direct.bytesPerTurn)} | ${kb(t.direct.lastTurnBytes)} |`,
    `| WebSocket through the proxy | ${ms(t.proxy.firstEvent)} | ${ms(t.proxy.total)} | ${kb(t.proxy.bytesPerTurn)} | ${kb(t.proxy.lastTurnBytes)} |`,
    `| for scale: WebSocket through a bare relay (scripts/bare-ws-relay.mjs) | ${ms(t.bare.firstEvent)} | ${ms(t.bare.total)} | ${kb(t.bare.bytesPerTurn)} | ${kb(t.bare.lastTurnBytes)} |`,
    `| HTTP (SSE) through the proxy, for scale | ${ms(t.http.firstEvent)} | ${ms(t.http.total)} | ${kb(t.http.bytesPerTurn)} | ${kb(t.http.lastTurnBytes)} |`,
    '',
    `Targets: the conversation through the proxy within 3 % of direct: ${pct(t.proxy.total / t.direct.total)}, ${pass(totalOk)}; first event within +5 ms p50: ${(t.proxy.firstEvent - t.direct.firstEvent).toFixed(2)} ms, ${pass(firstOk)}.`,
    `The bare relay passes messages on with the ws library and the proxy's Node flags, and does nothing else (no key, capability, routes, meter or status): it is ${pct(t.bare.total / t.direct.total)} over direct: that much of the gap is the second hop itself, on this machine. The proxy against the bare relay: ${pct(t.proxy.total / t.bare.total)}.`,
    'Bytes are what reached the upstream (frames, headers, bodies): over the websocket each turn carries only its new input; over HTTP each turn carries the whole conversation again.',
    ''
  ]
}
