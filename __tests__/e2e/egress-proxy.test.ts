/**
 * codex-network's egress proxy and the jail's relay, black-box: the bundled proxy as main
 * starts it (and on its own, with a private /etc/hosts in a mount namespace of its own for
 * names), and the relay in a network namespace the test makes (`unshare --net`), in which
 * only loopback exists. Nothing here touches this machine's network or its /etc/hosts.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promises as fs, readFileSync } from 'node:fs'
import * as http from 'node:http'
import * as net from 'node:net'
import * as os from 'node:os'
import * as path from 'node:path'
import { relayCommand } from '../../src/jail/relay.js'
import { type EgressConfig, type EgressReport } from '../../src/helpers/egress/protocol.js'
import { parseCodexNetwork } from '../../src/inputs/network.js'
import { FakeOpenAI } from '../harness/fake-openai.js'
import { useRunners } from '../harness/lifecycle.js'
import { alive } from '../harness/processes.js'
import { ForwardProxy } from '../harness/proxy.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { machineEnv, ROOT, runProcess } from '../harness/runner.js'
import { LoopbackServer } from '../harness/servers.js'
import { makeTestCa } from '../harness/test-ca.js'
import { waitFor } from '../harness/wait.js'

const runners = useRunners()
const web = (name: string) => new LoopbackServer((req, res) => void res.end(`${name} ${req.url}`))

/** `script` (bash) in a new network namespace, behind the relay: 127.0.0.1:8080 leads to `socket`. */
function inNetns(socket: string, script: string, env: Record<string, string> = {}) {
  const argv = relayCommand('/usr/bin/perl', [{ port: 8080, socket }], ['/bin/bash', '--norc', '-c', script])
  return runProcess('unshare', ['--net', ...argv], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ...env },
    timeoutMs: 30_000
  })
}

/** The jail's proxy variables: every client there reaches the world through the relay alone. */
const PROXIED = {
  HTTPS_PROXY: 'http://127.0.0.1:8080',
  https_proxy: 'http://127.0.0.1:8080',
  HTTP_PROXY: 'http://127.0.0.1:8080',
  http_proxy: 'http://127.0.0.1:8080',
  ALL_PROXY: 'http://127.0.0.1:8080',
  all_proxy: 'http://127.0.0.1:8080',
  NO_PROXY: '127.0.0.1:8080',
  no_proxy: '127.0.0.1:8080'
}

