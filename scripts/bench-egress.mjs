/**
 * codex-network's egress proxy and the jail's relay side by side with a direct connection,
 * against the same loopback web server (part of `npm run bench`, or `--egress-only`): time
 * to first byte, a 10 MB download, 32 tunnels held at once, and what the relay adds to a
 * command's start. curl does every request, its own timers measure: the same client in
 * every column. The relay's rows run in a network namespace of their own (`unshare --net`,
 * as root), the way the jail runs it.
 */
import { execFile, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, promises as fs, readFileSync } from 'node:fs'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { promisify } from 'node:util'
import { ROOT } from '../__tests__/harness/runner.js'
import { LoopbackServer } from '../__tests__/harness/servers.js'
import { HELPER_NODE_FLAGS } from '../src/helpers/node-flags.js'

const BIG = 10 * 1024 * 1024
const CHUNK = Buffer.alloc(16 * 1024, 'x')
/** Never a sync child here: the web server answers in this process. */
const run = promisify(execFile)

/** @param {number[]} values @param {number} q */
const quantile = (values, q) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]

/** ?size=N: N bytes; &paced: 16 KiB a millisecond (faster than most networks, no longer a memory copy); ?hold=MS first. */
function upstream() {
  return new LoopbackServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    res.writeHead(200, { 'content-type': 'application/octet-stream' })
    res.write('.')
    const hold = Number(url.searchParams.get('hold') ?? 0)
    if (hold) await new Promise((resolve) => setTimeout(resolve, hold))
    let left = Number(url.searchParams.get('size') ?? 0)
    const paced = url.searchParams.has('paced')
    const push = async () => {
      while (left > 0) {
        left -= CHUNK.length
        if (paced) {
          res.write(CHUNK)
          await new Promise((resolve) => setTimeout(resolve, 1))
        } else if (!res.write(CHUNK)) return void res.once('drain', push)
      }
      res.end()
    }
    await push()
  })
}

/** dist/egress-proxy as main starts it (its flags, its socket handed over), with a loopback port too. @param {number} port */
async function startEgress(port) {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'bench-egress-'))
  const socket = path.join(dir, 'egress.sock')
  const stopToken = randomBytes(16).toString('hex')
  const server = net.createServer()
  await new Promise((resolve) => server.listen(`${socket}.main`, () => resolve(undefined)))
  await fs.rename(`${socket}.main`, socket)
  // @ts-expect-error: the handle's descriptor, as main takes it
  const fd = server._handle.fd
  const child = spawn(process.execPath, [...HELPER_NODE_FLAGS, path.join(ROOT, 'dist', 'egress-proxy', 'index.js')], {
    stdio: ['pipe', 'ignore', 'inherit', fd],
    env: { PATH: process.env.PATH ?? '' }
  })
  child.stdin.end(
    JSON.stringify({
      hosts: [{ kind: 'address', address: '127.0.0.1', prefix: 32, family: 4, port }],
      rule: 'bench',
      dir,
      stopToken,
      inherited: true,
      tcp: true,
      deadline: Date.now() + 600_000
    })
  )
  server.close()
  const statusFile = path.join(dir, 'status.json')
  for (let i = 0; i < 200 && !existsSync(statusFile); i++) await new Promise((resolve) => setTimeout(resolve, 25))
  if (!existsSync(statusFile)) throw new Error('dist/egress-proxy did not start: run npm run build')
  return {
    pid: /** @type {number} */ (child.pid),
    socket,
    port: /** @type {number} */ (JSON.parse(readFileSync(statusFile, 'utf8')).port),
    report: () => JSON.parse(readFileSync(path.join(dir, 'network.json'), 'utf8')),
    stop: async () => {
      await fs.writeFile(path.join(dir, 'stop'), stopToken)
      await new Promise((resolve) => child.once('exit', resolve))
      await fs.rm(dir, { recursive: true, force: true })
    }
  }
}

/** Peak and current resident set, in MB. @param {number} pid */
function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const field = (/** @type {string} */ name) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024
  return { peak: field('VmHWM'), now: field('VmRSS') }
}

const CURL = ['curl', '-sS', '-o', '/dev/null', '-w', '%{time_starttransfer} %{time_total}']

/**
 * The command of each way, as a command in the jail or the job would go; the relay's in a
 * network namespace of its own, a fresh one a request (its start is before curl's timers).
 * @param {number} proxyPort @param {{ script: string, socket: string } | undefined} relay
 */
