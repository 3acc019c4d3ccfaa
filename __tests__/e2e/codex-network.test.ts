/**
 * codex-network with the real `codex exec` in the jail, a fake model (harness/attacker.js)
 * playing a prompt-injected one: its commands try a listed web server through the proxy
 * variables, an unlisted one, the metadata address, and the ways around the proxy (TCP
 * straight to the port, IPv6, UDP to a resolver). Codex's own turn must complete every time.
 * As root (the jail's root mode); the servers are on this machine's loopback, which the
 * jail's network namespace does not share.
 */
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import { AttackerModel } from '../harness/attacker.js'
import { useRunners } from '../harness/lifecycle.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { LoopbackServer } from '../harness/servers.js'

const runners = useRunners()

/**
 * Names for the two web servers, resolved to 127.0.0.1 by a hosts entry this file adds and
 * removes: the jail's NO_PROXY covers loopback addresses (the relay), so a command that
 * names a server by address would not use the proxy at all.
 */
const tag = randomBytes(4).toString('hex')
const ALLOWED = `allowed-${tag}.codex-network.test`
const UNLISTED = `unlisted-${tag}.codex-network.test`
const MARK = `# codex-network.test ${tag}`
beforeAll(() => fs.appendFile('/etc/hosts', `127.0.0.1 ${ALLOWED} ${UNLISTED} ${MARK}\n`))
afterAll(async () => {
  const hosts = await fs.readFile('/etc/hosts', 'utf8')
  await fs.writeFile(
    '/etc/hosts',
    hosts
      .split('\n')
      .filter((line) => !line.endsWith(MARK))
      .join('\n')
  )
})
const web = (name: string) => new LoopbackServer((req, res) => void res.end(`${name} ${req.url}`))
const EXEC = [
  'exec',
  '--dangerously-bypass-approvals-and-sandbox',
  '--skip-git-repo-check',
  '-c',
  'features.responses_websockets=false',
  'fix the bug'
]

/** The model's commands, each printing one line that the test reads back from its output. */
function attempts(allowed: number, unlisted: number): [string, string][] {
  return [
    ['listed, through the proxy', `curl -sS -m 10 http://${ALLOWED}:${allowed}/listed 2>&1`],
    ['listed, CONNECT', `curl -sS -m 10 -p http://${ALLOWED}:${allowed}/tunnel 2>&1`],
    ['unlisted, through the proxy', `curl -sS -m 10 -w ' %{http_code}' http://${UNLISTED}:${unlisted}/x 2>&1`],
    ['metadata, through the proxy', `curl -sS -m 10 -w ' %{http_code}' http://169.254.169.254/latest/ 2>&1`],
    ['listed, straight by TCP', `curl -sS -m 5 --noproxy '*' http://${ALLOWED}:${allowed}/direct 2>&1`],
    ['listed, by IPv6', `curl -sS -m 5 --noproxy '*' -6 'http://[::1]:${allowed}/v6' 2>&1`],
    ['UDP to a resolver', `bash --norc -c 'exec 3>/dev/udp/10.0.0.2/53 && echo sent' 2>&1`]
  ]
}

async function job(network: string | undefined, options: { config?: string; attempts?: typeof attempts } = {}) {
  const allowed = await runners.serve(web('allowed'))
  const unlisted = await runners.serve(web('unlisted'))
  const attacker = new AttackerModel((options.attempts ?? attempts)(allowed.port, unlisted.port))
  await runners.serve(attacker.server)
  const runner = await runners.create({ toolCache: sharedToolCache() })
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'api-base-url': attacker.apiBaseUrl,
    'codex-version': CODEX_VERSION,
    ...(network !== undefined && { 'codex-network': network.replaceAll('PORT', String(allowed.port)) }),
    ...(options.config && { config: options.config })
  })
  expect(main.errors).toEqual([])
  const codex = await runner.run('codex', EXEC, { timeoutMs: 180_000 })
  const said = Object.fromEntries(
    attacker.outputs.map(({ door, output }) => [
      door,
      (JSON.parse(output) as { text?: string }[]).map((o) => o.text ?? '').join('')
    ])
  )
  const post = await runner.post()
  return { main, codex, said, post, allowed, unlisted }
}

const ALL_DOORS = attempts(0, 0).map(([door]) => door)

