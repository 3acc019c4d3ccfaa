/** How the main step starts the egress proxy, and how the post step stops it and reports what it saw. */
import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as net from 'node:net'
import * as path from 'node:path'
import { BACKGROUND_REQUESTS, describeNetwork, type HostRule, type NetworkPolicy } from '../../inputs/network.js'
import type { CreatedPaths } from '../../job/created-paths.js'
import { makePrivateDir, runnerTemp, writePrivateFile } from '../../job/files.js'
import { readValue, saveValue, StateKey } from '../../job/state.js'
import { writeSummaryGrid } from '../../job/summary.js'
import { inline } from '../../secrets/inert-output.js'
import { maskSecret } from '../../secrets/mask.js'
import { MAX_LIFETIME_MS, startDetached, stopHelper } from '../detach.js'
import {
  type Destination,
  type EgressConfig,
  type EgressReport,
  type EgressStatus,
  loopbackSocketFile,
  BACKGROUND_REASON,
  REPORT_FILE,
  SOCKET_FILE,
  STATUS_FILE
} from './protocol.js'

export interface StartedEgress {
  dir: string
  /** The Unix socket the jail's relay forwards to. */
  socket: string
  /** network.json: the network-report output. */
  reportFile: string
  /** The sockets of the loopback ports Codex's own endpoints use, by port. */
  apiSockets: Record<number, string>
}

/** A Unix socket bound here, for a helper to inherit: bound under another name and renamed, since closing main's copy unlinks the name it was bound to. */
async function boundSocket(file: string): Promise<{ server: net.Server; fd: number }> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(`${file}.main`, resolve))
  await fs.rename(`${file}.main`, file)
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd
  if (typeof fd !== 'number' || fd < 0) throw new Error(`no descriptor for ${file}`)
  return { server, fd }
}

/**
 * Where the proxy's directory goes: RUNNER_TEMP, unless its sockets' paths would pass the
 * 108 bytes a Unix socket's name may have (a deep RUNNER_TEMP); then /tmp, in a private
 * directory all the same (the jail shows a /tmp of its own, not this one).
 */
function socketParent(): string {
  const longest = path.join(runnerTemp(), 'codex-egress-XXXXXX', `${loopbackSocketFile(65535)}.main`)
  return Buffer.byteLength(longest) < 100 ? runnerTemp() : '/tmp'
}

/** The jail's relay routes for those ports: each to its socket, named relative to the proxy's directory. */
export function loopbackRoutes(ports: number[]): { port: number; socket: string }[] {
  return ports.map((port) => ({ port, socket: loopbackSocketFile(port) }))
}

/**
 * The proxy's private directory, made before the jail (whose init starts its relay there);
 * the proxy itself starts only once the jail proved it has a network of its own.
 */
export async function makeEgressDir(created: CreatedPaths): Promise<string> {
  const dir = await makePrivateDir(socketParent(), 'codex-egress-')
  created.add(dir)
  return dir
}

/**
 * Binds the proxy's Unix sockets in `dir` and hands them over (fd 3, and 4 for the model API
 * and on, one for each of `apiPorts`), so that it accepts connections from the moment main goes on, and starts
 * the proxy without waiting for it. `background`: the destinations of Codex's own background
 * requests with its config, reported apart.
 */
export async function startEgressProxy(
  dir: string,
  policy: Extract<NetworkPolicy, { mode: 'filtered' }>,
  ca: string[] | undefined,
  options: { apiPorts?: number[]; apiHosts?: HostRule[]; background?: string[] } = {}
): Promise<StartedEgress> {
  saveValue(StateKey.EgressDir, dir)
  const stopToken = randomBytes(32).toString('base64url')
  maskSecret(stopToken)
  saveValue(StateKey.EgressStopToken, stopToken)
  const rule = describeNetwork(policy)
  const reportFile = path.join(dir, REPORT_FILE)
  const empty: EgressReport = { rule, allowed: [], refused: [] }
  await writePrivateFile(reportFile, JSON.stringify(empty, null, 2))
  const socket = path.join(dir, SOCKET_FILE)
  const bound = [await boundSocket(socket)]
  const apiPorts = options.apiPorts ?? []
  const apiSockets: Record<number, string> = {}
  for (const port of apiPorts) {
    apiSockets[port] = path.join(dir, loopbackSocketFile(port))
    bound.push(await boundSocket(apiSockets[port]))
  }
  const config: EgressConfig = {
    // Codex's own endpoints where it reaches them itself (no key proxy): through this proxy too.
    hosts: [...policy.hosts, ...(options.apiHosts ?? [])],
    rule,
    dir,
    stopToken,
    inherited: true,
    apiPorts,
    background: options.background,
    deadline: Date.now() + MAX_LIFETIME_MS,
    ca
  }
  const child = await startDetached(
    'egress-proxy',
    config,
    dir,
    'ignore',
    bound.map((b) => b.fd)
  )
  for (const b of bound) b.server.close()
  child.unref()
  core.info(`Egress proxy started (pid ${child.pid}); the post step stops it and reports what it saw.`)
  return { dir, socket, reportFile, apiSockets }
}

