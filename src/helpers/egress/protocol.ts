import type { HostRule } from '../../inputs/network.js'
import type { HelperStatus } from '../detach.js'

/** The report file in the proxy's directory (the network-report output), kept current by the proxy. */
export const REPORT_FILE = 'network.json'
/** The proxy's Unix socket in its directory: the jail shows it to the relay inside. */
export const SOCKET_FILE = 'egress.sock'
/**
 * The socket beside it for one loopback port of Codex's own endpoints (the key proxy's, a
 * gateway's on 127.0.0.1): its connections go on to that port of the runner's loopback, as they are.
 */
export function loopbackSocketFile(port: number): string {
  return `api-${port}.sock`
}
export const STATUS_FILE = 'status.json'

/** What the egress proxy process gets on stdin. */
export interface EgressConfig {
  /** codex-network's host entries (registries expanded). */
  hosts: HostRule[]
  /** The rule in one line, for the report. */
  rule: string
  /** Its private directory: the socket, status.json, network.json and the `stop` file. */
  dir: string
  /** What that `stop` file must hold: only main and post know it. */
  stopToken: string
  /** Listen on fd 3, the Unix socket main bound and handed over. */
  inherited?: boolean
  /** Loopback ports of Codex's own endpoints: connections to the socket on fd 4 + i go on to apiPorts[i]. */
  apiPorts?: number[]
  /** Also listen on an ephemeral 127.0.0.1 port (tests, bench), named in the status. */
  tcp?: boolean
  /** host:port of Codex's own background requests with its config (config.ts): refused with BACKGROUND_REASON. */
  background?: string[]
  /** Epoch milliseconds after which it stops whatever happens. */
  deadline: number
  /** The CA bundle, for a runner's proxy reached over https:. */
  ca?: string[]
}

/** Why a refused destination was: not listed. */
export const REFUSED_REASON = 'is not in codex-network'
/** The same, for a destination of Codex's own background requests: reported apart, not as a command's. */
export const BACKGROUND_REASON = "is not in codex-network (Codex's own background request)"

/** One destination, as host:port, with how often and since when. */
export interface Destination {
  destination: string
  count: number
  /** ISO 8601: the first connection or request. */
  first: string
  /** Allowed ones: how many of those could not be reached. Refused ones: why. */
  failed?: number
  reason?: string
}

/** network.json: every destination the commands the model ran asked for. */
export interface EgressReport {
  rule: string
  allowed: Destination[]
  refused: Destination[]
}

export interface EgressStatus extends HelperStatus {
  /** The 127.0.0.1 port, with `tcp`. */
  port?: number
}
