/** Whether codex-network admits a destination, and the addresses it may never connect a name to. */
import { BlockList, isIP } from 'node:net'
import { DEFAULT_PORTS, type HostRule } from '../../inputs/network.js'

/** The cloud metadata services: link-local, and AWS's IPv6 address of it. */
const NEVER = new BlockList()
NEVER.addSubnet('169.254.0.0', 16, 'ipv4')
NEVER.addSubnet('fe80::', 10, 'ipv6')
NEVER.addAddress('fd00:ec2::254', 'ipv6')

/** A host as a client names it, bare: no brackets, lower case, no final dot; an IPv4-mapped IPv6 address as IPv4. */
export function normalHost(host: string): string {
  const bare = host
    .replace(/^\[|\]$/g, '')
    .toLowerCase()
    .replace(/\.$/, '')
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare)
  return mapped ? mapped[1] : bare
}

/** A metadata service's address (169.254.0.0/16, fe80::/10): never reached through a name. */
export function isMetadataAddress(address: string): boolean {
  const bare = normalHost(address)
  const family = isIP(bare)
  return family !== 0 && NEVER.check(bare, family === 4 ? 'ipv4' : 'ipv6')
}

export class Rules {
  private readonly names: Extract<HostRule, { kind: 'name' }>[]
  private readonly ranges: { rule: Extract<HostRule, { kind: 'address' }>; list: BlockList }[]

  constructor(rules: HostRule[]) {
    this.names = rules.filter((rule) => rule.kind === 'name')
    this.ranges = rules
      .filter((rule) => rule.kind === 'address')
      .map((rule) => {
        const list = new BlockList()
        list.addSubnet(rule.address, rule.prefix, rule.family === 4 ? 'ipv4' : 'ipv6')
        return { rule, list }
      })
  }

  /**
   * Does an entry admit `host` (as normalHost gives it) on `port`? A name is matched by name
   * entries only (never resolved here: an unlisted name is refused without a DNS query), an
   * address by address entries only.
   */
  admits(host: string, port: number): boolean {
    const onPort = (rule: HostRule) => (rule.port === undefined ? DEFAULT_PORTS.includes(port) : rule.port === port)
    const family = isIP(host)
    // A metadata address only through an entry inside its own range: no wide range (0.0.0.0/0) lets one in.
    const metadata = isMetadataAddress(host)
    if (family)
      return this.ranges.some(
        ({ rule, list }) =>
          onPort(rule) &&
          list.check(host, family === 4 ? 'ipv4' : 'ipv6') &&
          (!metadata || (isMetadataAddress(rule.address) && rule.prefix >= (family === 4 ? 16 : 10)))
      )
    return this.names.some(
      (rule) => onPort(rule) && (rule.subdomains ? host.endsWith(`.${rule.name}`) : host === rule.name)
    )
  }
}
