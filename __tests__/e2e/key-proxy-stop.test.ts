/**
 * Issue 20.5: only the post step can stop the key proxy in an orderly way. A `stop` file any
 * other process of the job writes in the proxy's directory is ignored, and after any end of
 * the proxy that is not the post step's (its deadline included) the guard keeps answering
 * with its clear error: a later `codex` call never meets silence and "Reconnecting…".
 */
import { useRunners } from '../harness/lifecycle.js'
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { parse } from 'smol-toml'
import { FakeOpenAI, REPLY } from '../harness/fake-openai.js'
import { alive, keyProxyProcesses, startedKeyProxy } from '../harness/processes.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { ROOT } from '../harness/runner.js'
import { HELPER_NODE_FLAGS } from '../../src/helpers/node-flags.js'

const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi']
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const runners = useRunners()

test('a stop file another process of the job writes does not stop the proxy; the post step still does', async () => {
  const api = await new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200 } }).start()
  runners.stopAfter(api)
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'api-base-url': api.apiBaseUrl,
    'codex-version': CODEX_VERSION
  })
  expect(main.errors).toEqual([])
  const processes = await startedKeyProxy(runner.root)
  expect(processes).toHaveLength(2)
  const config = parse(await fs.readFile(path.join(main.outputs['codex-home'], 'config.toml'), 'utf8')) as {
    model_providers: Record<string, { base_url: string }>
  }
  const base = Object.values(config.model_providers)[0].base_url
  // What a command the model runs could do: it can find the directory and write in it.
  const dir = main.state['key-proxy-dir']
  await fs.writeFile(path.join(dir, 'stop'), '')
  await sleep(1000)
  // Before the fix the proxy and its guard had both exited: nothing answered on the port.
  expect(
    await fetch(`${base}/models`).then(
      (r) => r.status,
      (e: Error) => e.message
    )
  ).toBe(200)
  const exec = await runner.run('codex', EXEC, { timeoutMs: 60_000 })
  expect(exec.stdout).toContain(REPLY)
  const post = await runner.post()
  expect(post.stdout).toMatch(/Key proxy \(pid \d+\): \d+ requests forwarded.*; stopped\./)
  for (let i = 0; i < 40 && processes.some((p) => alive(p.pid)); i++) await sleep(50)
  expect(processes.filter((p) => alive(p.pid))).toEqual([])
}, 180_000)

test("at its deadline the proxy ends, and its guard answers with the reason until the post step's stop", async () => {
  const api = await new FakeOpenAI({ apiKeys: { [TEST_API_KEY]: 200 } }).start()
  runners.stopAfter(api)
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'key-proxy-deadline-'))
  runners.stopAfter({ stop: () => fs.rm(root, { recursive: true, force: true }) })
  const dir = path.join(root, 'proxy')
  await fs.mkdir(dir, { mode: 0o700 })
  const capability = randomBytes(32).toString('base64url')
  const stopToken = randomBytes(32).toString('base64url')
  // Started as the main step starts it, with a deadline 1.5 s away instead of 6 hours.
  const child = spawn(process.execPath, [...HELPER_NODE_FLAGS, path.join(ROOT, 'dist', 'key-proxy', 'index.js')], {
    cwd: root,
    detached: true,
    stdio: ['pipe', 'pipe', 'ignore'],
    env: { PATH: process.env.PATH ?? '' }
  })
  child.stdin?.end(
    JSON.stringify({
      key: TEST_API_KEY,
      upstream: api.apiBaseUrl,
      capability,
      dir,
      stopToken,
      deadline: Date.now() + 1500
    })
  )
  const line = await new Promise<string>((resolve) =>
    child.stdout?.once('data', (chunk: Buffer) => resolve(`${chunk}`))
  )
  child.unref()
  const base = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}/${capability}/v1`
  expect((await fetch(`${base}/models`)).status).toBe(200)
  const processes = keyProxyProcesses(root)
  expect(processes).toHaveLength(2)
  await sleep(2500)
  // Before the fix the guard went with the proxy at the deadline: the port refused connections.
  const late = await fetch(`${base}/models`).then(
    async (r) => `${r.status} ${await r.text()}`,
    (e: Error) => e.message
  )
  expect(late).toMatch(/^410 .*key proxy \(pid \d+\) is no longer running.*time limit, 6 hours/)
  // A stop file without the token leaves the guard answering; the post step's ends it.
  await fs.writeFile(path.join(dir, 'stop'), 'not the token')
  await sleep(600)
  expect(processes.filter((p) => alive(p.pid))).toHaveLength(1)
  await fs.rm(path.join(dir, 'stop'))
  await fs.writeFile(path.join(dir, 'stop'), stopToken)
  for (let i = 0; i < 40 && processes.some((p) => alive(p.pid)); i++) await sleep(50)
  expect(processes.filter((p) => alive(p.pid))).toEqual([])
}, 60_000)
