/**
 * A self-hosted runner behind a TLS-intercepting proxy, on loopback: a registry and an
 * OpenAI endpoint whose certificates come from a CA the test makes, a forwarding proxy,
 * and the CA given to the action as ca-certificate or ca-certificate-file.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { FakeOpenAI, REPLY } from '../harness/fake-openai.js'
import { registryWithRelease } from '../harness/fake-package.js'
import type { FakeRegistry } from '../harness/fake-registry.js'
import { useRunners } from '../harness/lifecycle.js'
import { ForwardProxy } from '../harness/proxy.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from '../harness/real-cli.js'
import { listFiles, type Runner } from '../harness/runner.js'
import { makeTestCa } from '../harness/test-ca.js'

const pki = makeTestCa()
let registry: FakeRegistry
let proxy: ForwardProxy
const runners = useRunners()
const servers = useRunners({ scope: 'all' })
const newRunner = (toolCache?: string) => runners.create({ toolCache })

beforeAll(async () => {
  registry = servers.stopAfter(await registryWithRelease('1.0.0', pki.server))
  proxy = await servers.serve(new ForwardProxy())
})

async function expectRejected(
  runner: Runner,
  inputs: Record<string, string>,
  pattern: RegExp,
  env: Record<string, string> = {}
) {
  const main = await runner.main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url, ...inputs }, env)
  expect(main.exitCode).toBe(1)
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).toMatch(pattern)
  expect(await runner.tempFiles()).toEqual([])
  expect(await listFiles(runner.toolCache)).toEqual([])
  return main
}

test('without the CA, the HTTPS registry fails with a TLS error that names ca-certificate', async () => {
  await expectRejected(
    await newRunner(),
    {},
    /TLS verification failed \(.+\): the server's certificate is not trusted\. Behind a TLS-intercepting proxy, give its root CA in ca-certificate or ca-certificate-file/
  )
})

test('with ca-certificate, the install trusts the CA; CODEX_CA_CERTIFICATE and NODE_EXTRA_CA_CERTS are exported', async () => {
  const runner = await newRunner()
  const main = await runner.main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url, 'ca-certificate': pki.ca })
  expect(main.errors).toEqual([])
  const bundle = main.outputs['ca-certificate-path']
  expect(path.dirname(path.dirname(bundle))).toBe(runner.temp)
  expect(main.exported.CODEX_CA_CERTIFICATE).toBe(bundle)
  expect(main.exported.SSL_CERT_FILE).toBeUndefined()
  expect((await fs.stat(bundle)).mode & 0o777).toBe(0o600)
  expect((await fs.stat(path.dirname(bundle))).mode & 0o777).toBe(0o700)
  expect(await fs.readFile(bundle, 'utf8')).toBe(pki.ca.replace(/\r\n/g, '\n'))
  // The runner already had NODE_EXTRA_CA_CERTS: the exported file keeps its CAs and adds ours.
  const nodeCa = await fs.readFile(main.exported.NODE_EXTRA_CA_CERTS, 'utf8')
  const machineCa = process.env.NODE_EXTRA_CA_CERTS ? await fs.readFile(process.env.NODE_EXTRA_CA_CERTS, 'utf8') : ''
  expect(nodeCa.startsWith(machineCa.trimEnd())).toBe(true)
  expect(nodeCa.endsWith(pki.ca.replace(/\r\n/g, '\n'))).toBe(true)
  expect(main.stdout).toMatch(
    /CA certificate 1: CN=Test Proxy Root CA, O=codex-auth-action tests; issuer .+; expires .+; SHA-256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/
  )

  // A Node.js later step trusts the proxy CA through the exported NODE_EXTRA_CA_CERTS.
  const fetch = await runner.run(process.execPath, [
    '-e',
    `fetch(${JSON.stringify(`${registry.url}/-/package/@openai%2fcodex/dist-tags`)}).then(r => r.text()).then(console.log)`
  ])
  expect(fetch.stdout).toContain('1.0.0')

  await runner.post()
  expect(await runner.tempFiles()).toEqual([])
})

test('ca-certificate-file (relative to the workspace) works too; export-node-ca: false leaves NODE_EXTRA_CA_CERTS alone', async () => {
  const runner = await newRunner()
  await fs.writeFile(path.join(runner.workspace, 'corp-ca.pem'), pki.ca)
  const main = await runner.main({
    'api-key': TEST_API_KEY,
    'registry-url': registry.url,
    'ca-certificate-file': 'corp-ca.pem',
    'export-node-ca': 'false'
  })
  expect(main.errors).toEqual([])
  expect(Object.keys(main.exported).sort()).toEqual(['CODEX_CA_CERTIFICATE', 'CODEX_HOME'])
})

test('HTTPS_PROXY carries the install through the proxy; NO_PROXY bypasses it', async () => {
  const through = await newRunner()
  const main = await through.main(
    { 'api-key': TEST_API_KEY, 'registry-url': registry.url, 'ca-certificate': pki.ca },
    { HTTPS_PROXY: proxy.url }
  )
  expect(main.errors).toEqual([])
  expect(proxy.connects).toContain(`127.0.0.1:${registry.server.port}`)

  const seen = proxy.connects.length
  const bypass = await newRunner()
  const direct = await bypass.main(
    { 'api-key': TEST_API_KEY, 'registry-url': registry.url, 'ca-certificate': pki.ca },
    { https_proxy: proxy.url, no_proxy: 'localhost,127.0.0.1' }
  )
  expect(direct.errors).toEqual([])
  expect(proxy.connects).toHaveLength(seen)
})

test('NO_PROXY follows curl: an empty no_proxy leaves NO_PROXY in force, and CIDR entries match', async () => {
  // The proxy is down: only a bypass lets the install through.
  const down = { HTTPS_PROXY: 'http://127.0.0.1:9' }
  for (const env of [
    { ...down, no_proxy: '', NO_PROXY: 'localhost,127.0.0.1' },
    { ...down, NO_PROXY: 'fd00::/8, 127.0.0.0/8' }
  ]) {
    const main = await (
      await newRunner()
    ).main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url, 'ca-certificate': pki.ca }, env)
    expect(main.errors).toEqual([])
  }
})

test('a proxy that is down is a clear network error', async () => {
  await expectRejected(
    await newRunner(),
    { 'ca-certificate': pki.ca },
    /Reading @openai\/codex metadata from .+ failed: .*ECONNREFUSED.*HTTPS_PROXY, NO_PROXY/,
    { HTTPS_PROXY: 'http://127.0.0.1:9' }
  )
}, 60_000)

describe('malformed bundles: one error, nothing written, nothing downloaded', () => {
  test.each([
    ['garbage', { 'ca-certificate': 'this is not a certificate' }, /^::error::ca-certificate holds no certificate/],
    [
      'a private key',
      { 'ca-certificate': pki.caKey },
      /^::error::ca-certificate block 1 is a private key\. A CA bundle holds only public certificates/
    ],
    [
      'a corrupt block',
      { 'ca-certificate': pki.ca.replace(/[A-Za-z]{20}/, '!!!!') },
      /ca-certificate block 1 does not parse as an X\.509 certificate/
    ],
    [
      'both inputs',
      { 'ca-certificate': pki.ca, 'ca-certificate-file': '/etc/hosts' },
      /ca-certificate and ca-certificate-file are both set/
    ],
    [
      'a missing file',
      { 'ca-certificate-file': '/nonexistent/ca.pem' },
      /ca-certificate-file \/nonexistent\/ca\.pem does not exist/
    ],
    ['a directory', { 'ca-certificate-file': '/tmp' }, /ca-certificate-file \/tmp is not a file/],
    [
      'export-node-ca: maybe',
      { 'ca-certificate': pki.ca, 'export-node-ca': 'maybe' },
      /export-node-ca must be true or false/
    ]
  ])('%s', async (_name, inputs, pattern) => {
    const runner = await newRunner()
    const asked = registry.server.requests.length
    const main = await expectRejected(runner, inputs, pattern)
    expect(registry.server.requests).toHaveLength(asked)
    const keyLines = pki.caKey.split(/\r?\n/).filter((l) => l.length > 40)
    const printed =
      main.stdout
        .split('\n')
        .filter((l) => !l.startsWith('::add-mask::'))
        .join('\n') + main.stderr
    for (const line of keyLines) expect(printed).not.toContain(line)
  })

  test('an empty file', async () => {
    const runner = await newRunner()
    const file = path.join(runner.root, 'empty.pem')
    await fs.writeFile(file, '')
    await expectRejected(runner, { 'ca-certificate-file': file }, /ca-certificate-file holds no certificate/)
  })
})

describe('the real Codex CLI behind the proxy CA', () => {
  let openai: FakeOpenAI

  beforeAll(async () => {
    openai = await servers.serve(new FakeOpenAI({ tls: pki.server }))
  })

  test('codex exec reaches an HTTPS endpoint signed by the CA, with Bearer <key>', async () => {
    const runner = await newRunner(sharedToolCache())
    // Codex itself holding the key and the CA (the proxy's HTTPS with a CA is key-proxy.test.ts's).
    const main = await runner.main({
      'api-key': TEST_API_KEY,
      'codex-version': CODEX_VERSION,
      'ca-certificate': pki.ca,
      'key-isolation': 'none',
      // Codex reaches the loopback endpoint itself, through the jail's relay (api-base-url names its port).
      'api-base-url': openai.apiBaseUrl
    })
    expect(main.errors).toEqual([])
    const exec = await runner.run('codex', openai.execArgs(), { timeoutMs: 90_000 })
    expect(exec.stdout).toContain(REPLY)
    expect(openai.authorizations()).toContain(`Bearer ${TEST_API_KEY}`)
    await runner.post()
  })

  test('without the CA input the same step never gets an answer', async () => {
    const runner = await newRunner(sharedToolCache())
    const main = await runner.main({ 'api-key': TEST_API_KEY, 'codex-version': CODEX_VERSION })
    expect(main.errors).toEqual([])
    const before = openai.authorizations().length
    const exec = await runner.run('codex', openai.execArgs(), { timeoutMs: 15_000 })
    expect(exec.stdout).not.toContain(REPLY)
    expect(exec.timedOut || exec.exitCode !== 0).toBe(true)
    expect(openai.authorizations()).toHaveLength(before)
    await runner.post()
  })
})