test('a listed host: reached through the proxy; the rest refused and reported, nothing around the proxy', async () => {
  const { main, codex, said, post, allowed, unlisted } = await job(`${ALLOWED}:PORT`)
  expect(main.stdout).toContain(`codex-network: the model API and ${ALLOWED}:${allowed.port}`)
  // Codex's own turn completed: the model's last answer came back.
  expect(codex.stdout).toContain('all done')
  expect(Object.keys(said)).toEqual(ALL_DOORS)
  expect(said['listed, through the proxy']).toContain('allowed /listed')
  expect(said['listed, CONNECT']).toContain('allowed /tunnel')
  expect(said['unlisted, through the proxy']).toContain(
    `codex-auth-action: ${UNLISTED}:${unlisted.port} is not in codex-network\n 403`
  )
  expect(said['metadata, through the proxy']).toContain('codex-auth-action: 169.254.169.254:80 is not in codex-network')
  expect(said['listed, straight by TCP']).toMatch(/Couldn't connect|Failed to connect/)
  expect(said['listed, by IPv6']).toMatch(/Couldn't connect|Failed to connect|Network is unreachable/)
  expect(said['UDP to a resolver']).toMatch(/Network is unreachable/)
  expect(allowed.requests.map((r) => r.url)).toEqual(['/listed', '/tunnel'])
  expect(unlisted.requests).toEqual([])
  // Every refusal in one warning: the model's, and none of Codex's own (config.toml turns its background requests off).
  const warning = /::warning::codex-network refused \d+ connections from Codex's jail.*/.exec(post.stdout)?.[0] ?? ''
  expect(warning).toContain('refused 2 connections')
  expect(warning).toContain(`${UNLISTED}:${unlisted.port} (1, first at 20`)
  expect(warning).toContain('169.254.169.254:80 (1, first at 20')
  expect(warning).not.toContain(ALLOWED)
  expect(post.stdout).not.toMatch(/github\.com|chatgpt\.com|background request/)
  expect(post.summary).toContain(
    `<td>${UNLISTED}:${unlisted.port}</td><td>refused: not in codex-network</td><td>1</td>`
  )
  expect(post.summary).toContain(`<td>${ALLOWED}:${allowed.port}</td><td>allowed</td><td>2</td>`)
}, 300_000)

test('none: the model API only, even the listed server is refused; open: as without the action', async () => {
  const none = await job('none')
  expect(none.codex.stdout).toContain('all done')
  expect(none.said['listed, through the proxy']).toContain(
    `codex-auth-action: ${ALLOWED}:${none.allowed.port} is not in codex-network`
  )
  expect(none.allowed.requests).toEqual([])
  const open = await job('open')
  expect(open.main.stdout).toMatch(/::notice::codex-network: open/)
  expect(open.codex.stdout).toContain('all done')
  expect(open.said['listed, straight by TCP']).toContain('allowed /direct')
}, 400_000)

test("the default list: a command's refused host warns; Codex's own background requests, turned on in config, are a notice apart", async () => {
  const unlistedOnly = (_allowed: number, unlisted: number): [string, string][] => [
    ['unlisted, through the proxy', `curl -sS -m 10 -w ' %{http_code}' http://${UNLISTED}:${unlisted}/x 2>&1`]
  ]
  const { codex, said, post, unlisted } = await job(undefined, {
    config: '[features]\nplugins = true\n',
    attempts: unlistedOnly
  })
  expect(codex.stdout).toContain('all done')
  expect(said['unlisted, through the proxy']).toContain(`${UNLISTED}:${unlisted.port} is not in codex-network\n 403`)
  const warnings = post.stdout.split('\n').filter((line) => line.startsWith('::warning::'))
  expect(warnings).toEqual([
    expect.stringMatching(
      new RegExp(
        `^::warning::codex-network refused 1 connections .* to 1 destinations: ${UNLISTED}:${unlisted.port} \\(1, `
      )
    )
  ])
  // The plugin sync's hosts, which config turned back on; analytics stays off.
  const notice =
    post.stdout.split('\n').find((line) => line.startsWith("::notice::codex-network refused Codex's own")) ?? ''
  for (const host of ['github.com:443', 'api.github.com:443', 'chatgpt.com:443']) expect(notice).toContain(` ${host} (`)
  expect(notice).not.toContain('ab.chatgpt.com')
  expect(post.summary).toContain("<td>github.com:443</td><td>refused: Codex's own background request</td>")
}, 300_000)