test('main starts the proxy; in the namespace a listed host answers, an unlisted one gets the 403, nothing else gets out; the post step reports both', async () => {
  const allowed = await runners.serve(web('allowed'))
  const unlisted = await runners.serve(web('unlisted'))
  const api = await runners.serve(new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200 } }))
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'api-base-url': api.apiBaseUrl,
    'codex-version': CODEX_VERSION,
    'codex-network': `127.0.0.1:${allowed.port}`
  })
  expect(main.errors).toEqual([])
  expect(main.stdout).toContain(
    `codex-network: the model API and 127.0.0.1:${allowed.port}; every other destination is refused and reported`
  )
  // The jail (as root here) has a network namespace of its own: no warning.
  expect(main.stdout).not.toContain('codex-network is not enforced')
  const report = main.outputs['network-report']
  expect(path.basename(report)).toBe('network.json')
  expect((await fs.stat(report)).mode & 0o777).toBe(0o600)
  const socket = path.join(path.dirname(report), 'egress.sock')

  const out = await inNetns(
    socket,
    [
      // Plain HTTP (absolute form) and a CONNECT tunnel to the listed host, through the proxy variables.
      `curl -sS http://127.0.0.1:${allowed.port}/plain; echo; echo ==`,
      `curl -sS --proxytunnel http://127.0.0.1:${allowed.port}/tunnel; echo; echo ==`,
      // The unlisted one: the 403 and its text, both ways.
      `curl -sS -w ' %{http_code}' http://127.0.0.1:${unlisted.port}/x; echo; echo ==`,
      `curl -sS --proxytunnel http://127.0.0.1:${unlisted.port}/x 2>&1; echo; echo ==`,
      `curl -sS -o /dev/null -w '%{http_connect}' -x http://127.0.0.1:8080 -p http://169.254.169.254/latest/meta-data/ 2>/dev/null; echo; echo ==`,
      // Around the proxy: directly by TCP, by IPv6, by UDP (a DNS query): nothing to reach.
      `curl -sS --noproxy '*' -m 5 http://127.0.0.1:${allowed.port}/direct 2>&1 | head -c 300; echo; echo ==`,
      `curl -sS --noproxy '*' -m 5 -6 "http://[::1]:${allowed.port}/v6" 2>&1 | head -c 300; echo; echo ==`,
      `(exec 3>/dev/udp/10.0.0.2/53 && echo sent) 2>&1 | head -c 300; echo; echo ==`,
      `(exec 3>/dev/tcp/1.1.1.1/443 && echo connected) 2>&1 | head -c 300; echo; echo ==`
    ].join('\n'),
    PROXIED
  )
  // One answer a command, each ended by a line of its own.
  const lines = out.stdout.split('\n==\n').map((answer) => answer.trim())
  expect(lines[0]).toBe('allowed /plain')
  expect(lines[1]).toBe('allowed /tunnel')
  expect(lines[2]).toBe(`codex-auth-action: 127.0.0.1:${unlisted.port} is not in codex-network\n 403`)
  expect(lines[3]).toMatch(/CONNECT tunnel failed, response 403/)
  expect(lines[4]).toBe('403')
  expect(lines[5]).toMatch(/Failed to connect|Couldn't connect/)
  expect(lines[6]).toMatch(/Failed to connect|Couldn't connect|Network is unreachable/)
  expect(lines[7]).toMatch(/Network is unreachable/)
  expect(lines[8]).toMatch(/Network is unreachable/)
  expect(allowed.requests.map((r) => r.url)).toEqual(['/plain', '/tunnel'])
  expect(unlisted.requests).toEqual([])

  // network.json, kept current while the job runs.
  await waitFor(() => (JSON.parse(readFileSync(report, 'utf8')) as EgressReport).refused.length === 2, 3000)
  const figures = JSON.parse(readFileSync(report, 'utf8')) as EgressReport
  expect(figures.allowed).toEqual([
    { destination: `127.0.0.1:${allowed.port}`, count: 2, first: expect.stringMatching(/^20\d\d-/) }
  ])
  expect(figures.refused.map(({ destination, count }) => [destination, count])).toEqual([
    [`127.0.0.1:${unlisted.port}`, 2],
    ['169.254.169.254:80', 1]
  ])

  const post = await runner.post()
  expect(post.stdout).toMatch(
    new RegExp(
      `::warning::codex-network refused 3 connections from Codex's jail \\(Codex's own or the model's commands'\\), to 2 destinations: 127\\.0\\.0\\.1:${unlisted.port} \\(2, first at 20[^)]+\\), 169\\.254\\.169\\.254:80 \\(1, `
    )
  )
  expect(post.summary).toContain('<h3>Codex network</h3>')
  expect(post.summary).toMatch(
    new RegExp(`<td>127\\.0\\.0\\.1:${unlisted.port}</td><td>refused: not in codex-network</td><td>2</td><td>20`)
  )
  expect(post.summary).toMatch(new RegExp(`<td>127\\.0\\.0\\.1:${allowed.port}</td><td>allowed</td><td>2</td>`))
}, 120_000)

test('main: the rule in one line, no proxy with open; a bad entry is one error before anything starts', async () => {
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const api = await runners.serve(new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200 } }))
  const inputs = { 'api-key': TEST_API_KEY, 'api-base-url': api.apiBaseUrl, 'codex-version': CODEX_VERSION }
  const open = await runner.main({ ...inputs, 'codex-network': 'open' })
  expect(open.errors).toEqual([])
  expect(open.stdout).toContain('codex-network: open (the model reaches whatever the runner reaches)')
  expect(open.outputs['network-report']).toBeUndefined()
  expect(open.stdout).not.toContain('codex-network is not enforced')
  await runner.post()
  const bad = await runner.main({ ...inputs, 'codex-network': 'registries\nhttps://example.com/x' })
  expect(bad.errors).toEqual([
    '::error::codex-network holds "https://example.com/x", which is not a host entry: a URL or a path; give the host name alone. Give keywords (registries, none, open) or hosts: example.com, *.example.com, host:port, an IP address or a CIDR range such as 10.0.0.0/8, one a line or comma-separated.'
  ])
  expect(bad.exitCode).toBe(1)
}, 120_000)

