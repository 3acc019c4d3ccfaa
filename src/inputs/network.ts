/**
 * codex-network: which hosts the commands the model runs may reach, through the egress
 * proxy. Keywords and host entries, one a line or comma-separated, combined.
 */
import { isIP } from 'node:net'
import { UserError } from '../job/errors.js'
import { inline } from '../secrets/inert-output.js'

/** One entry of the list, as the egress proxy matches it (helpers/egress/rules.ts). */
export type HostRule =
  /** `example.com` (that host), or with `subdomains`, `*.example.com` (its subdomains, at any depth, not itself). */
  | { kind: 'name'; name: string; subdomains: boolean; port?: number }
  /** An IPv4 or IPv6 address or range (`10.0.0.0/8`, `fd00::/8`), matched only when a client names an address. */
  | { kind: 'address'; address: string; prefix: number; family: 4 | 6; port?: number }

/** open: no network namespace (today's behaviour); filtered: the model API, and `hosts` through the egress proxy. */
export type NetworkPolicy = { mode: 'open' } | { mode: 'filtered'; registries: boolean; hosts: HostRule[] }

/** The ports an entry without one admits: HTTP and HTTPS. */
export const DEFAULT_PORTS = [80, 443]

/**
 * `registries`: the package registries builds and tests install from. docs/network.md
 * lists them exactly (a unit test compares the two).
 */
export const REGISTRY_HOSTS: Record<string, string[]> = {
  npm: ['registry.npmjs.org', 'registry.yarnpkg.com'],
  PyPI: ['pypi.org', 'files.pythonhosted.org'],
  'crates.io': ['crates.io', 'index.crates.io', 'static.crates.io'],
  Go: ['proxy.golang.org', 'sum.golang.org'],
  'Maven Central': ['repo.maven.apache.org', 'repo1.maven.org'],
  RubyGems: ['rubygems.org', 'index.rubygems.org'],
  NuGet: ['api.nuget.org'],
  Debian: ['deb.debian.org', 'security.debian.org'],
  Ubuntu: ['archive.ubuntu.com', '*.archive.ubuntu.com', 'security.ubuntu.com', 'ports.ubuntu.com']
}

/**
 * Codex's own background requests (0.171.0, seen at the egress proxy of the jail with an
 * API key), by the setting that turns them off: none is needed for a turn. Where
 * codex-network restricts the jail, config.toml turns them off (codex/config.ts) unless the
 * user's config sets them; what then still goes to these hosts is reported apart.
 */
export const BACKGROUND_REQUESTS = [
  {
    setting: ['features', 'plugins'],
    what: "the plugin marketplace's sync",
    hosts: ['github.com', 'api.github.com', 'chatgpt.com']
  },
  { setting: ['analytics', 'enabled'], what: 'analytics', hosts: ['ab.chatgpt.com'] }
]

const KEYWORDS = new Set(['registries', 'none', 'open'])
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/
const HINT =
  'Give keywords (registries, none, open) or hosts: example.com, *.example.com, host:port, an IP address or a CIDR range such as 10.0.0.0/8, one a line or comma-separated.'

/** The input, parsed: every bad entry is one error that names it, before anything starts. */
export function parseCodexNetwork(raw: string): NetworkPolicy {
  const entries = raw
    .split(/[,\r\n]/)
    .map((entry) => entry.trim())
    .filter(Boolean)
  if (entries.length === 0) entries.push('registries')
  const words = entries.filter((entry) => KEYWORDS.has(entry.toLowerCase())).map((entry) => entry.toLowerCase())
  if (words.includes('open')) {
    if (entries.length > 1)
      throw new UserError(
        `codex-network: open cannot be combined with other entries (${inline(entries.filter((e) => e.toLowerCase() !== 'open').join(', '))}): open leaves the network as it is. Remove open to restrict it, or the others to leave it open.`
      )
    return { mode: 'open' }
  }
  if (words.includes('none') && entries.length > 1)
    throw new UserError(
      `codex-network: none cannot be combined with other entries (${inline(entries.filter((e) => e.toLowerCase() !== 'none').join(', '))}): none means the model API only. Remove none to allow those hosts.`
    )
  const hosts = entries.filter((entry) => !KEYWORDS.has(entry.toLowerCase())).map(parseHostEntry)
  const registries = words.includes('registries')
  if (registries) hosts.push(...Object.values(REGISTRY_HOSTS).flat().map(parseHostEntry))
  return { mode: 'filtered', registries, hosts }
}

