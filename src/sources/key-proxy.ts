import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import * as net from 'node:net'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { requireActionConfig } from '../codex/home.js'
import { MAX_LIFETIME_MS, startDetached, stopHelper } from '../helpers/detach.js'
import { type KeyProxyConfig, type KeyProxyStatus, STATUS_FILE, USAGE_FILE } from '../helpers/key-proxy/protocol.js'
import { Meter, type UsageReport } from '../helpers/key-proxy/usage.js'
import type { SpendCaps } from '../inputs/spend.js'
import { UserError } from '../job/errors.js'
import { makePrivateDir, runnerTemp, writePrivateFile } from '../job/files.js'
import { readValue, saveValue, StateKey } from '../job/state.js'
import { isAzureEndpoint } from '../net/endpoint.js'
import { proxyFor } from '../net/proxy-rules.js'
import { inline } from '../secrets/inert-output.js'
import { maskSecret } from '../secrets/mask.js'
import { chooseCredential, type LoggedIn } from './key-rotation.js'
import type { Authenticated, ConfigContext, SourceKind } from './source.js'
import { describeCaps, reportUsage } from './usage-report.js'

/** The provider in config.toml: the key proxy, for OpenAI, Azure OpenAI and gateways alike. */
const PROVIDER = 'codex-auth-action'

/**
 * The proxy as a custom provider in config.toml: Codex then needs no login and no auth.json.
 * The proxy relays Codex's WebSocket transport too, so Codex keeps its faster one.
 */
function provider(baseUrl: string): Record<string, unknown> {
  const table = {
    name: 'codex-auth-action key proxy',
    base_url: baseUrl,
    wire_api: 'responses',
    supports_websockets: true
  }
  return { model_provider: PROVIDER, model_providers: { [PROVIDER]: table } }
}

/** A listening socket on 127.0.0.1 for the proxy to inherit, where the OS can pass one on (not Windows). */
async function loopbackListener(): Promise<{ server: net.Server; fd: number; port: number } | undefined> {
  if (process.platform === 'win32') return undefined
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd
  if (typeof fd === 'number' && fd >= 0) return { server, fd, port: (server.address() as net.AddressInfo).port }
  server.close()
  return undefined
}

/** A running proxy: its address with the capability (`https?://127.0.0.1:PORT/<capability>`), usage file and directory. */
export interface StartedProxy {
  origin: string
  port: number
  /** The random secret that proves a request comes from this job's Codex (masked). */
  capability: string
  usageFile: string
  dir: string
}

/**
 * Starts the key proxy with the key on stdin. Its directory is recorded first: removing it
 * (a failed run, the post step) stops the proxy. Where it can, main binds the port itself and
 * the proxy inherits the socket: config.toml names the port at once and main does not wait
 * for the proxy's node to start (a connection meanwhile waits in the socket's queue; a proxy
 * that could not start answers Codex with the reason). Elsewhere it waits for the port.
 */
export async function startKeyProxy(
  credential: Pick<KeyProxyConfig, 'key' | 'upstream' | 'chatgpt' | 'tls' | 'bedrock' | 'workloadIdentity'>,
  ca: string[] | undefined,
  caps: SpendCaps,
  created: ConfigContext['created']
): Promise<StartedProxy> {
  const { upstream } = credential
  const dir = await makePrivateDir(runnerTemp(), 'codex-key-proxy-')
  created.add(dir)
  saveValue(StateKey.KeyProxyDir, dir)
  // Anyone on this machine who learns it could use the proxy while the job runs: never in a log.
  const capability = randomBytes(32).toString('base64url')
  maskSecret(capability)
  const stopToken = randomBytes(32).toString('base64url')
  maskSecret(stopToken)
  saveValue(StateKey.KeyProxyStopToken, stopToken)
  const hint = `Check HTTPS_PROXY, ALL_PROXY and NO_PROXY, through which it reaches ${upstream}, or set key-isolation: none.`
  // What the proxy could not start with, refused here (before the port is bound): main does not wait to hear it from the proxy.
  const unusable = unusableProxy(upstream)
  if (unusable) throw new UserError(`The key proxy could not start: ${unusable}. ${hint}`)
  // The usage-file output names it at once, and main does not wait for the proxy to write it.
  await writePrivateFile(path.join(dir, USAGE_FILE), JSON.stringify(new Meter(caps).report(), null, 2))
  const startedAt = Date.now()
  const started = (port: number): StartedProxy => ({
    origin: `${credential.tls ? 'https' : 'http'}://127.0.0.1:${port}/${capability}`,
    port,
    capability,
    usageFile: path.join(dir, USAGE_FILE),
    dir
  })
  const listener = await loopbackListener()
  const config: KeyProxyConfig = {
    ...credential,
    capability,
    dir,
    stopToken,
    inherited: listener !== undefined,
    deadline: Date.now() + MAX_LIFETIME_MS,
    ca,
    caps
  }
  const child = await startDetached('key-proxy', config, dir, listener ? 'ignore' : 'pipe', listener?.fd)
  if (listener) {
    // The proxy holds its own copy of the socket now.
    listener.server.close()
    child.unref()
    core.info(
      `Key proxy started (pid ${child.pid}) on 127.0.0.1:${listener.port} in ${Date.now() - startedAt} ms; it ${credential.bedrock?.auth.kind === 'sigv4' ? 'signs' : 'adds the key to'} requests for ${upstream}. The post step stops it.`
    )
    return started(listener.port)
  }
  const port = await new Promise<number>((resolve, reject) => {
    let text = ''
    const failed = () => reject(new UserError(`The key proxy exited before it was ready. ${hint}`))
    child.once('exit', failed)
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
      if (!text.includes('\n')) return
      child.off('exit', failed)
      child.stdout?.destroy()
      const answer = JSON.parse(text) as { port?: number; error?: string }
      if (answer.port) resolve(answer.port)
      else
        reject(new UserError(`The key proxy could not start: ${inline(answer.error ?? 'it named no port')}. ${hint}`))
    })
  })
  child.unref()
  core.info(
    `Key proxy started (pid ${child.pid}) on 127.0.0.1:${port} in ${Date.now() - startedAt} ms; it ${credential.bedrock?.auth.kind === 'sigv4' ? 'signs' : 'adds the key to'} requests for ${upstream}. The post step stops it.`
  )
  return started(port)
}