/** The bundled proxy on its own, in a mount namespace whose /etc/hosts the test writes. */
class EgressUnderTest {
  child?: ChildProcess
  dir = ''
  port = 0
  stopToken = randomBytes(16).toString('hex')

  constructor(
    private readonly network: string,
    private readonly hosts: string,
    private readonly env: Record<string, string> = {},
    private readonly ca?: string[]
  ) {}

  async start(): Promise<this> {
    this.dir = await fs.mkdtemp(path.join(os.tmpdir(), 'codex-egress-test-'))
    const hostsFile = path.join(this.dir, 'hosts')
    await fs.writeFile(hostsFile, `127.0.0.1 localhost\n::1 localhost\n${this.hosts}\n`)
    const policy = parseCodexNetwork(this.network)
    if (policy.mode !== 'filtered') throw new Error('test bug: a filtered codex-network')
    const config: EgressConfig = {
      hosts: policy.hosts,
      rule: 'test',
      dir: this.dir,
      stopToken: this.stopToken,
      tcp: true,
      deadline: Date.now() + 120_000,
      ca: this.ca
    }
    const script = path.join(ROOT, 'dist', 'egress-proxy', 'index.js')
    this.child = spawn(
      'unshare',
      ['--mount', 'sh', '-c', `mount --bind "$0" /etc/hosts && exec "$1" "$2"`, hostsFile, process.execPath, script],
      { env: { ...machineEnv({ withCa: true }), ...this.env }, stdio: ['pipe', 'ignore', 'inherit'] }
    )
    this.child.stdin?.end(JSON.stringify(config))
    await waitFor(async () => {
      const status = await fs.readFile(path.join(this.dir, 'status.json'), 'utf8').catch(() => '{}')
      this.port = (JSON.parse(status) as { port?: number }).port ?? 0
      return this.port > 0
    }, 10_000)
    return this
  }

  report(): EgressReport {
    return JSON.parse(readFileSync(path.join(this.dir, 'network.json'), 'utf8')) as EgressReport
  }

  async stop(): Promise<void> {
    const pid = this.child?.pid
    await fs.writeFile(path.join(this.dir, 'stop'), this.stopToken).catch(() => undefined)
    if (pid) await waitFor(() => !alive(pid), 5000)
    await fs.rm(this.dir, { recursive: true, force: true })
  }
}