/** One host entry; the error names it. */
export function parseHostEntry(entry: string): HostRule {
  const bad = (why: string) =>
    new UserError(`codex-network holds "${inline(entry)}", which is not a host entry: ${why}. ${HINT}`)
  if (/[/?#@]/.test(entry.replace(/\/\d{1,3}(\]|$)/, '$1')) || entry.includes('://'))
    throw bad('a URL or a path; give the host name alone')
  // A bare IPv6 address or range: no port (brackets give one: [::1]:8080).
  if (!entry.startsWith('[') && entry.split(':').length > 2) return address(entry, undefined, bad)
  const bracketed = /^\[([^\]]+)\](?::([^:]*))?$/.exec(entry)
  let host: string
  let portText: string | undefined
  if (bracketed) [, host, portText] = bracketed
  else [host, portText] = entry.split(':') as [string, string | undefined]
  const port = portText === undefined ? undefined : parsePort(portText, bad)
  if (bracketed) return address(host, port, bad)
  if (/^[\d.]+(\/\d+)?$/.test(host)) return address(host, port, bad)
  const name = host.toLowerCase().replace(/\.$/, '')
  if (name === '*') throw bad('* alone would allow every host; use open for that')
  const subdomains = name.startsWith('*.')
  const bare = subdomains ? name.slice(2) : name
  if (bare.includes('*')) throw bad('a * is allowed only as the first label (*.example.com)')
  if (bare.split('.').some((label) => label === '')) throw bad('an empty label')
  if (!bare.split('.').every((label) => LABEL.test(label)))
    throw bad('a host name has letters, digits and hyphens in labels of at most 63')
  return { kind: 'name', name: bare, subdomains, ...(port !== undefined && { port }) }
}

function parsePort(text: string, bad: (why: string) => Error): number {
  const port = Number(text)
  if (!/^\d{1,5}$/.test(text) || port < 1 || port > 65535) throw bad('a port is a number from 1 to 65535')
  return port
}

function address(text: string, port: number | undefined, bad: (why: string) => Error): HostRule {
  const [addr, bits, extra] = text.split('/')
  const family = isIP(addr)
  if ((family !== 4 && family !== 6) || extra !== undefined) throw bad('not an IP address or CIDR range')
  const width = family === 4 ? 32 : 128
  const prefix = bits === undefined ? width : Number(bits)
  if (bits !== undefined && (!/^\d{1,3}$/.test(bits) || prefix > width))
    throw bad(`a range's prefix is a number from 0 to ${width}`)
  return { kind: 'address', address: addr.toLowerCase(), prefix, family, ...(port !== undefined && { port }) }
}

/** Where Codex itself goes for the model when no key proxy stands in between: OpenAI's API, ChatGPT's backend and sign-in. */
const MODEL_API_HOSTS = ['api.openai.com', 'chatgpt.com', 'auth.openai.com']

/** The model API as egress rules, for a source that talks to it from inside the jail: its endpoints on 443, and api-base-url's host. */
export function modelApiRules(apiBaseUrl: string): HostRule[] {
  const url = new URL(apiBaseUrl)
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80)
  return [
    ...MODEL_API_HOSTS.map((name): HostRule => ({ kind: 'name', name, subdomains: false, port: 443 })),
    { ...parseHostEntry(url.hostname.replace(/^\[|\]$/g, '')), port }
  ]
}

/** The rule in one line, for the main step's log. */
export function describeNetwork(policy: NetworkPolicy): string {
  if (policy.mode === 'open') return 'codex-network: open (the model reaches whatever the runner reaches)'
  const own = policy.hosts.slice(0, policy.hosts.length - (policy.registries ? registryCount() : 0)).map(showRule)
  const parts = [...(policy.registries ? ['the package registries'] : []), ...own]
  return `codex-network: the model API${parts.length ? ` and ${parts.join(', ')}` : ' only'}; every other destination is refused and reported`
}

const registryCount = () => Object.values(REGISTRY_HOSTS).flat().length

/** An entry as the user would write it. */
export function showRule(rule: HostRule): string {
  const host =
    rule.kind === 'name'
      ? `${rule.subdomains ? '*.' : ''}${rule.name}`
      : `${rule.address}${rule.prefix === (rule.family === 4 ? 32 : 128) ? '' : `/${rule.prefix}`}`
  if (rule.port === undefined) return host
  return rule.kind === 'address' && rule.family === 6 ? `[${host}]:${rule.port}` : `${host}:${rule.port}`
}