/** Why the proxy variables name no proxy the key proxy can use for `upstream` (it takes http: and https:), if so. Never the URL: it may hold a password. */
function unusableProxy(upstream: string): string | undefined {
  const proxyUrl = proxyFor(new URL(upstream))
  if (!proxyUrl) return undefined
  if (!URL.canParse(proxyUrl)) return 'Invalid URL (ERR_INVALID_URL)'
  const { protocol } = new URL(proxyUrl)
  return /^https?:$/.test(protocol)
    ? undefined
    : `a ${inline(protocol.replace(/:$/, ''))} proxy, where it takes http: or https:`
}

/** The post step's part: stop the proxy through its own directory (see stopHelper), then its report. */
/** `beforeReport`: what must come before anything is printed, once the proxy stopped (masks of the files it wrote last). */
export async function stopKeyProxy(dir: string, beforeReport?: () => Promise<void>): Promise<void> {
  // Forgotten first: whatever follows, no later step acts on it again.
  saveValue(StateKey.KeyProxyDir, '')
  const status = await stopHelper<KeyProxyStatus>(dir, STATUS_FILE, readValue(StateKey.KeyProxyStopToken))
  await beforeReport?.()
  // No status at all: it never got as far as listening, so there is nothing to report.
  if (!status) return
  // Written before the status: the figures as they stood when the proxy stopped (or was ended).
  const usage = await fs
    .readFile(path.join(dir, USAGE_FILE), 'utf8')
    .then((text) => JSON.parse(text) as UsageReport)
    .catch(() => undefined)
  if (usage) await reportUsage(usage)
  if (status.state !== 'stopped') {
    core.warning(
      `The key proxy (pid ${status.pid}) did not confirm that it stopped (it may have been killed during the job); its directory is removed now, which ends it and its guard.`
    )
    return
  }
  // An expired role session shows here, after the job, as well as in the codex step that met it.
  if (status.credentialRefusals)
    core.warning(
      inline(
        `${status.signin ? 'The ChatGPT sign-in was refused' : 'Amazon Bedrock refused the credentials'} ${status.credentialRefusals} times during the job; the last time: ${status.lastRefusal ?? 'no reason given'}`
      )
    )
  const errors = status.upstreamErrors
    ? `, ${status.upstreamErrors} upstream errors (the last HTTP ${status.lastUpstreamStatus ?? 'connection failure'})`
    : ', no upstream error'
  const websockets = ` (${status.websockets ?? 0} of them websockets, which carried ${status.websocketMessages ?? 0} messages upstream)`
  // The status file is writable by any process of the job: what it says is printed inert.
  core.info(
    inline(
      `Key proxy (pid ${status.pid}): ${status.requests} requests forwarded${websockets}${errors}, ${status.refused} refused; stopped.`
    )
  )
}

/** What later steps need from the key chooseCredential chose: config.toml alone (no login ran). */
function configured(chosen: LoggedIn | undefined, extra?: Partial<Authenticated>): Authenticated {
  if (!chosen) throw new Error('authenticate ran before configFor')
  return {
    mode: 'api-key',
    fingerprint: chosen.fingerprint,
    verified: chosen.verified,
    env: {},
    loggedIn: false,
    ...extra
  }
}

/**
 * An api-key, kept only in the memory of a loopback proxy that Codex talks to
 * (key-isolation: proxy, or auto where nothing rules it out; always for Azure OpenAI).
 */
export const keyProxy: SourceKind = {
  name: 'key-proxy',
  metered: true,
  select(inputs) {
    const credentials = inputs.keyIsolation === 'proxy' ? inputs.credentials : undefined
    if (credentials?.mode !== 'api-key') return undefined
    let chosen: LoggedIn | undefined
    let usageFile = ''
    return {
      mode: 'api-key',
      async configFor({ anchors, http, created }) {
        await requireActionConfig(
          inputs.codexHome,
          isAzureEndpoint(inputs.apiBaseUrl)
            ? `api-base-url ${inputs.apiBaseUrl} (Azure OpenAI)`
            : 'key-isolation: proxy'
        )
        chosen = await chooseCredential(credentials, inputs, http)
        const proxy = await startKeyProxy(
          { key: chosen.credential.secret, upstream: inputs.apiBaseUrl },
          anchors,
          inputs.spend,
          created
        )
        usageFile = proxy.usageFile
        return provider(`${proxy.origin}/v1`)
      },
      authenticate: async () => {
        const caps = describeCaps(inputs.spend)
        return configured(chosen, {
          outputs: { 'usage-file': usageFile },
          summary: [['Spend caps', caps ? `${caps} (enforced by the key proxy)` : 'none']]
        })
      }
    }
  },
  stop: stopSavedKeyProxy
}

/** The post step's (or a failed main's) stop of whichever proxy main started, found through state. */
export async function stopSavedKeyProxy(beforeReport?: () => Promise<void>): Promise<void> {
  const dir = readValue(StateKey.KeyProxyDir)
  if (dir) await stopKeyProxy(dir, beforeReport)
  else await beforeReport?.()
}
