/**
 * Combinations between the features that an outside review found broken, each failing
 * before its fix: a ChatGPT sign-in in a codex-home the action had to create, a key proxy
 * whose directory vanished, proxy variables the key proxy cannot use, and a codex-home
 * that is a file.
 */
import { existsSync, promises as fs } from 'node:fs'
import * as path from 'node:path'
import { chatgptAuth, type ChatgptFile } from '../harness/chatgpt-auth.js'
import { standInJobs } from '../harness/fake-package.js'
import { alive, keyProxyProcesses } from '../harness/processes.js'

const API_KEY = 'sk-proj-reviewFinalKey0123456789abcdefABCDEF'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const job = standInJobs()

function signIn(options: Parameters<typeof chatgptAuth>[0] = {}): ChatgptFile {
  const file = chatgptAuth(options)
  for (const secret of file.secrets) job.runner.canaries.add(secret)
  return file
}

test('chatgpt + a codex-home that does not exist yet (way 1, first job): the refreshed auth.json stays after the post step', async () => {
  const home = path.join(job.runner.root, 'persistent-home-new')
  job.runner.keptCredentials.add(path.join(home, 'auth.json'))
  const seed = signIn()
  const main = await job.runner.main({ install: 'false', 'auth-json': seed.text, 'codex-home': home }, job.codexEnv)
  expect(main.errors).toEqual([])
  expect(main.stdout).toContain(`auth.json in codex-home ${home} is the credential's home: it stays after the job`)
  // Codex refreshes the sign-in during the job.
  const fresh = signIn({ lastRefresh: new Date(), pretty: true })
  await fs.writeFile(path.join(home, 'auth.json'), fresh.text)
  const post = await job.runner.post()
  expect(post.summary).toMatch(/Persisted.*kept in codex-home/s)
  expect(post.stdout).not.toMatch(/::warning::/)
  // Promised: "That auth.json stays after the job".
  expect(existsSync(path.join(home, 'auth.json'))).toBe(true)
})

test('key proxy whose directory is removed during the job: the post step leaves no helper process running', async () => {
  const main = await job.runner.main(
    { install: 'false', 'api-key': API_KEY, 'key-isolation': 'proxy', 'api-base-url': 'http://127.0.0.1:9/v1' },
    job.codexEnv
  )
  expect(main.errors).toEqual([])
  const dir = main.state['key-proxy-dir']
  const ours = keyProxyProcesses(job.runner.root).map((p) => p.pid)
  expect(ours).toHaveLength(2)
  // README: "If something kills it during the job (or removes its directory) … the guard … until the post step (or the 6-hour limit) ends it."
  await fs.rm(dir, { recursive: true, force: true })
  await sleep(500)
  const post = await job.runner.post()
  expect(post.exitCode).toBe(0)
  for (let i = 0; i < 40 && ours.some(alive); i++) await sleep(100)
  const left = ours.filter(alive)
  for (const pid of left) process.kill(pid, 'SIGKILL')
  expect(left).toEqual([])
}, 60_000)

test('key proxy + a malformed HTTPS_PROXY: one clear ::error::, not "Unexpected failure … bug"', async () => {
  const main = await job.runner.main(
    { install: 'false', 'api-key': API_KEY, 'key-isolation': 'proxy', 'api-base-url': 'https://api.example.test/v1' },
    { ...job.codexEnv, HTTPS_PROXY: 'http://[bad' }
  )
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).not.toMatch(/Unexpected failure|bug in codex-auth-action/)
  expect(await job.runner.tempFiles()).toEqual([])
}, 60_000)

test('key proxy + a codex-home that is a regular file: the error says what is wrong (not "has its own config.toml")', async () => {
  const file = path.join(job.runner.root, 'not-a-dir')
  await fs.writeFile(file, 'x')
  const main = await job.runner.main(
    { install: 'false', 'api-key': API_KEY, 'key-isolation': 'proxy', 'codex-home': file },
    job.codexEnv
  )
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).not.toMatch(/has its own config\.toml/)
})

test('key proxy + ALL_PROXY=socks5://… (a common runner setting): one clear ::error::, not "Unexpected failure … bug"', async () => {
  const main = await job.runner.main(
    { install: 'false', 'api-key': API_KEY, 'key-isolation': 'proxy', 'api-base-url': 'https://api.example.test/v1' },
    { ...job.codexEnv, ALL_PROXY: 'socks5://127.0.0.1:1080' }
  )
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).not.toMatch(/Unexpected failure|bug in codex-auth-action/)
}, 60_000)
