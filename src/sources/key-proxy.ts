import { randomBytes } from 'node:crypto'
import * as core from '@actions/core'
import { MAX_LIFETIME_MS, startDetached, stopHelper, type HelperStatus } from '../detached.js'
import { listRefused, rotationWarning, type Refused } from '../credential.js'
import { isAzureEndpoint, requireActionConfig } from '../endpoint.js'
import { UserError } from '../errors.js'
import { makePrivateDir, runnerTemp } from '../files.js'
import type { HttpClient } from '../http.js'
import type { Credentials, Inputs } from '../inputs.js'
import { fingerprint, maskSecret } from '../secrets.js'
import { readValue, saveValue, StateKey } from '../state.js'
import { verifyApiKey } from '../verify.js'
import { inline } from '../untrusted.js'
import type { Authenticated, ConfigContext, CredentialSource } from './source.js'

/** What the key proxy process gets on stdin: never in argv, the environment or a file. */
export interface KeyProxyConfig {
  key: string
  /** api-base-url: where requests go, with the key added. */
  upstream: string
  /** The random first segment of every path the proxy serves. */
  capability: string
  /** Its private directory: status.json, and the `stop` file the post step creates. */
  dir: string
  /** Epoch milliseconds after which it stops whatever happens. */
  deadline: number
  ca?: string[]
}

/** The proxy's report, for the post step. Holds no secret and no text from elsewhere. */
export interface KeyProxyStatus extends HelperStatus {
  /** Requests forwarded upstream. */
  requests: number
  /** Requests refused: no capability, or not one of the three Codex needs. */
  refused: number
  /** Upstream failures: no connection, or a 5xx answer. */
  upstreamErrors: number
  lastUpstreamStatus?: number
}

/** The provider in config.toml. Azure needs nothing else of Codex 0.171.0 than its key header. */
const PROVIDER = 'codex-auth-action'

/** The key each run chose, between configFor and authenticate. */
const chosen = new WeakMap<Credentials, string>()

/**
 * The key to use: the first, or with verify the first one the endpoint accepts (checked
 * with the header the endpoint expects). Keys refused are named by fingerprint.
 */
async function chooseKey(http: HttpClient, inputs: Inputs, credentials: Credentials): Promise<string> {
  if (!inputs.verify) return credentials.candidates[0]
  const refused: Refused[] = []
  for (const key of credentials.candidates) {
    const id = fingerprint(key)
    const outcome = await verifyApiKey(http, inputs.apiBaseUrl, key)
    core.info(`api-key ${id}: ${outcome.kind === 'accepted' ? `accepted by ${inputs.apiBaseUrl}` : outcome.detail}`)
    if (outcome.kind === 'accepted' || outcome.kind === 'rate-limited') {
      if (refused.length) core.warning(rotationWarning('api-key', id, refused))
      return key
    }
    refused.push({ id, why: outcome.detail })
  }
  throw new UserError(`No api-key was accepted by ${inputs.apiBaseUrl}: ${listRefused(refused)}. Put a current key first in the api-key secret.`)
}

/** Later steps need nothing but config.toml (no login ran); `exported` is where export-env may put the key. */
function configured(inputs: Inputs, credentials: Credentials, exported?: string): Authenticated {
  const key = chosen.get(credentials) ?? credentials.candidates[0]
  return { mode: 'api-key', fingerprint: fingerprint(key), verified: inputs.verify, env: {}, secretEnv: exported ? [exported, key] : undefined, loggedIn: false }
}

/** A custom provider in config.toml: Codex then needs no login and no auth.json. */
function provider(name: string, baseUrl: string, headers?: Record<string, string>): Record<string, unknown> {
  const table = { name, base_url: baseUrl, wire_api: 'responses', ...(headers && { http_headers: headers }) }
  return { model_provider: PROVIDER, model_providers: { [PROVIDER]: table } }
}

/**
 * Starts the key proxy with the key on stdin, and waits for the port it listens on. Its
 * directory is recorded first: removing it (a failed run, the post step) stops the proxy.
 */
