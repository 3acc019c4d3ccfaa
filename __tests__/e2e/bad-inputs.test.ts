/**
 * Inputs a workflow author can get wrong, through the bundled action: each ends in exit
 * 1 and exactly one `::error::` line that names the input and says what to do, with no
 * stack trace, no secret, nothing left under RUNNER_TEMP and an untouched tool cache.
 */
import { generateKeyPairSync } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { standInCodex } from '../harness/fake-package.js'
import { useRunners } from '../harness/lifecycle.js'
import { TEST_API_KEY } from '../harness/real-cli.js'
import { listFiles, type Runner } from '../harness/runner.js'

const runners = useRunners()
let runner: Runner

beforeEach(async () => {
  runner = await runners.create()
})

async function expectRejected(inputs: Record<string, string>, pattern: RegExp, secrets: string[] = []) {
  const main = await runner.main({ 'registry-url': 'http://127.0.0.1:9', ...inputs })
  expect(main.exitCode).toBe(1)
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).toMatch(pattern)
  const output = main.stdout + main.stderr
  expect(output).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m)
  for (const secret of secrets.filter(Boolean)) {
    const lines = output.split('\n').filter((line) => !line.startsWith('::add-mask::'))
    expect(lines.filter((line) => line.includes(secret))).toEqual([])
  }
  expect(main.exported).toEqual({})
  expect(main.outputs).toEqual({})
  expect(await runner.tempFiles()).toEqual([])
  expect(await listFiles(runner.toolCache)).toEqual([])
}

const key = TEST_API_KEY

