/**
 * The key proxy side by side with a direct connection, against the same loopback upstream
 * (part of `npm run bench`): time to first byte, a 10 MB event stream, 32 streams at once,
 * and how soon the proxy is ready after it is started the way the main step starts it.
 * Then what counting usage costs: the same proxy on a metered route (POST /responses) and
 * on one it does not meter (GET /models), the same stream on both.
 */
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import * as http from 'node:http'
import * as os from 'node:os'
import * as path from 'node:path'
import { ROOT } from '../__tests__/harness/runner.js'
import { LoopbackServer } from '../__tests__/harness/servers.js'
import { HELPER_NODE_FLAGS } from '../src/helpers/node-flags.js'

const KEY = 'sk-bench-placeholder-NOT-A-REAL-KEY-000000000'
const CHUNK = `data: ${'x'.repeat(16 * 1024 - 8)}\n\n`
const BIG = 10 * 1024 * 1024
/** A token's delta as the Responses API streams it: about 190 bytes, so 10 MB is some 55,000 events. */
const DELTA = `event: response.output_text.delta\ndata: ${JSON.stringify({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta: ' token', sequence_number: 1, logprobs: [] })}\n\n`
const EVENTS = DELTA.repeat(Math.ceil((16 * 1024) / DELTA.length))
const USAGE = {
  input_tokens: 1200,
  input_tokens_details: { cached_tokens: 200 },
  output_tokens: 300,
  output_tokens_details: { reasoning_tokens: 100 },
  total_tokens: 1500
}
const COMPLETED = `event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', response: { id: 'resp_1', output: [], usage: USAGE } })}\n\n`

/** @param {number[]} values @param {number} q */
const quantile = (values, q) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]

/**
 * The upstream, on any path: ?size=N streams N bytes of events (with &paced, 16 KiB a
 * millisecond, faster than any model writes but no longer a memory copy; with &events, as
 * token deltas and a final response.completed); ?hold=MS keeps a stream open that long first.
 */
function upstream() {
  return new LoopbackServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const chunk = url.searchParams.has('events') ? EVENTS : CHUNK
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('event: response.created\ndata: {}\n\n')
    const hold = Number(url.searchParams.get('hold') ?? 0)
    for (let end = Date.now() + hold; Date.now() < end;) {
      res.write(CHUNK.slice(0, 64))
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    let left = Number(url.searchParams.get('size') ?? 0)
    if (url.searchParams.has('paced')) {
      for (; left > 0; left -= chunk.length) {
        res.write(chunk)
        await new Promise((resolve) => setTimeout(resolve, 1))
      }
    }
    const push = () => {
      while (left > 0) {
        left -= chunk.length
        if (!res.write(chunk)) return void res.once('drain', push)
      }
      res.end(url.searchParams.has('events') ? COMPLETED : undefined)
    }
    push()
  })
}

/**
 * One POST (or GET); milliseconds to the first body byte and to the end.
 * @param {string} url
 * @param {'POST' | 'GET'} [method]
 * @returns {Promise<{ ttfb: number, total: number, status?: number }>}
 */
function timed(url, method = 'POST') {
  return new Promise((resolve, reject) => {
    const started = performance.now()
    let first = 0
    const req = http.request(url, { method, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      res.on('data', () => (first ||= performance.now() - started))
      res.on('end', () => resolve({ ttfb: first, total: performance.now() - started, status: res.statusCode }))
    })
    req.on('error', reject)
    req.end(method === 'POST' ? '{"model":"gpt-bench"}' : undefined)
  })
}

/**
 * Starts dist/key-proxy as the main step does; resolves with its base URL, pid and readiness time.
 * @param {string} upstreamUrl
 */