/** A CONNECT through the proxy: its status line and body, or what the tunnel then answered to a GET. */
function connectThrough(proxyPort: number, target: string, get = '/'): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: proxyPort, method: 'CONNECT', path: target })
    req.on('connect', (res, socket, head: Buffer) => {
      if (res.statusCode !== 200) {
        let text = head.toString()
        socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
        socket.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
        return
      }
      socket.write(`GET ${get} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)
      let text = ''
      socket.on('data', (chunk: Buffer) => (text += chunk.toString()))
      socket.on('end', () => resolve({ status: 200, text: text.split('\r\n\r\n')[1] ?? '' }))
    })
    req.on('error', reject)
    req.end()
  })
}

function getThrough(proxyPort: number, url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: proxyPort, path: url, headers: { host: new URL(url).host } }, (res) => {
        let text = ''
        res.on('data', (chunk: Buffer) => (text += chunk.toString()))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      })
      .on('error', reject)
  })
}

test('names: the proxy resolves them itself; never a link-local address through a name, nor an unlisted literal', async () => {
  const allowed = await runners.serve(web('allowed'))
  const proxy = await runners.serve(
    new EgressUnderTest(
      `allowed.test:${allowed.port}, *.wild.test:${allowed.port}, metadata.test, [::1]:${allowed.port}`,
      `127.0.0.1 allowed.test unlisted.test deep.a.wild.test\n169.254.169.254 metadata.test\nfe80::1 metadata.test`
    )
  )
  expect(await connectThrough(proxy.port, `allowed.test:${allowed.port}`, '/c')).toEqual({
    status: 200,
    text: 'allowed /c'
  })
  expect(await getThrough(proxy.port, `http://deep.a.wild.test:${allowed.port}/g`)).toEqual({
    status: 200,
    text: 'allowed /g'
  })
  expect(await connectThrough(proxy.port, `unlisted.test:${allowed.port}`)).toEqual({
    status: 403,
    text: `codex-auth-action: unlisted.test:${allowed.port} is not in codex-network\n`
  })
  expect(await getThrough(proxy.port, `http://unlisted.test:${allowed.port}/`)).toEqual({
    status: 403,
    text: `codex-auth-action: unlisted.test:${allowed.port} is not in codex-network\n`
  })
  // Listed, but it leads only to the metadata service: never connected to.
  expect(await connectThrough(proxy.port, 'metadata.test:80')).toEqual({
    status: 502,
    text: expect.stringMatching(
      /^codex-auth-action: metadata\.test:80 could not be reached: metadata\.test resolves only to a link-local address/
    )
  })
  expect((await connectThrough(proxy.port, '169.254.169.254:80')).status).toBe(403)
  expect((await connectThrough(proxy.port, '[::ffff:169.254.169.254]:80')).status).toBe(403)
  expect((await connectThrough(proxy.port, `[::1]:${allowed.port}`, '/v6')).status).toBe(
    // Listed as a literal: admitted (LoopbackServer listens on IPv4 only, so 502 is the proof it was tried).
    502
  )
  expect(allowed.requests.map((r) => r.url)).toEqual(['/c', '/g'])
  await waitFor(() => proxy.report().allowed.length === 4, 3000)
  const report = proxy.report()
  expect(report.refused.map((r) => [r.destination, r.count])).toEqual([
    [`unlisted.test:${allowed.port}`, 2],
    ['169.254.169.254:80', 2]
  ])
  expect(report.allowed.find((r) => r.destination === 'metadata.test:80')).toMatchObject({ count: 1, failed: 1 })
}, 60_000)

test("through the runner's own proxy: CONNECT and plain HTTP are chained, NO_PROXY honoured", async () => {
  const allowed = await runners.serve(web('allowed'))
  const corporate = await runners.serve(new ForwardProxy())
  const proxy = await runners.serve(
    new EgressUnderTest(`127.0.0.1:${allowed.port}`, '', { HTTPS_PROXY: corporate.url, HTTP_PROXY: corporate.url })
  )
  expect(await connectThrough(proxy.port, `127.0.0.1:${allowed.port}`, '/c')).toEqual({
    status: 200,
    text: 'allowed /c'
  })
  expect(await getThrough(proxy.port, `http://127.0.0.1:${allowed.port}/g`)).toEqual({
    status: 200,
    text: 'allowed /g'
  })
  expect(corporate.connects).toEqual([`127.0.0.1:${allowed.port}`])
  expect(corporate.forwarded).toEqual([`http://127.0.0.1:${allowed.port}/g`])
  const bypass = await runners.serve(
    new EgressUnderTest(`127.0.0.1:${allowed.port}`, '', {
      HTTPS_PROXY: corporate.url,
      HTTP_PROXY: corporate.url,
      NO_PROXY: '127.0.0.0/8'
    })
  )
  expect((await connectThrough(bypass.port, `127.0.0.1:${allowed.port}`, '/direct')).text).toBe('allowed /direct')
  expect(corporate.connects).toHaveLength(1)
}, 60_000)

test("an https: proxy of the runner's: reached with the CA bundle trusted, refused without it", async () => {
  const allowed = await runners.serve(web('allowed'))
  const testCa = makeTestCa()
  const corporate = await runners.serve(new ForwardProxy(testCa.server))
  const env = { HTTPS_PROXY: corporate.url, HTTP_PROXY: corporate.url }
  const trusting = await runners.serve(new EgressUnderTest(`127.0.0.1:${allowed.port}`, '', env, [testCa.ca]))
  expect(await connectThrough(trusting.port, `127.0.0.1:${allowed.port}`, '/c')).toEqual({
    status: 200,
    text: 'allowed /c'
  })
  expect(await getThrough(trusting.port, `http://127.0.0.1:${allowed.port}/g`)).toEqual({
    status: 200,
    text: 'allowed /g'
  })
  expect(corporate.connects).toEqual([`127.0.0.1:${allowed.port}`])
  const untrusting = await runners.serve(new EgressUnderTest(`127.0.0.1:${allowed.port}`, '', env))
  const refused = await connectThrough(untrusting.port, `127.0.0.1:${allowed.port}`)
  expect(refused.status).toBe(502)
  expect(refused.text).toMatch(/could not be reached: TLS verification failed/)
  expect(allowed.requests.map((r) => r.url)).toEqual(['/c', '/g'])
}, 60_000)