async function startKeyProxy(key: string, upstream: string, ca: string[] | undefined, created: ConfigContext['created']): Promise<string> {
  const dir = await makePrivateDir(runnerTemp(), 'codex-keyproxy-')
  created.add(dir)
  saveValue(StateKey.KeyProxyDir, dir)
  // Anyone on this machine who learns it could use the proxy while the job runs: never in a log.
  const capability = randomBytes(32).toString('base64url')
  maskSecret(capability)
  const config: KeyProxyConfig = { key, upstream, capability, dir, deadline: Date.now() + MAX_LIFETIME_MS, ca }
  const started = Date.now()
  const child = startDetached('keyproxy', config, 'pipe')
  const port = await new Promise<number>((resolve, reject) => {
    let text = ''
    const hint = `Check HTTPS_PROXY, ALL_PROXY and NO_PROXY, through which it reaches ${upstream}, or remove key-isolation.`
    const failed = () => reject(new UserError(`The key proxy exited before it was ready. ${hint}`))
    child.once('exit', failed)
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8')
      if (!text.includes('\n')) return
      child.off('exit', failed)
      child.stdout?.destroy()
      const answer = JSON.parse(text) as { port?: number; error?: string }
      if (answer.port) resolve(answer.port)
      else reject(new UserError(`The key proxy could not start: ${inline(answer.error ?? 'it named no port')}. ${hint}`))
    })
  })
  child.unref()
  core.info(`Key proxy started (pid ${child.pid}) on 127.0.0.1:${port} in ${Date.now() - started} ms; it adds the key to requests for ${upstream}. The post step stops it.`)
  return `http://127.0.0.1:${port}/${capability}/v1`
}

/** The post step's part: stop the proxy through its own directory (see stopHelper), then its report. */
async function stopKeyProxy(dir: string): Promise<void> {
  // Forgotten first: whatever follows, no later step acts on it again.
  saveValue(StateKey.KeyProxyDir, '')
  const status = await stopHelper<KeyProxyStatus>(dir, 'status.json')
  // No status at all: it never got as far as listening, so there is nothing to report.
  if (!status) return
  if (status.state !== 'stopped') {
    core.warning(`The key proxy (pid ${status.pid}) did not confirm that it stopped (it may have been killed during the job); its directory is removed now, which ends it and its guard.`)
    return
  }
  const errors = status.upstreamErrors ? `, ${status.upstreamErrors} upstream errors (the last HTTP ${status.lastUpstreamStatus ?? 'connection failure'})` : ', no upstream error'
  core.info(`Key proxy (pid ${status.pid}): ${status.requests} requests forwarded${errors}, ${status.refused} refused; stopped.`)
}

/** An api-key, kept only in the memory of a loopback proxy that Codex talks to (key-isolation: proxy). */
export const keyProxy: CredentialSource<Credentials> = {
  name: 'key-proxy',
  select: (inputs) => (inputs.keyIsolation === 'proxy' ? inputs.credentials : undefined),
  mode: () => 'api-key',
  async configFor({ inputs, anchors, http, created }, credentials) {
    await requireActionConfig(inputs.codexHome, 'key-isolation: proxy')
    const key = await chooseKey(http, inputs, credentials)
    chosen.set(credentials, key)
    const baseUrl = await startKeyProxy(key, inputs.apiBaseUrl, anchors, created)
    return provider('codex-auth-action key proxy', baseUrl)
  },
  authenticate: async ({ inputs }, credentials) => configured(inputs, credentials),
  async stop() {
    const dir = readValue(StateKey.KeyProxyDir)
    if (dir) await stopKeyProxy(dir)
  }
}

/** Where export-env puts an Azure key (the name Azure's own tools read). */
const AZURE_KEY_VARIABLE = 'AZURE_OPENAI_API_KEY'

/**
 * An api-key for Azure OpenAI without the proxy: Codex sends Azure's `api-key` header
 * itself, from config.toml (0600, in the private CODEX_HOME), as no login could make it do.
 */
export const azureKey: CredentialSource<Credentials> = {
  name: 'azure-key',
  select: (inputs) => (inputs.keyIsolation === 'none' && inputs.credentials?.mode === 'api-key' && isAzureEndpoint(inputs.apiBaseUrl) ? inputs.credentials : undefined),
  mode: () => 'api-key',
  secretVariable: () => AZURE_KEY_VARIABLE,
  async configFor({ inputs, http }, credentials) {
    await requireActionConfig(inputs.codexHome, `api-base-url ${inputs.apiBaseUrl} (Azure OpenAI)`)
    const key = await chooseKey(http, inputs, credentials)
    chosen.set(credentials, key)
    return provider('Azure OpenAI', inputs.apiBaseUrl, { 'api-key': key })
  },
  authenticate: async ({ inputs }, credentials) => configured(inputs, credentials, AZURE_KEY_VARIABLE)
}