export async function startProxy(upstreamUrl) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-key-proxy-'))
  const capability = randomBytes(32).toString('base64url')
  const started = performance.now()
  const child = spawn(process.execPath, [...HELPER_NODE_FLAGS, path.join(ROOT, 'dist', 'key-proxy', 'index.js')], {
    detached: true,
    stdio: ['pipe', 'pipe', 'ignore'],
    env: { PATH: process.env.PATH ?? '' }
  })
  const stopToken = randomBytes(32).toString('base64url')
  child.stdin.end(
    JSON.stringify({
      key: KEY,
      upstream: upstreamUrl,
      capability,
      dir,
      stopToken,
      deadline: Date.now() + 600_000,
      caps: {}
    })
  )
  /** @type {string} */
  const line = await new Promise((resolve, reject) => {
    child.once('exit', () => reject(new Error('dist/key-proxy exited before it was ready: run npm run build')))
    child.stdout.once('data', (/** @type {Buffer} */ chunk) => resolve(chunk.toString()))
  })
  const readyMs = performance.now() - started
  child.stdout.destroy()
  child.unref()
  const { port } = JSON.parse(line)
  return {
    base: `http://127.0.0.1:${port}/${capability}/v1`,
    pid: /** @type {number} */ (child.pid),
    readyMs,
    /** @returns {Promise<{ requests: number, total_tokens: number }>} */
    usage: async () => JSON.parse(await fs.readFile(path.join(dir, 'usage.json'), 'utf8')),
    // As the post step stops it: the token in its stop file ends the proxy and its guard.
    stop: async () => {
      await fs.writeFile(path.join(dir, 'stop'), stopToken)
      await new Promise((resolve) => setTimeout(resolve, 300))
      await fs.rm(dir, { recursive: true, force: true })
    }
  }
}

/** For scale: a bare node that listens on loopback and prints its port, as the proxy does; ms to that line. */
async function bareNodeReady() {
  const started = performance.now()
  const script =
    "require('http').createServer().listen(0, '127.0.0.1', function () { process.stdout.write(JSON.stringify({ port: this.address().port }) + '\\n') })"
  const child = spawn(process.execPath, ['-e', script], {
    stdio: ['ignore', 'pipe', 'ignore'],
    env: { PATH: process.env.PATH ?? '' }
  })
  await new Promise((resolve) => child.stdout.once('data', resolve))
  const readyMs = performance.now() - started
  child.kill()
  return readyMs
}