const WAYS = (proxyPort, relay) => ({
  direct: [...CURL, '--noproxy', '*'],
  http: [...CURL, '-x', `http://127.0.0.1:${proxyPort}`],
  tunnel: [...CURL, '-x', `http://127.0.0.1:${proxyPort}`, '-p'],
  ...(relay && {
    relay: [
      'unshare',
      '--net',
      '/usr/bin/perl',
      '-e',
      relay.script,
      '--',
      '8080',
      relay.socket,
      '--',
      ...CURL,
      '-x',
      'http://127.0.0.1:8080',
      '-p'
    ]
  })
})

/** `rounds` curls of `url` for each way in `ways`, alternating; seconds to first byte and to the end, in ms. */
async function curlRounds(
  /** @type {Record<string, string[]>} */ ways,
  /** @type {string} */ url,
  /** @type {number} */ rounds
) {
  /** @type {Record<string, { first: number[], total: number[] }>} */
  const out = Object.fromEntries(Object.keys(ways).map((way) => [way, { first: [], total: [] }]))
  for (let i = 0; i < rounds; i++)
    for (const [way, [command, ...args]] of Object.entries(ways)) {
      const { stdout } = await run(command, [...args, url], { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
      const [first, total] = stdout.split(' ').map((s) => Number(s) * 1000)
      out[way].first.push(first)
      out[way].total.push(total)
    }
  return out
}

/** ms from spawn to exit of `argv`, p50 of `rounds`. @param {string[]} argv @param {number} rounds */
function startCost(argv, rounds) {
  const times = []
  for (let i = 0; i < rounds; i++) {
    const started = performance.now()
    spawnSync(argv[0], argv.slice(1), { stdio: 'ignore' })
    times.push(performance.now() - started)
  }
  return quantile(times, 0.5)
}

/** The relay script as the action ships it (src/jail/relay.ts), taken from the bundle's source. */
function relayScript() {
  const source = readFileSync(path.join(ROOT, 'src', 'jail', 'relay.ts'), 'utf8')
  const match = /RELAY_SCRIPT = String\.raw`([\s\S]*?)`\n/.exec(source)
  if (!match) throw new Error('RELAY_SCRIPT not found in src/jail/relay.ts')
  return match[1]
}

/** @param {{ rounds?: number, bigRounds?: number }} [options] */
export async function benchEgress(options = {}) {
  const server = await upstream().start()
  const proxy = await startEgress(server.port)
  const rounds = options.rounds ?? 100
  const bigRounds = options.bigRounds ?? 7
  const canRelay = process.getuid?.() === 0 && existsSync('/usr/bin/perl')
  const script = relayScript()
  const ways = WAYS(proxy.port, canRelay ? { script, socket: proxy.socket } : undefined)
  try {
    const idle = rss(proxy.pid)
    // 32 tunnels held at once on a fresh proxy (3 s each, then 256 KiB), as a parallel install opens them.
    await Promise.all(
      Array.from(
        { length: 32 },
        () =>
          new Promise((resolve, reject) => {
            const [command, ...args] = ways.tunnel
            const child = spawn(command, [...args, `${server.origin}/?hold=3000&size=${256 * 1024}`])
            child.on('exit', (code) => (code === 0 ? resolve(undefined) : reject(new Error(`curl exited ${code}`))))
          })
      )
    )
    const busy = rss(proxy.pid)
    const first = await curlRounds(ways, `${server.origin}/`, rounds)
    const paced = await curlRounds(ways, `${server.origin}/?paced&size=${BIG}`, bigRounds)
    const raw = await curlRounds(ways, `${server.origin}/?size=${BIG}`, bigRounds)
    // What the relay adds to a command's start: the namespace alone, with the perl relay, and a node one for scale.
    const nodeRelay = `require('net').createServer((c) => c.pipe(require('net').connect(process.argv[2])).pipe(c)).listen(8080, '127.0.0.1', () => process.exit(0))`
    const starts = canRelay
      ? {
          bare: startCost(['unshare', '--net', '/bin/true'], 30),
          perl: startCost(
            ['unshare', '--net', '/usr/bin/perl', '-e', script, '--', '8080', proxy.socket, '--', '/bin/true'],
            30
          ),
          node: startCost(
            [
              'unshare',
              '--net',
              'sh',
              '-c',
              `ip link set lo up && exec "$0" -e "$1" "$2"`,
              process.execPath,
              nodeRelay,
              proxy.socket
            ],
            30
          )
        }
      : undefined
    const report = proxy.report()
    const p50 = (/** @type {number[]} */ v) => quantile(v, 0.5)
    const result = {
      rounds,
      bigRounds,
      firstDirect: p50(first.direct.first),
      firstHttp: p50(first.http.first),
      firstTunnel: p50(first.tunnel.first),
      firstRelay: first.relay && p50(first.relay.first),
      pacedDirect: p50(paced.direct.total),
      pacedHttp: p50(paced.http.total),
      pacedTunnel: p50(paced.tunnel.total),
      pacedRelay: paced.relay && p50(paced.relay.total),
      rawDirect: p50(raw.direct.total),
      rawHttp: p50(raw.http.total),
      rawTunnel: p50(raw.tunnel.total),
      rawRelay: raw.relay && p50(raw.relay.total),
      idleMb: idle.now,
      peakMb: busy.peak,
      starts,
      counted: report.allowed.reduce(
        (/** @type {number} */ sum, /** @type {{ count: number }} */ row) => sum + row.count,
        0
      )
    }
    console.log(`egress proxy: ${JSON.stringify(result)}`)
    return result
  } finally {
    await proxy.stop()
    await server.stop()
  }
}

/** The BENCHMARK.md section. @param {Awaited<ReturnType<typeof benchEgress>>} r */
export function egressSection(r) {
  const pass = (/** @type {boolean} */ ok) => (ok ? 'met' : '**missed**')
  const ms = (/** @type {number | undefined} */ v) => (v === undefined ? '—' : `${v.toFixed(v < 10 ? 2 : 0)} ms`)
  const pct = (/** @type {number | undefined} */ v, /** @type {number} */ base) =>
    v === undefined ? '' : ` (${v >= base ? '+' : ''}${((v / base - 1) * 100).toFixed(1)} %)`
  const worst = Math.max(r.pacedTunnel, r.pacedRelay ?? 0) / r.pacedDirect
  const firstOver = Math.max(r.firstTunnel, r.firstRelay ?? 0) - r.firstDirect
  return [
    '## Egress proxy (codex-network)',
    '',
    "`dist/egress-proxy` against a direct connection, curl's own timers, alternating rounds against the same loopback web server: a plain-HTTP request through it, a CONNECT tunnel (HTTPS's way), and the same tunnel from inside a network namespace through the jail's relay (perl) and the proxy's Unix socket.",
    '',
    '| measure | direct | plain HTTP | CONNECT tunnel | tunnel via the relay | target | |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    `| time to first byte, p50 of ${r.rounds} (a new connection each) | ${ms(r.firstDirect)} | ${ms(r.firstHttp)} | ${ms(r.firstTunnel)} | ${ms(r.firstRelay)} | ≤ 5 ms more | ${pass(firstOver <= 5)} (+${firstOver.toFixed(2)} ms) |`,
    `| 10 MB at 16 KiB/ms, median of ${r.bigRounds} | ${ms(r.pacedDirect)} | ${ms(r.pacedHttp)}${pct(r.pacedHttp, r.pacedDirect)} | ${ms(r.pacedTunnel)}${pct(r.pacedTunnel, r.pacedDirect)} | ${ms(r.pacedRelay)}${pct(r.pacedRelay, r.pacedDirect)} | within 5 % | ${pass(worst <= 1.05)} |`,
    `| for scale: 10 MB as fast as loopback copies it | ${ms(r.rawDirect)} | ${ms(r.rawHttp)}${pct(r.rawHttp, r.rawDirect)} | ${ms(r.rawTunnel)}${pct(r.rawTunnel, r.rawDirect)} | ${ms(r.rawRelay)}${pct(r.rawRelay, r.rawDirect)} | | |`,
    `| 32 tunnels held at once on a fresh proxy (3 s each, then 256 KiB): peak RSS | | | ${r.peakMb.toFixed(0)} MB (idle ${r.idleMb.toFixed(0)} MB) | | ≤ 60 MB | ${pass(r.peakMb <= 60)} |`,
    ...(r.starts
      ? [
          `| a command's start in a new network namespace, p50 of 30: alone / behind the perl relay / a node relay for scale | ${ms(r.starts.bare)} | | ${ms(r.starts.perl)} | ${ms(r.starts.node)} (node) | | |`
        ]
      : []),
    '',
    `RSS is the proxy's VmHWM from /proc; it runs with the helpers' flags (\`${HELPER_NODE_FLAGS.join(' ')}\`). The perl relay binds its ports before it execs the command (nothing Codex sends can come first); a node relay would take the start-up time of node on every \`codex\` call, or race Codex's first request if started beside it.`,
    ''
  ]
}
