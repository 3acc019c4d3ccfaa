/**
 * The parts of the action's HTTP rules that load no HTTP client: which proxy a URL goes
 * through, what counts as this machine, and how a failure reads. The key proxy, which
 * starts in the time a job waits for it, forwards with node:http and takes only these.
 */
import { BlockList, isIP } from 'node:net'
import { getProxyForUrl } from 'proxy-from-env'

/** The variables that choose a proxy for the action's requests, Codex's and the helpers'. */
export const PROXY_VARIABLES = [
  'HTTPS_PROXY',
  'https_proxy',
  'HTTP_PROXY',
  'http_proxy',
  'ALL_PROXY',
  'all_proxy',
  'NO_PROXY',
  'no_proxy'
]

/**
 * Proxy URL for `target`, as curl picks it. proxy-from-env reads the variables
 * (`https_proxy`/`HTTPS_PROXY` for https, `http_proxy`/`HTTP_PROXY` for http, `ALL_PROXY`
 * for either; an empty one counts as unset, so an empty `no_proxy` leaves `NO_PROXY` in
 * force, as curl's getenv does) and bypasses exact names, `.domain`, `*` and `host:port`.
 * curl also lets `example.com` cover `sub.example.com` and matches IP addresses by CIDR,
 * bare IPv6 included; the library does neither, so curlBypasses adds those rules.
 */
export function proxyFor(target: URL): string | undefined {
  const proxy = getProxyForUrl(target.href)
  if (!proxy || curlBypasses(target.hostname, process.env.no_proxy || process.env.NO_PROXY || '')) return undefined
  return proxy
}

/** curl's NO_PROXY rules (lib/noproxy.c) for a host name or an IP address. */
export function curlBypasses(hostname: string, noProxy: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const family = isIP(host)
  return noProxy
    .split(/[\s,]+/)
    .filter(Boolean)
    .some((token) => {
      if (!family) {
        const name = token.toLowerCase().replace(/\.$/, '').replace(/^\./, '')
        const bare = host.replace(/\.$/, '')
        return name !== '' && (bare === name || bare.endsWith(`.${name}`))
      }
      // An IP host matches an address or a network (`10.0.0.0/8`, `fd00::/8`) of its family.
      const [address, bits] = token.split('/')
      const type = family === 4 ? 'ipv4' : 'ipv6'
      const width = family === 4 ? 32 : 128
      const prefix = bits === undefined || Number(bits) === 0 ? width : Number(bits)
      if (isIP(address) !== family || !Number.isInteger(prefix) || prefix > width) return false
      const network = new BlockList()
      network.addSubnet(address, prefix, type)
      return network.check(host, type)
    })
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4')
LOOPBACK.addAddress('::1', 'ipv6')

/** Does the host name this machine: localhost, 127.0.0.0/8 or ::1? */
export function isLoopback(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '')
  const family = isIP(host)
  return host === 'localhost' || (family !== 0 && LOOPBACK.check(host, family === 4 ? 'ipv4' : 'ipv6'))
}