/** Peak and current resident set of a process, in MB (Linux). @param {number} pid */
function rss(pid) {
  const status = existsSync(`/proc/${pid}/status`) ? readFileSync(`/proc/${pid}/status`, 'utf8') : ''
  const field = (/** @type {string} */ name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024
  return { peak: field('VmHWM'), now: field('VmRSS') }
}

/** CPU time a process has used, user and system, in ms (Linux; clock ticks of 10 ms). @param {number} pid */
function cpuMs(pid) {
  const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : ''
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** @param {{ rounds?: number, countingRounds?: number }} [options] */
export async function benchProxy(options = {}) {
  const server = await upstream().start()
  const direct = `${server.origin}/v1`
  try {
    /** @type {number[]} */
    const ready = []
    /** @type {number[]} */
    const bare = []
    for (let i = 0; i < 10; i++) {
      bare.push(await bareNodeReady())
      const proxy = await startProxy(direct)
      ready.push(proxy.readyMs)
      await proxy.stop()
    }
    const proxy = await startProxy(direct)
    const idle = rss(proxy.pid)
    // On a fresh proxy, as a job starts: 32 streams at once.
    const held = await Promise.all(
      Array.from({ length: 32 }, () => timed(`${proxy.base}/responses?hold=3000&size=${256 * 1024}`))
    )
    const busy = rss(proxy.pid)
    const rounds = options.rounds ?? 200
    /** @type {{ direct: number[], proxy: number[] }} */
    const ttfb = { direct: [], proxy: [] }
    for (let i = 0; i < rounds; i++) {
      ttfb.direct.push((await timed(`${direct}/responses`)).ttfb)
      ttfb.proxy.push((await timed(`${proxy.base}/responses`)).ttfb)
    }
    /** @type {Record<'direct' | 'proxy' | 'rawDirect' | 'rawProxy', number[]>} */
    const big = { direct: [], proxy: [], rawDirect: [], rawProxy: [] }
    for (let i = 0; i < 5; i++) {
      big.direct.push((await timed(`${direct}/responses?paced&size=${BIG}`)).total)
      big.proxy.push((await timed(`${proxy.base}/responses?paced&size=${BIG}`)).total)
      big.rawDirect.push((await timed(`${direct}/responses?size=${BIG}`)).total)
      big.rawProxy.push((await timed(`${proxy.base}/responses?size=${BIG}`)).total)
    }
    await proxy.stop()

    // Counting: the same proxy, the same stream, on a metered route and on one it does not meter.
    /** @type {(route: 'counted' | 'uncounted', base: string, query: string) => Promise<number>} */
    const through = async (route, base, query) =>
      route === 'counted'
        ? (await timed(`${base}/responses?${query}`)).total
        : (await timed(`${base}/models?${query}`, 'GET')).total
    /** @type {Record<'counted' | 'uncounted', number>} */
    const peaks = { counted: 0, uncounted: 0 }
    for (const route of /** @type {const} */ (['counted', 'uncounted'])) {
      const fresh = await startProxy(direct)
      await Promise.all(
        Array.from({ length: 32 }, () => through(route, fresh.base, `hold=3000&events&size=${256 * 1024}`))
      )
      peaks[route] = rss(fresh.pid).peak
      await fresh.stop()
    }
    const metered = await startProxy(direct)
    /** @type {Record<'counted' | 'uncounted' | 'rawCounted' | 'rawUncounted', number[]>} */
    const events = { counted: [], uncounted: [], rawCounted: [], rawUncounted: [] }
    /** The proxy's CPU time over all the streams of each route. */
    const cpu = { counted: 0, uncounted: 0 }
    const countingRounds = options.countingRounds ?? 15
    /** @type {(route: 'counted' | 'uncounted', query: string) => Promise<number>} */
    const cpuTimed = async (route, query) => {
      const before = cpuMs(metered.pid)
      const total = await through(route, metered.base, query)
      cpu[route] += cpuMs(metered.pid) - before
      return total
    }
    for (let i = 0; i < countingRounds; i++) {
      events.counted.push(await cpuTimed('counted', `paced&events&size=${BIG}`))
      events.uncounted.push(await cpuTimed('uncounted', `paced&events&size=${BIG}`))
      events.rawCounted.push(await cpuTimed('counted', `events&size=${BIG}`))
      events.rawUncounted.push(await cpuTimed('uncounted', `events&size=${BIG}`))
    }
    await new Promise((resolve) => setTimeout(resolve, 300))
    const usage = await metered.usage()
    await metered.stop()
    // Every counted stream's final event was found: the figures prove that counting ran.
    const countedStreams = 2 * countingRounds
    if (usage.requests !== countedStreams || usage.total_tokens !== countedStreams * USAGE.total_tokens)
      throw new Error(`the key proxy counted ${JSON.stringify(usage)} for ${countedStreams} streams`)
    const result = {
      readyP50: quantile(ready, 0.5),
      readyMax: Math.max(...ready),
      bareP50: quantile(bare, 0.5),
      ttfbDirect: quantile(ttfb.direct, 0.5),
      ttfbProxy: quantile(ttfb.proxy, 0.5),
      ttfbProxyP95: quantile(ttfb.proxy, 0.95),
      bigDirect: quantile(big.direct, 0.5),
      bigProxy: quantile(big.proxy, 0.5),
      rawDirect: quantile(big.rawDirect, 0.5),
      rawProxy: quantile(big.rawProxy, 0.5),
      idleMb: idle.now,
      peakMb: busy.peak,
      streamsOk: held.every((h) => h.status === 200),
      rounds,
      counted: quantile(events.counted, 0.5),
      uncounted: quantile(events.uncounted, 0.5),
      rawCounted: quantile(events.rawCounted, 0.5),
      rawUncounted: quantile(events.rawUncounted, 0.5),
      peakCountedMb: peaks.counted,
      peakUncountedMb: peaks.uncounted,
      cpuCounted: cpu.counted / (2 * countingRounds),
      cpuUncounted: cpu.uncounted / (2 * countingRounds),
      countingRounds
    }
    console.log(`key proxy: ${JSON.stringify(result)}`)
    return result
  } finally {
    await server.stop()
  }
}

/** The BENCHMARK.md section. @param {Awaited<ReturnType<typeof benchProxy>>} r */
export function proxySection(r) {
  const pass = (/** @type {boolean} */ ok) => (ok ? 'met' : '**missed**')
  const overhead = r.ttfbProxy - r.ttfbDirect
  const ratio = r.bigProxy / r.bigDirect
  return [
    '## Key proxy (key-isolation: proxy)',
    '',
    '`dist/key-proxy` against a direct connection, side by side in alternating requests to the same loopback upstream (an SSE stream as the Responses API sends).',
    '',
    '| measure | direct | through the proxy | target | |',
    '| --- | --- | --- | --- | --- |',
    `| time to first byte, p50 of ${r.rounds} | ${r.ttfbDirect.toFixed(2)} ms | ${r.ttfbProxy.toFixed(2)} ms (p95 ${r.ttfbProxyP95.toFixed(2)} ms) | ≤ 5 ms more | ${pass(overhead <= 5)} (+${overhead.toFixed(2)} ms) |`,
    `| a 10 MB event stream at 16 KiB/ms, median of 5 | ${r.bigDirect.toFixed(0)} ms | ${r.bigProxy.toFixed(0)} ms | within 3 % | ${pass(ratio <= 1.03)} (${((ratio - 1) * 100).toFixed(1)} %) |`,
    `| for scale: 10 MB as fast as loopback copies it | ${r.rawDirect.toFixed(0)} ms | ${r.rawProxy.toFixed(0)} ms | | |`,
    `| 32 streams held at once on a fresh proxy (3 s each, then 256 KiB): peak RSS | | ${r.peakMb.toFixed(0)} MB (idle ${r.idleMb.toFixed(0)} MB)${r.streamsOk ? '' : ', **some failed**'} | ≤ 60 MB | ${pass(r.peakMb <= 60 && r.streamsOk)} |`,
    `| ready: from spawn to its port on stdout, p50 of 10 (max); direct: a bare node that listens and prints its port | ${r.bareP50.toFixed(0)} ms | ${r.readyP50.toFixed(0)} ms (${r.readyMax.toFixed(0)} ms) | ≤ 150 ms | ${pass(r.readyP50 <= 150)} |`,
    '',
    `RSS is the proxy process's VmHWM from /proc (an idle \`node -e 0\` holds about 40 MB); it runs with the flags the action starts it with (\`${HELPER_NODE_FLAGS.join(' ')}\`). Its guard, a second process without the key that answers 410 if the proxy dies, is not included.`,
    '',
    '### Counting usage (spend control)',
    '',
    `The same proxy, the same stream: a Responses API event stream (10 MB of token deltas, about ${Math.round(BIG / DELTA.length).toLocaleString('en-US')} events of ${DELTA.length} bytes, then \`response.completed\` with its usage), on a route the proxy meters (\`POST /responses\`: the usage is counted, and the usage file rewritten) and on one it does not (\`GET /models\`), in alternating rounds. The counted figures were checked: ${2 * r.countingRounds} streams, ${(2 * r.countingRounds * USAGE.total_tokens).toLocaleString('en-US')} tokens.`,
    '',
    '| measure | not counted | counted | target | |',
    '| --- | --- | --- | --- | --- |',
    `| 10 MB of events at 16 KiB/ms, median of ${r.countingRounds} | ${r.uncounted.toFixed(0)} ms | ${r.counted.toFixed(0)} ms | within 1 % | ${pass(r.counted / r.uncounted <= 1.01)} (${((r.counted / r.uncounted - 1) * 100).toFixed(1)} %) |`,
    `| for scale: 10 MB of events as fast as loopback copies them | ${r.rawUncounted.toFixed(0)} ms | ${r.rawCounted.toFixed(0)} ms | | |`,
    `| the proxy's CPU time for one 10 MB stream (user + system, mean of ${2 * r.countingRounds}) | ${r.cpuUncounted.toFixed(0)} ms | ${r.cpuCounted.toFixed(0)} ms | | |`,
    `| 32 event streams held at once on a fresh proxy: peak RSS | ${r.peakUncountedMb.toFixed(0)} MB | ${r.peakCountedMb.toFixed(0)} MB | ≤ 2 MB more | ${pass(r.peakCountedMb - r.peakUncountedMb <= 2)} |`,
    ''
  ]
}