test('the relay: many connections at once, large bodies both ways, and it ends with its command', async () => {
  const echo = net.createServer((socket) => socket.pipe(socket))
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'codex-relay-test-'))
  const socket = path.join(dir, 'echo.sock')
  await new Promise<void>((resolve) => echo.listen(socket, resolve))
  try {
    // 16 connections at once, 4 MB each way, checked byte for byte by their digests.
    const out = await inNetns(
      socket,
      `for i in $(seq 16); do (head -c 4000000 /dev/urandom > /tmp/in$i; python3 -c 'import socket,sys
s=socket.create_connection(("127.0.0.1",8080)); d=open(sys.argv[1],"rb").read(); import threading
t=threading.Thread(target=lambda: (s.sendall(d), s.shutdown(socket.SHUT_WR))); t.start()
got=b""
while True:
  c=s.recv(65536)
  if not c: break
  got+=c
print("same" if got==d else "differs %d" % len(got))' /tmp/in$i) & done; wait`
    )
    const lines = out.stdout.trim().split('\n')
    expect(lines.slice(0, 16)).toEqual(Array(16).fill('same'))
    // After the command: the relay is gone with it (it looks once a second).
    await waitFor(
      async () => (await runProcess('pgrep', ['-f', 'codex-auth-action relay'], { env: machineEnv() })).exitCode === 1,
      3000
    )
  } finally {
    echo.close()
    await fs.rm(dir, { recursive: true, force: true })
  }
}, 60_000)

test('plain HTTP: the request goes to the listed host with that host in its Host header, never the one a client names (a CDN routes by it: domain fronting past codex-network)', async () => {
  // As a CDN's edge (Fastly, Cloudflare) that serves many sites on one address: what it serves is what Host names.
  const edge = await runners.serve(new LoopbackServer((req, res) => void res.end(`site ${req.headers.host ?? ''}`)))
  const proxy = await runners.serve(new EgressUnderTest(`allowed.test:${edge.port}`, '127.0.0.1 allowed.test'))
  const fronted = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    http
      .get(
        {
          host: '127.0.0.1',
          port: proxy.port,
          path: `http://allowed.test:${edge.port}/upload`,
          headers: { host: 'attacker.example' }
        },
        (res) => {
          let text = ''
          res.on('data', (chunk: Buffer) => (text += chunk.toString()))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
        }
      )
      .on('error', reject)
  })
  // Before the fix: "site attacker.example", an unlisted site reached through a listed host's address.
  expect(fronted).toEqual({ status: 200, text: `site allowed.test:${edge.port}` })
  expect(edge.requests.map((r) => r.headers.host)).toEqual([`allowed.test:${edge.port}`])
}, 60_000)

test('the report stays small whatever names a command asks for: 500 rows and the rest counted together, each name cut to a DNS name and port', async () => {
  const proxy = await runners.serve(new EgressUnderTest('allowed.test', '127.0.0.1 allowed.test'))
  const long = (i: number) => `x${i}${'a'.repeat(8000)}.test:443`
  for (let i = 0; i < 520; i += 20)
    await Promise.all(
      Array.from({ length: 20 }, async (_, j) =>
        expect((await connectThrough(proxy.port, long(i + j))).status).toBe(403)
      )
    )
  await waitFor(() => proxy.report().refused.reduce((n, r) => n + r.count, 0) === 520, 5000)
  const report = proxy.report()
  // Before the fix: 500 rows of 8 kB names, 4 MB in the post step's warning and the job summary
  // (past 1 MiB GitHub drops the summary, and the destinations the model's commands tried with it).
  expect(report.refused).toHaveLength(501)
  expect(Math.max(...report.refused.map((r) => r.destination.length))).toBeLessThanOrEqual(263)
  expect(JSON.stringify(report).length).toBeLessThan(256 * 1024)
}, 120_000)
