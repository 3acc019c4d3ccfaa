/**
 * Later steps cannot steer the post step. Any step between the main and the post step, and
 * any command Codex runs, can write GITHUB_ENV and GITHUB_PATH, which the runner applies to
 * the post step too. Each scenario sets something the post step could read there (proxy
 * variables, CA variables, TLS switches, GITHUB_API_URL, PATH, HOME, STATE_*), lets "Codex"
 * refresh the ChatGPT sign-in, and runs the post step: persist-token goes nowhere the main
 * step did not approve, the secret really holds the refreshed file, and "written" is said
 * only of a write GitHub confirmed.
 */
import { promises as fs } from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as net from 'node:net'
import * as path from 'node:path'
import { chatgptAuth, type ChatgptFile } from '../harness/chatgpt-auth.js'
import { FakeGitHub } from '../harness/fake-github.js'
import { standInCodex } from '../harness/fake-package.js'
import { ForwardProxy } from '../harness/proxy.js'
import { Runner } from '../harness/runner.js'
import { makeTestCa } from '../harness/test-ca.js'

const SECRET = 'CODEX_AUTH_JSON'
const PERSIST_TOKEN = `github_pat_${Math.random().toString(36).slice(2)}${Math.random().toString(36).slice(2)}`

let runner: Runner
let codexEnv: Record<string, string>
const stops: (() => Promise<void>)[] = []

beforeEach(async () => {
  runner = await Runner.create()
  codexEnv = (await standInCodex(runner.root)).env
})

afterEach(async () => {
  for (const stop of stops.splice(0).reverse()) await stop()
  await runner.dispose()
})

async function started<T extends { stop(): Promise<void> }>(thing: Promise<T>): Promise<T> {
  const value = await thing
  stops.push(() => value.stop())
  return value
}

function signIn(options: Parameters<typeof chatgptAuth>[0] = {}): ChatgptFile {
  const file = chatgptAuth(options)
  for (const secret of file.secrets) runner.canaries.add(secret)
  return file
}

/**
 * The attacker's end of a TLS-intercepting proxy: every CONNECT, whatever host it names,
 * is tunnelled to `port` (a server with a certificate of the attacker's CA for 127.0.0.1).
 */