/** The post step's part: stop the proxy, then the job summary and one line for each refused destination. */
export async function stopEgressProxy(): Promise<void> {
  const dir = readValue(StateKey.EgressDir)
  if (!dir) return
  saveValue(StateKey.EgressDir, '')
  const status = await stopHelper<EgressStatus>(dir, STATUS_FILE, readValue(StateKey.EgressStopToken))
  const report = await fs
    .readFile(path.join(dir, REPORT_FILE), 'utf8')
    .then((text) => JSON.parse(text) as EgressReport)
    .catch(() => undefined)
  if (report) await reportNetwork(report)
  if (status && status.state !== 'stopped')
    core.warning(
      `The egress proxy (pid ${status.pid}) did not confirm that it stopped; its directory is removed now, which ends it.`
    )
}

/** Any process of the job can write the report: every figure is checked, every text printed inert. */
function rows(list: unknown): Destination[] {
  if (!Array.isArray(list)) return []
  return list.filter(
    (row): row is Destination =>
      typeof row === 'object' &&
      row !== null &&
      typeof (row as Destination).destination === 'string' &&
      Number.isInteger((row as Destination).count) &&
      typeof (row as Destination).first === 'string'
  )
}

export async function reportNetwork(report: EgressReport): Promise<void> {
  const all = rows(report.refused)
  const own = all.filter((row) => row.reason === BACKGROUND_REASON)
  const refused = all.filter((row) => row.reason !== BACKGROUND_REASON)
  const allowed = rows(report.allowed)
  const total = (list: Destination[]) => list.reduce((sum, row) => sum + row.count, 0)
  const listed = (list: Destination[]) =>
    list.map((row) => `${row.destination} (${row.count}, first at ${row.first})`).join(', ')
  if (refused.length)
    core.warning(
      inline(
        `codex-network refused ${total(refused)} connections from Codex's jail (Codex's own or the model's commands'), to ${refused.length} destinations: ${listed(refused)}. If the job needs one, add it to codex-network.`
      )
    )
  // Expected with the settings the user chose: said apart, not as an attempt of the model's.
  if (own.length)
    core.notice(
      inline(
        `codex-network refused Codex's own background requests (${BACKGROUND_REQUESTS.map((r) => r.what).join(', ')}; a turn does not need them), which config turns on: ${listed(own)}. Leave ${BACKGROUND_REQUESTS.map((r) => r.setting.join('.')).join(' and ')} unset in config (the action turns them off), or add the hosts to codex-network.`
      )
    )
  core.info(
    inline(
      `codex-network: ${total(allowed)} connections to ${allowed.length} allowed destinations, ${total(all)} refused.`
    )
  )
  await writeSummaryGrid(
    'Codex network',
    ['Destination', 'Result', 'Connections', 'First'],
    [
      ...refused.map((row) => [row.destination, 'refused: not in codex-network', String(row.count), row.first]),
      ...own.map((row) => [row.destination, "refused: Codex's own background request", String(row.count), row.first]),
      ...allowed.map((row) => [
        row.destination,
        row.failed ? `allowed (${row.failed} could not be reached)` : 'allowed',
        String(row.count),
        row.first
      ])
    ],
    `${typeof report.rule === 'string' ? report.rule : ''}.${all.length + allowed.length ? '' : ' No connection was made through the egress proxy.'}`
  )
}
