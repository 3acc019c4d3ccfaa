/** codex-network: the input's parsing, the egress proxy's rules, and docs/network.md's list of registries. */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { isMetadataAddress, normalHost, Rules } from '../../src/helpers/egress/rules.js'
import {
  describeNetwork,
  type HostRule,
  modelApiRules,
  parseCodexNetwork,
  parseHostEntry,
  REGISTRY_HOSTS,
  showRule
} from '../../src/inputs/network.js'
import { RELAY_SCRIPT, relayCommand } from '../../src/jail/relay.js'
import { initScript, proxyVariables, wrapperScript, type ScriptConfig } from '../../src/jail/scripts.js'
import type { Tools } from '../../src/jail/tools.js'
import { ROOT } from '../harness/runner.js'
import { userErrorMessage as message } from '../harness/user-error.js'

const hostsOf = (raw: string): HostRule[] => {
  const policy = parseCodexNetwork(raw)
  if (policy.mode !== 'filtered') throw new Error('expected a filtered policy')
  return policy.hosts
}
const admits = (raw: string, host: string, port = 443) => new Rules(hostsOf(raw)).admits(normalHost(host), port)

describe('the codex-network input', () => {
  test('empty is registries; none is the model API only; open alone is no restriction', () => {
    expect(parseCodexNetwork('')).toEqual(parseCodexNetwork('registries'))
    expect(parseCodexNetwork('')).toMatchObject({ mode: 'filtered', registries: true })
    expect(parseCodexNetwork(' None ')).toEqual({ mode: 'filtered', registries: false, hosts: [] })
    expect(parseCodexNetwork('open')).toEqual({ mode: 'open' })
    expect(message(() => parseCodexNetwork('open, example.com'))).toMatch(
      /^codex-network: open cannot be combined with other entries \(example\.com\)/
    )
    expect(message(() => parseCodexNetwork('none\nregistries'))).toMatch(/^codex-network: none cannot be combined/)
  })

  test('hosts, one a line or comma-separated, combined with registries', () => {
    const hosts = hostsOf('registries\nexample.com, *.Example.org.\r\n10.0.0.0/8,[fd00::1]:8443, fd00::/8 ,1.2.3.4:22')
    expect(hosts.slice(0, 6)).toEqual([
      { kind: 'name', name: 'example.com', subdomains: false },
      { kind: 'name', name: 'example.org', subdomains: true },
      { kind: 'address', address: '10.0.0.0', prefix: 8, family: 4 },
      { kind: 'address', address: 'fd00::1', prefix: 128, family: 6, port: 8443 },
      { kind: 'address', address: 'fd00::', prefix: 8, family: 6 },
      { kind: 'address', address: '1.2.3.4', prefix: 32, family: 4, port: 22 }
    ])
    expect(hosts.length).toBe(6 + Object.values(REGISTRY_HOSTS).flat().length)
    expect(hosts.slice(0, 6).map(showRule)).toEqual([
      'example.com',
      '*.example.org',
      '10.0.0.0/8',
      '[fd00::1]:8443',
      'fd00::/8',
      '1.2.3.4:22'
    ])
  })

  test.each([
    ['https://example.com/path', /a URL or a path/],
    ['example.com/path', /a URL or a path/],
    ['user@example.com', /a URL or a path/],
    ['a..b', /an empty label/],
    ['.example.com', /an empty label/],
    ['*', /\* alone would allow every host/],
    ['*:443', /\* alone/],
    ['a.*.example.com', /only as the first label/],
    ['example.com:0', /a port is a number from 1 to 65535/],
    ['example.com:65536', /a port is a number from 1 to 65535/],
    ['example.com:', /a port is a number/],
    ['exa mple.com', /letters, digits and hyphens/],
    ['-bad.example.com', /letters, digits and hyphens/],
    ['10.0.0.0/33', /prefix is a number from 0 to 32/],
    ['fd00::/129', /prefix is a number from 0 to 128/],
    ['300.1.1.1', /not an IP address/],
    ['[example.com]:80', /not an IP address/]
  ])('%s is one error that names it', (entry, why) => {
    const text = message(() => parseCodexNetwork(`example.com\n${entry}\nexample.org`))
    expect(text).toMatch(
      new RegExp(`^codex-network holds "${entry.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}", which is not a host entry: `)
    )
    expect(text).toMatch(why)
    expect(text).toMatch(/Give keywords \(registries, none, open\) or hosts/)
  })

  test('the main step states the rule in one line', () => {
    expect(describeNetwork(parseCodexNetwork(''))).toBe(
      'codex-network: the model API and the package registries; every other destination is refused and reported'
    )
    expect(describeNetwork(parseCodexNetwork('registries, example.com:8443'))).toBe(
      'codex-network: the model API and the package registries, example.com:8443; every other destination is refused and reported'
    )
    expect(describeNetwork(parseCodexNetwork('none'))).toBe(
      'codex-network: the model API only; every other destination is refused and reported'
    )
    expect(describeNetwork(parseCodexNetwork('open'))).toMatch(/^codex-network: open/)
  })

  test('docs/network.md lists the registries exactly as the code has them', () => {
    const docs = readFileSync(path.join(ROOT, 'docs', 'network.md'), 'utf8')
    const section = docs.split('### `registries`')[1].split('\n## ')[0]
    const listed: Record<string, string[]> = {}
    for (const line of section.split('\n')) {
      const cells = line.split('|').map((cell) => cell.trim())
      if (cells.length < 4 || !cells[2].startsWith('`')) continue
      listed[cells[1]] = [...cells[2].matchAll(/`([^`]+)`/g)].map((m) => m[1])
    }
    expect(listed).toEqual(REGISTRY_HOSTS)
    for (const host of Object.values(REGISTRY_HOSTS).flat()) expect(() => parseHostEntry(host)).not.toThrow()
  })
})

describe("the egress proxy's rules", () => {
  test('a name entry: that host, on 80 and 443 unless it names a port', () => {
    expect(admits('example.com', 'example.com', 443)).toBe(true)
    expect(admits('example.com', 'EXAMPLE.com.', 80)).toBe(true)
    expect(admits('example.com', 'example.com', 22)).toBe(false)
    expect(admits('example.com', 'www.example.com')).toBe(false)
    expect(admits('example.com', 'example.com.attacker.test')).toBe(false)
    expect(admits('example.com:8443', 'example.com', 8443)).toBe(true)
    expect(admits('example.com:8443', 'example.com', 443)).toBe(false)
  })

  test('*.example.com: its subdomains at any depth, not itself', () => {
    expect(admits('*.example.com', 'a.example.com')).toBe(true)
    expect(admits('*.example.com', 'a.b.example.com')).toBe(true)
    expect(admits('*.example.com', 'example.com')).toBe(false)
    expect(admits('*.example.com', 'badexample.com')).toBe(false)
  })

  test('an address or range admits addresses only, never a name; a name never an address', () => {
    expect(admits('10.0.0.0/8', '10.9.8.7')).toBe(true)
    expect(admits('10.0.0.0/8', '11.0.0.1')).toBe(false)
    expect(admits('10.0.0.0/8', '::ffff:10.1.1.1')).toBe(true)
    expect(admits('[fd00::1]:8080', '[fd00::1]', 8080)).toBe(true)
    expect(admits('[fd00::1]:8080', '[fd00::2]', 8080)).toBe(false)
    expect(admits('fd00::/8', '[FD12::1]')).toBe(true)
    expect(admits('127.0.0.1', 'localhost')).toBe(false)
    expect(admits('localhost', '127.0.0.1')).toBe(false)
  })

  test('the defaults admit the registries and nothing else', () => {
    expect(admits('', 'registry.npmjs.org')).toBe(true)
    expect(admits('', 'us.archive.ubuntu.com', 80)).toBe(true)
    expect(admits('', 'example.com')).toBe(false)
    expect(admits('', '169.254.169.254', 80)).toBe(false)
    expect(admits('none', 'registry.npmjs.org')).toBe(false)
  })

  test('a metadata address only through an entry inside its own range', () => {
    expect(isMetadataAddress('169.254.169.254')).toBe(true)
    expect(isMetadataAddress('[fe80::1]')).toBe(true)
    expect(isMetadataAddress('::ffff:169.254.169.254')).toBe(true)
    expect(isMetadataAddress('fd00:ec2::254')).toBe(true)
    expect(isMetadataAddress('10.0.0.1')).toBe(false)
    expect(admits('0.0.0.0/0', '169.254.169.254', 80)).toBe(false)
    expect(admits('0.0.0.0/0', '10.0.0.1', 80)).toBe(true)
    expect(admits('::/0', '[fe80::1]', 80)).toBe(false)
    expect(admits('169.254.169.254', '169.254.169.254', 80)).toBe(true)
    expect(admits('169.254.0.0/16', '169.254.169.254', 80)).toBe(true)
  })
})

describe("the jail's network (codex-network)", () => {
  const tools = Object.fromEntries(
    ['sh', 'unshare', 'setpriv', 'mount', 'umount', 'pivot_root', 'awk', 'sudo'].map((t) => [t, `/usr/bin/${t}`])
  ) as Tools
  const config = (mode: ScriptConfig['mode'], network = true): ScriptConfig => ({
    mode,
    tools,
    dir: '/rt/jail',
    root: '/rt/jail/root',
    workspace: '/w',
    home: '/home/runner',
    user: 'runner',
    binary: '/tc/codex',
    uid: 1001,
    gid: 118,
    ...(network && {
      network: {
        dir: "/rt/it's egress",
        egressPort: 3128,
        loopback: [{ port: 40000, socket: 'api-40000.sock' }],
        perl: '/usr/bin/perl'
      }
    })
  })

  test('a network namespace of its own only with codex-network', () => {
    expect(wrapperScript(config('sudo'))).toContain('/usr/bin/unshare --mount --pid --ipc --uts --net -- ')
    expect(wrapperScript(config('userns'))).toContain('--keep-caps --mount --pid --ipc --uts --net -- ')
    expect(wrapperScript(config('sudo', false))).not.toContain('--net')
    expect(initScript(config('sudo', false))).not.toContain('relay')
  })

  test("the init starts the relay in the proxies' directory before pivot_root, and names it in the proxy variables", () => {
    const init = initScript(config('sudo'))
    const relay = init.indexOf(`(cd '/rt/it'\\''s egress' && exec /usr/bin/perl -e '`)
    expect(relay).toBeGreaterThan(0)
    expect(relay).toBeLessThan(init.indexOf('pivot_root'))
    expect(init).toContain("-- as=1001:118 40000 'api-40000.sock' 3128 egress.sock --) || fail 'the network relay'")
    // In a user namespace the job's user is already itself.
    expect(initScript(config('userns'))).toContain("-- 40000 'api-40000.sock' 3128 egress.sock --) || fail")
    expect(proxyVariables(3128)).toEqual({
      HTTPS_PROXY: 'http://127.0.0.1:3128',
      https_proxy: 'http://127.0.0.1:3128',
      HTTP_PROXY: 'http://127.0.0.1:3128',
      http_proxy: 'http://127.0.0.1:3128',
      ALL_PROXY: 'http://127.0.0.1:3128',
      all_proxy: 'http://127.0.0.1:3128',
      NO_PROXY: '127.0.0.1,localhost,::1',
      no_proxy: '127.0.0.1,localhost,::1'
    })
    expect(init).toContain("export HTTPS_PROXY='http://127.0.0.1:3128' https_proxy=")
    expect(init.indexOf('export HTTPS_PROXY')).toBeGreaterThan(init.indexOf('pivot_root'))
  })

  test('the relay script compiles, and its argv puts the drop before the routes', () => {
    expect(execFileSync('/usr/bin/perl', ['-c', '-e', RELAY_SCRIPT], { stdio: 'pipe' }).toString()).toBe('')
    expect(relayCommand('/usr/bin/perl', [{ port: 1, socket: 'a.sock' }], ['true'], '5:6').slice(3)).toEqual([
      '--',
      'as=5:6',
      '1',
      'a.sock',
      '--',
      'true'
    ])
  })

  test('sources that reach the model API themselves: its endpoints and api-base-url on their ports', () => {
    expect(modelApiRules('https://gateway.example.com:8443/v1').map(showRule)).toEqual([
      'api.openai.com:443',
      'chatgpt.com:443',
      'auth.openai.com:443',
      'gateway.example.com:8443'
    ])
  })
})