test.each([
  [
    'no credential',
    {},
    /api-key and access-token are both empty\. Set one of them from a secret, or use federation-rule-id for GitHub OIDC\. Secrets are not passed to workflows triggered by a pull request from a fork or by Dependabot/
  ],
  ['whitespace-only credential', { 'api-key': '   \n  ' }, /both empty/],
  ['both credentials', { 'api-key': key, 'access-token': 'at-abcdefghijklmnopqrstu' }, /both set/],
  ['a rotation list with an empty line', { 'api-key': `${key}\n\n${key}x` }, /api-key line 2 is empty/],
  [
    'a rotation list with a bad second line',
    { 'api-key': `${key}\nnot-a-key` },
    /api-key line 2 does not look like an OpenAI API key/
  ],
  ['a key with a control character', { 'api-key': `${key}\u001b[0m` }, /api-key contains a control character/],
  ['a key of the wrong shape', { 'api-key': 'not-a-key-%::$"\\' }, /api-key does not look like an OpenAI API key/],
  [
    'a token of the wrong shape',
    { 'access-token': 'Bearer abc' },
    /access-token does not look like a Codex access token/
  ],
  ['a bad version', { 'api-key': key, 'codex-version': '1.2.3.4' }, /codex-version "1\.2\.3\.4" is not a version/],
  [
    'an ftp registry',
    { 'api-key': key, 'registry-url': 'ftp://mirror.example.com' },
    /registry-url must be an http or https URL/
  ],
  [
    'a registry with credentials',
    { 'api-key': key, 'registry-url': 'https://u:p@mirror.example.com' },
    /registry-url must not contain credentials/
  ],
  ['a relative codex-home', { 'api-key': key, 'codex-home': 'codex' }, /codex-home "codex" is not an absolute path/],
  ['install: yes', { 'api-key': key, install: 'yes' }, /install must be true or false, not "yes"/],
  ['export-env: 1', { 'api-key': key, 'export-env': '1' }, /export-env must be true or false/],
  ['verify: on', { 'api-key': key, verify: 'on' }, /verify must be true or false/],
  ['allow-untrusted: y', { 'api-key': key, 'allow-untrusted': 'y' }, /allow-untrusted must be true or false/],
  [
    'allow-secret-in-shell: yes',
    { 'api-key': key, 'allow-secret-in-shell': 'yes' },
    /allow-secret-in-shell must be true or false/
  ],
  [
    'config with an auto store',
    { 'api-key': key, config: 'cli_auth_credentials_store = "auto"' },
    /config sets cli_auth_credentials_store = "auto", which keeps the login in the macOS keychain/
  ],
  [
    'a bad api-base-url',
    { 'api-key': key, 'api-base-url': 'api.openai.com' },
    /api-base-url "api\.openai\.com" is not a URL/
  ],
  [
    'expiry-warning-days: -3',
    { 'api-key': key, 'expiry-warning-days': '-3' },
    /expiry-warning-days must be a number from 0 to 365/
  ],
  [
    'network-idle-timeout: 0',
    { 'api-key': key, 'network-idle-timeout': '0' },
    /network-idle-timeout must be a number from 1 to 600/
  ],
  [
    'a registry-token with a space',
    { 'api-key': key, 'registry-token': 'abc def' },
    /registry-token contains white space/
  ],
  ['config that is not TOML', { 'api-key': key, config: 'model = ' }, /config is not valid TOML at line 1/],
  [
    'config with a keyring store',
    { 'api-key': key, config: 'cli_auth_credentials_store = "keyring"' },
    /config sets cli_auth_credentials_store = "keyring"/
  ],
  [
    'config forcing ChatGPT login with an API key',
    { 'api-key': key, config: 'forced_login_method = "chatgpt"' },
    /config sets forced_login_method = "chatgpt", but the action logs in with api-key/
  ],
  [
    'a key with DEL',
    { 'api-key': `sk-${'a'.repeat(10)}\u007f${'b'.repeat(10)}` },
    /api-key contains a control character/
  ],
  ['a 10 KB key', { 'api-key': `sk-${'a'.repeat(10_240)}` }, /api-key does not look like an OpenAI API key/],
  ['a key in quotes', { 'api-key': `"${key}"` }, /api-key does not look like an OpenAI API key/],
  [
    'a key with a $ and a backslash',
    { 'api-key': 'sk-abc$def\\ghijklmnopqrstuvwxyz' },
    /api-key does not look like an OpenAI API key/
  ],
  [
    'an access token that is an API key',
    { 'access-token': key },
    /access-token does not look like a Codex access token/
  ],
  [
    'an access token with two dots only',
    { 'access-token': 'abc.def' },
    /access-token does not look like a Codex access token/
  ],
  [
    'six rotation lines',
    { 'api-key': Array.from({ length: 6 }, (_, i) => `${key}${i}`).join('\n') },
    /api-key holds 6 lines; a rotation needs at most 5/
  ],
  ['a repeated rotation line', { 'api-key': `${key}\n${key}` }, /api-key line 2 repeats line 1/],
  ['an empty version range', { 'api-key': key, 'codex-version': '>=' }, /codex-version ">=" is not a version/],
  [
    'a version with a trailing hyphen',
    { 'api-key': key, 'codex-version': '1.2.3-' },
    /codex-version "1\.2\.3-" is not a version/
  ],
  [
    'a dist-tag with a bang',
    { 'api-key': key, 'codex-version': 'latest!' },
    /codex-version "latest!" is not a version/
  ],
  [
    'a file: registry',
    { 'api-key': key, 'registry-url': 'file:///srv/npm' },
    /registry-url must be an http or https URL, not file:/
  ],
  [
    'a registry with a query',
    { 'api-key': key, 'registry-url': 'https://npm.example.com/?token=abc' },
    /registry-url must not have a query or a fragment/
  ],
  ['install: 1', { 'api-key': key, install: '1' }, /install must be true or false, not "1"/],
  ['export-node-ca: no', { 'api-key': key, 'export-node-ca': 'no' }, /export-node-ca must be true or false/],
  [
    'a codex-home that cannot be created',
    { 'api-key': key, 'codex-home': '/etc/hosts/codex-home' },
    /codex-home \/etc\/hosts\/codex-home cannot be used \(ENOTDIR: /
  ],
  [
    'a codex-home longer than the OS allows',
    { 'api-key': key, 'codex-home': `/tmp/${'x'.repeat(300)}` },
    /codex-home \/tmp\/x+ cannot be used \(ENAMETOOLONG: /
  ],
  ['a CA that is garbage', { 'api-key': key, 'ca-certificate': 'garbage' }, /ca-certificate holds no certificate/],
  [
    'a CA file that does not exist',
    { 'api-key': key, 'ca-certificate-file': '/nonexistent/ca.pem' },
    /ca-certificate-file \/nonexistent\/ca\.pem does not exist/
  ],
  [
    'a CA file that is a directory',
    { 'api-key': key, 'ca-certificate-file': '/' },
    /ca-certificate-file \/ is not a file/
  ],
  [
    'config forcing API login with an access token',
    // key-isolation: none: Codex's own login (the key proxy would check the token at AuthAPI first).
    { 'access-token': 'at-abcdefghijklmnopqrstu', config: 'forced_login_method = "api"', 'key-isolation': 'none' },
    /forced_login_method = "api", but the action logs in with access-token/
  ]
])('%s', async (_name, inputs, pattern) => {
  const given: Record<string, string> = inputs
  await expectRejected(
    given,
    pattern,
    [given['api-key'] ?? '', given['access-token'] ?? ''].map((s) => s.trim())
  )
})

test('a codex-home inside the workspace', async () => {
  await expectRejected(
    { 'api-key': key, 'codex-home': path.join(runner.workspace, '.codex') },
    /codex-home .+ is inside the workspace/
  )
  await expect(fs.access(path.join(runner.workspace, '.codex'))).rejects.toThrow()
})

test('a codex-home inside the workspace reached through a symlinked parent is refused', async () => {
  const link = path.join(runner.root, 'ws-link')
  await fs.symlink(runner.workspace, link)
  const main = await runner.main(
    { install: 'false', 'api-key': TEST_API_KEY, 'codex-home': path.join(link, 'codex') },
    (await standInCodex(runner.root)).env
  )
  const landed = await fs.stat(path.join(runner.workspace, 'codex', 'auth.json')).then(
    () => true,
    () => false
  )
  await runner.post()
  expect({ exitCode: main.exitCode, authJsonInWorkspace: landed }).toEqual({
    exitCode: 1,
    authJsonInWorkspace: false
  })
  expect(main.errors).toEqual([
    expect.stringMatching(
      /^::error::codex-home \S+\/ws-link\/codex is inside the workspace, where auth\.json could be committed/
    )
  ])
})

test('a new codex-home whose entries would exceed PATH_MAX gives a clear error naming codex-home', async () => {
  // Each component is short; the directory itself fits in PATH_MAX (4096) but config.toml inside it does not.
  let named = path.join(runner.root, 'h')
  while (named.length + 201 <= 4090) named = path.join(named, 'd'.repeat(200))
  named = path.join(named, 'e'.repeat(4090 - named.length - 1))
  expect(named.length).toBe(4090)
  const main = await runner.main(
    { install: 'false', 'api-key': TEST_API_KEY, 'codex-home': named },
    (await standInCodex(runner.root)).env
  )
  await runner.post()
  expect(main.exitCode).toBe(1)
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).not.toMatch(/Unexpected failure/)
  expect(main.errors[0]).toMatch(/codex-home/)
  expect(main.errors[0]).toMatch(
    /^::error::codex-home \S+ cannot be used \(ENAMETOOLONG: the name is longer than this OS allows\)\. Name a directory the runner's user can create and write, or leave codex-home empty\.$/
  )
})

test('a codex-home that is a file', async () => {
  const file = path.join(runner.root, 'file')
  await fs.writeFile(file, 'x')
  await expectRejected({ 'api-key': key, 'codex-home': file }, /codex-home .+ exists and is not a directory/)
})

test('a codex-home that is a symlink', async () => {
  const target = path.join(runner.root, 'real')
  await fs.mkdir(target)
  await fs.symlink(target, path.join(runner.root, 'link'))
  await expectRejected(
    { 'api-key': key, 'codex-home': path.join(runner.root, 'link') },
    /codex-home .+ is a symbolic link/
  )
  expect(await fs.readdir(target)).toEqual([])
})

test('a codex-home whose config.toml keeps credentials in a keyring', async () => {
  const home = path.join(runner.root, 'home')
  await fs.mkdir(home)
  await fs.writeFile(path.join(home, 'config.toml'), 'cli_auth_credentials_store = "keyring"\n')
  await expectRejected(
    { 'api-key': key, 'codex-home': home },
    /codex-home's config\.toml sets cli_auth_credentials_store = "keyring"/
  )
  expect(await fs.readdir(home)).toEqual(['config.toml'])
})

test('a CA that is a private key is refused without echoing it', async () => {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const main = await runner.main({ 'api-key': key, 'ca-certificate': pem })
  expect(main.errors).toEqual([
    '::error::ca-certificate block 1 is a private key. A CA bundle holds only public certificates: remove the key (and replace it if it was ever shared).'
  ])
  const body = pem.split(/\r?\n/)[1]
  expect(main.stdout.split('\n').filter((l) => !l.startsWith('::add-mask::') && l.includes(body))).toEqual([])
  expect(await runner.tempFiles()).toEqual([])
})

test('an empty CA file is refused', async () => {
  const file = path.join(runner.root, 'empty.pem')
  await fs.writeFile(file, '')
  await expectRejected({ 'api-key': key, 'ca-certificate-file': file }, /ca-certificate-file holds no certificate/)
})

test.each(['auth.json', 'config.toml', 'log', 'shell_snapshots'])(
  'a codex-home with a planted symlink %s is refused, and the link is not followed',
  async (name) => {
    const home = path.join(runner.root, 'home')
    const target = path.join(runner.root, 'elsewhere')
    await fs.mkdir(home)
    await fs.writeFile(target, 'untouched')
    await fs.symlink(target, path.join(home, name))
    await expectRejected(
      { 'api-key': key, 'codex-home': home },
      new RegExp(`codex-home .+ holds a symbolic link ${name}`)
    )
    expect(await fs.readFile(target, 'utf8')).toBe('untouched')
  }
)
