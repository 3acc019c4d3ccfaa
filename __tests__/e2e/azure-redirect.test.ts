/**
 * Issue 20.1: Codex never holds an Azure key in a header a redirect carries. Codex's client
 * re-sends a custom `api-key` header (from config.toml's http_headers) across a cross-origin
 * redirect, so an Azure key goes through the key proxy always (which follows no redirect),
 * and `key-isolation: none` with Azure is refused. The real CLI against an Azure endpoint that
 * redirects every request, upgrade included, to another origin.
 */
import { useRunners } from '../harness/lifecycle.js'
import { FakeOpenAI } from '../harness/fake-openai.js'
import { CODEX_VERSION, sharedToolCache } from '../harness/real-cli.js'
import { LoopbackServer, sendJson } from '../harness/servers.js'

const AZURE_KEY = 'a1b2c3d4e5f60718293a4b5c6d7e8f90'
const EXEC = ['exec', '--skip-git-repo-check', '--ephemeral', 'say hi']
const runners = useRunners()

const newRunner = () => runners.create({ toolCache: sharedToolCache() })

test('an Azure endpoint that redirects to another origin: codex exec never sends the key there', async () => {
  // The other origin would serve a turn, so that a client that follows the redirect gets somewhere.
  const elsewhere = await new FakeOpenAI({ apiKeys: { [AZURE_KEY]: 200 }, azure: true }).start()
  const azure = await new LoopbackServer((req, res) => {
    res.writeHead(307, { location: `${elsewhere.server.origin}${req.url}` })
    res.end()
  }).start()
  azure.onUpgrade = (req, socket) =>
    socket.end(
      `HTTP/1.1 307 Temporary Redirect\r\nlocation: ${elsewhere.server.origin}${req.url}\r\ncontent-length: 0\r\n\r\n`
    )
  runners.stopAfter(elsewhere)
  runners.stopAfter(azure)
  const runner = await newRunner()
  const main = await runner.main({
    'api-key': AZURE_KEY,
    'api-base-url': `${azure.origin}/openai/v1`,
    'codex-version': CODEX_VERSION
  })
  expect(main.errors).toEqual([])
  await runner.run('codex', EXEC, { timeoutMs: 30_000 })
  await runner.post()
  // The proxy gave the key to the endpoint itself, and Codex went there.
  expect(azure.requests.map((r) => r.headers['api-key'])).toContain(AZURE_KEY)
  // Before the fix, Codex sent its config.toml api-key header along with the redirect.
  const carried = elsewhere.server.requests.filter((r) => JSON.stringify(r.headers).includes(AZURE_KEY))
  expect(carried.map((r) => `${r.method} ${r.url}`)).toEqual([])
}, 120_000)

test('Azure with key-isolation: none is refused: one clear error, nothing written', async () => {
  const azure = await new LoopbackServer((_req, res) => sendJson(res, 200, {})).start()
  runners.stopAfter(azure)
  const runner = await newRunner()
  const main = await runner.main({
    'api-key': AZURE_KEY,
    'api-base-url': `${azure.origin}/openai/v1`,
    'key-isolation': 'none',
    'codex-version': CODEX_VERSION
  })
  await runner.post()
  expect(main.exitCode).toBe(1)
  expect(main.errors).toEqual([
    expect.stringMatching(/^::error::key-isolation: none cannot be used with an Azure OpenAI api-base-url: /)
  ])
  expect(azure.requests).toEqual([])
  expect(await runner.tempFiles()).toEqual([])
})
