import * as core from '@actions/core'
import { createHash } from 'node:crypto'
import { PROXY_VARIABLES } from './proxy-rules.js'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { UserError } from '../job/errors.js'
import { makePrivateDir, runnerTemp, writePrivateFile } from '../job/files.js'
import { defaultAnchors } from './ca-bundle.js'
import type { HttpClientOptions } from './http.js'

/**
 * The variables that steer the action's own requests: where they go (proxies) and whom
 * they trust (CAs, TLS checks). Any later step, and any command the model runs, can set
 * them for the post step through GITHUB_ENV.
 */
export const NETWORK_VARIABLES = [
  ...PROXY_VARIABLES,
  'NODE_EXTRA_CA_CERTS',
  'NODE_USE_SYSTEM_CA',
  'NODE_TLS_REJECT_UNAUTHORIZED',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR'
]

/** The main step's network settings, for a post step that sends a token (in its state: no secret). */
export interface SavedNetwork {
  /** The variables as later steps start with them (unset ones absent). */
  env: Record<string, string>
  /** Every certificate the main step's requests trusted, as JSON in a private file (too long for the state), and its SHA-256. */
  trustFile: string
  trustSha256: string
  idleTimeoutMs: number
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')

/**
 * Saves the settings the main step's requests use: the variables (with `exported`, what
 * this step hands later steps itself) and the certificates `anchors` names, or else those
 * Node trusts by default in this process.
 */
export async function saveNetwork(
  anchors: string[] | undefined,
  exported: Record<string, string>,
  idleTimeoutMs: number,
  record: (dir: string) => void
): Promise<SavedNetwork> {
  const env: Record<string, string> = {}
  for (const name of NETWORK_VARIABLES) {
    const value = exported[name] ?? process.env[name]
    if (value !== undefined) env[name] = value
  }
  const text = JSON.stringify(anchors ?? (await defaultAnchors(false)))
  const dir = await makePrivateDir(runnerTemp(), 'codex-network-')
  record(dir)
  const trustFile = path.join(dir, 'trusted.json')
  await writePrivateFile(trustFile, text)
  return { env, trustFile, trustSha256: sha256(text), idleTimeoutMs }
}

/**
 * The post step's HTTP client settings: the main step's, never ones that appeared later.
 * A variable that changed since is named in a warning (not its value: a proxy URL may hold
 * a password) and put back, in this process, as the main step saw it; a trust file that
 * changed is refused, since nothing else says whom the main step trusted.
 */
export async function restoreNetwork(saved: SavedNetwork): Promise<HttpClientOptions> {
  const changed = NETWORK_VARIABLES.filter((name) => process.env[name] !== saved.env[name])
  if (changed.length) {
    core.warning(
      `${changed.join(', ')} changed after the main step (a later step, or a command Codex ran, set ${changed.length > 1 ? 'them' : 'it'} through GITHUB_ENV). ` +
        'The post step ignores the change: it uses the proxy and the certificates the main step used.'
    )
  }
  for (const name of changed) {
    const value = saved.env[name]
    if (value === undefined) delete process.env[name]
    else process.env[name] = value
  }
  const text = await fs.readFile(saved.trustFile, 'utf8').catch(() => '')
  if (sha256(text) !== saved.trustSha256) {
    throw new UserError(
      `The list of certificates the main step trusted (${saved.trustFile}) was changed or removed during the job, so the post step cannot tell whom to trust and sends nothing. ` +
        'Find the step that wrote under RUNNER_TEMP.'
    )
  }
  return { ca: JSON.parse(text) as string[], idleTimeoutMs: saved.idleTimeoutMs }
}