async function interceptingProxy(port: number): Promise<{ url: string; connects: string[]; stop(): Promise<void> }> {
  const connects: string[] = []
  const sockets = new Set<net.Socket>()
  const server = http.createServer((req, res) => {
    connects.push(req.url ?? '')
    res.writeHead(502).end()
  })
  server.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    connects.push(req.url ?? '')
    const upstream = net.connect(port, '127.0.0.1', () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      upstream.pipe(client)
      client.pipe(upstream)
    })
    for (const socket of [client, upstream]) {
      sockets.add(socket)
      socket.on('error', () => undefined)
      socket.on('close', () => sockets.delete(socket))
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connects,
    async stop() {
      for (const socket of sockets) socket.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}

/** The main step with persistence, then Codex's refresh; returns the refreshed file. */
async function mainThenRefresh(github: FakeGitHub, inputs: Record<string, string> = {}): Promise<ChatgptFile> {
  github.addSecret(SECRET)
  const main = await runner.main(
    {
      install: 'false',
      'auth-json': signIn().text,
      // Codex (the stand-in) refreshes auth.json in CODEX_HOME itself: what the post step then writes back.
      'key-isolation': 'none',
      'persist-secret': SECRET,
      'persist-token': PERSIST_TOKEN,
      ...inputs
    },
    { ...codexEnv, ...github.env() }
  )
  expect(main.errors).toEqual([])
  const fresh = signIn({ lastRefresh: new Date(), pretty: true })
  await fs.writeFile(path.join(main.outputs['codex-home'], 'auth.json'), fresh.text)
  return fresh
}

/** What a later step wrote to GITHUB_ENV, as the runner hands it to the post step. */
function laterStepSets(env: Record<string, string>): void {
  Object.assign(runner.exported, env)
}

test('the issue: a later step adds HTTPS_PROXY and NODE_EXTRA_CA_CERTS; persist-token and the sealed box still go only to the API main checked', async () => {
  const ours = makeTestCa('GitHub Test Root CA')
  const theirs = makeTestCa('Attacker Root CA')
  const github = await started(new FakeGitHub(PERSIST_TOKEN, ours.server).start())
  // The attacker's own "GitHub": it takes any token and can open what is sealed for its key.
  const evil = await started(new FakeGitHub(PERSIST_TOKEN, theirs.server).start())
  const proxy = await started(interceptingProxy(evil.server.port))
  const fresh = await mainThenRefresh(github, { 'ca-certificate': ours.ca })
  const theirCa = path.join(runner.root, 'attacker-ca.pem')
  await fs.writeFile(theirCa, theirs.ca)
  laterStepSets({ HTTPS_PROXY: proxy.url, https_proxy: proxy.url, NODE_EXTRA_CA_CERTS: theirCa })

  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(proxy.connects).toEqual([])
  expect(evil.server.requests).toEqual([])
  expect(github.secret(SECRET)?.value).toBe(fresh.text)
  expect(post.stdout).toMatch(
    /::warning::HTTPS_PROXY, https_proxy, NODE_EXTRA_CA_CERTS changed after the main step .*The post step ignores the change/
  )
  expect(post.stdout).toMatch(
    /Wrote the refreshed auth\.json to the repository secret CODEX_AUTH_JSON of acme\/app; GitHub reports it updated at 20/
  )
})

test('without a CA of its own: a proxy for every scheme, an emptied NO_PROXY and TLS checks turned off do not reroute the write', async () => {
  const github = await started(new FakeGitHub(PERSIST_TOKEN).start())
  const proxy = await started(new ForwardProxy().start())
  const fresh = await mainThenRefresh(github)
  laterStepSets({
    HTTP_PROXY: proxy.url,
    http_proxy: proxy.url,
    HTTPS_PROXY: proxy.url,
    ALL_PROXY: proxy.url,
    NO_PROXY: '',
    NODE_TLS_REJECT_UNAUTHORIZED: '0'
  })
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect([...proxy.connects, ...proxy.forwarded]).toEqual([])
  expect(github.secret(SECRET)?.value).toBe(fresh.text)
  expect(post.stdout).toMatch(
    /::warning::HTTPS_PROXY, HTTP_PROXY, http_proxy, ALL_PROXY, NO_PROXY, NODE_TLS_REJECT_UNAUTHORIZED changed after the main step/
  )
})

test('GITHUB_API_URL, GITHUB_REPOSITORY, PATH, HOME and RUNNER_TEMP changed by a later step: the post step uses what main saved', async () => {
  const github = await started(new FakeGitHub(PERSIST_TOKEN).start())
  const evil = await started(new FakeGitHub(PERSIST_TOKEN).start())
  evil.addSecret(SECRET)
  const fresh = await mainThenRefresh(github)
  // A directory of look-alike tools first on PATH: the post step runs none of them.
  const bin = path.join(runner.root, 'evil-bin')
  const ran = path.join(runner.root, 'evil-ran')
  await fs.mkdir(bin)
  for (const tool of ['node', 'codex', 'gh', 'git', 'curl'])
    await fs.writeFile(path.join(bin, tool), `#!/bin/sh\necho ${tool} >> '${ran}'\n`, { mode: 0o755 })
  const elsewhere = path.join(runner.root, 'elsewhere')
  await fs.mkdir(elsewhere)
  laterStepSets({
    GITHUB_API_URL: evil.server.origin,
    GITHUB_REPOSITORY: 'acme/app',
    HOME: elsewhere,
    RUNNER_TEMP: elsewhere
  })
  runner.paths.unshift(bin)
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(evil.server.requests).toEqual([])
  expect(await fs.readFile(ran, 'utf8').catch(() => 'nothing ran')).toBe('nothing ran')
  expect(github.secret(SECRET)?.value).toBe(fresh.text)
  expect(await fs.readdir(elsewhere)).toEqual([])
})

test('a write GitHub does not confirm is an error, never "Wrote"', async () => {
  const github = await started(new FakeGitHub(PERSIST_TOKEN).start())
  await mainThenRefresh(github)
  // 204 without recording anything: the secret's updated_at stays as it was.
  github.faults.set('PUT secret', [204])
  const post = await runner.post()
  expect(post.exitCode).toBe(1)
  expect(post.stdout).not.toMatch(/Wrote the refreshed auth\.json/)
  expect(post.errors).toEqual([
    expect.stringMatching(
      /^::error::The refreshed auth\.json was not written back: GitHub answered the write to the repository secret CODEX_AUTH_JSON of acme\/app, but the secret's updated_at did not change \(2026-01-01T00:00:00Z\), so the write is not confirmed\./
    )
  ])
  expect(post.summary).toMatch(/Persisted.*❌ failed/s)
})

test('STATE_* a later step sets for keys a failed main step never saved are not the post step state', async () => {
  const evil = await started(new FakeGitHub(PERSIST_TOKEN).start())
  evil.addSecret(SECRET)
  // The main step fails on its inputs, before it chose a source; the workflow still gives persist-token.
  const main = await runner.main(
    {
      install: 'false',
      'auth-json': signIn().text,
      // Codex (the stand-in) refreshes auth.json in CODEX_HOME itself: what the post step then writes back.
      'key-isolation': 'none',
      'persist-secret': SECRET,
      'persist-token': PERSIST_TOKEN,
      'codex-version': 'not a version!'
    },
    codexEnv
  )
  expect(main.exitCode).toBe(1)
  // A later step (if: always()) forges the state of a ChatGPT source that persists to its own API.
  const planted = path.join(runner.root, 'planted-home')
  await fs.mkdir(planted)
  await fs.writeFile(path.join(planted, 'auth.json'), chatgptAuth({ lastRefresh: new Date() }).text)
  const forged = {
    home: planted,
    named: true,
    seedHash: 'not the hash',
    startedAt: Date.now(),
    persist: { apiUrl: evil.server.origin, owner: 'acme', repo: 'app', secret: SECRET, updatedAt: '' },
    idleTimeoutMs: 5000
  }
  laterStepSets({
    STATE_source: 'chatgpt',
    STATE_chatgpt: JSON.stringify(forged),
    'STATE_key-proxy-dir': planted,
    'STATE_refresher-dir': planted,
    'STATE_created-paths': JSON.stringify([planted])
  })
  const post = await runner.post()
  expect(evil.server.requests).toEqual([])
  expect(post.exitCode).toBe(0)
  expect(post.errors).toEqual([])
  expect((await fs.readdir(planted)).sort()).toEqual(['auth.json'])
})
