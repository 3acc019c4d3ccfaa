import * as path from 'node:path'
import * as core from '@actions/core'
import * as io from '@actions/io'
import { loadCaBundle, reportCaBundle, trustAnchors, writeCaBundle, type WrittenCa } from './ca.js'
import { CreatedPaths } from './cleanup.js'
import { cliEnv, cliVersion, loginLogPath, prepareCodexHome, runCli, type CodexHome } from './codex.js'
import { parseUserConfig } from './config.js'
import { logIn } from './credential.js'
import { errorLine, UserError } from './errors.js'
import { runnerTemp } from './files.js'
import { HttpClient } from './http.js'
import { getInputs, type AuthMode, type Inputs, type WorkloadIdentity } from './inputs.js'
import { installCodex, type InstalledCli } from './install/index.js'
import { checkTrigger } from './policy.js'
import { fingerprint } from './secrets.js'
import { writeSummary, type RunReport } from './summary.js'
import { startWorkloadIdentity, stopRefresher } from './workload-identity.js'

/** How later steps are authenticated, whatever the mode. */
interface Authenticated {
  mode: AuthMode
  fingerprint: string
  expiresAt?: Date
  verified: boolean
  /** Variables later steps need for this mode. */
  env: Record<string, string>
  /** The secret itself, exported only with export-env. */
  secretEnv?: [string, string]
}

/** The main step: one call per stage, in order, inside one error boundary. */
export async function run(): Promise<void> {
  const created = new CreatedPaths()
  const report: RunReport = { exported: [] }
  let http: HttpClient | undefined
  try {
    const inputs = getInputs()
    const mode: AuthMode = inputs.workloadIdentity ? 'workload-identity' : (inputs.credentials?.mode ?? 'api-key')
    report.mode = mode
    checkTrigger(inputs.allowUntrusted)
    // Everything that can be checked is checked before anything is written or downloaded.
    const userConfig = parseUserConfig(inputs.config)
    const ca = await loadCaBundle(inputs.caCertificate, inputs.caCertificateFile)
    if (ca) {
      await phase('CA bundle', async () => reportCaBundle(ca))
      report.caCertificates = ca.certificates
    }
    const home = await prepareCodexHome(inputs.codexHome, created, userConfig, mode)
    const writtenCa = ca ? await writeCaBundle(ca, runnerTemp(), inputs.exportNodeCa, (dir) => created.add(dir)) : undefined
    const anchors = ca ? await trustAnchors(ca) : undefined
    const client = new HttpClient({
      ca: anchors,
      idleTimeoutMs: inputs.networkIdleTimeoutMs,
      authOrigin: new URL(inputs.registryUrl).origin,
      authHeaders: inputs.registryToken ? { authorization: `Bearer ${inputs.registryToken}` } : undefined
    })
    http = client
    const started = Date.now()
    const { cli, version } = await phase('Codex CLI', async () => {
      const found = inputs.install ? await installCodex(client, inputs.registryUrl, inputs.version, created) : await codexOnPath()
      const foundVersion = await cliVersion(found.binary, home)
      core.info(`Codex CLI ${foundVersion}: ${found.binary}`)
      return { cli: found, version: foundVersion }
    })
    report.version = version
    report.source = !inputs.install ? 'from PATH' : cli.cacheHit ? 'tool cache' : `downloaded in ${((Date.now() - started) / 1000).toFixed(1)} s`
    let auth: Authenticated
    if (inputs.workloadIdentity) {
      auth = await federate(inputs.workloadIdentity, inputs, cli.binary, home, writtenCa, anchors, client, created)
    } else {
      const credentials = inputs.credentials!
      const loggedIn = await logIn({ binary: cli.binary, version, home, caPath: writtenCa?.bundlePath, created, secrets: credentials.candidates }, credentials, inputs, client)
      const { mode: secretMode, secret } = loggedIn.credential
      auth = {
        mode: secretMode,
        fingerprint: loggedIn.fingerprint,
        expiresAt: loggedIn.expiresAt,
        verified: loggedIn.verified,
        env: {},
        secretEnv: [secretMode === 'api-key' ? 'CODEX_API_KEY' : 'CODEX_ACCESS_TOKEN', secret]
      }
    }
    Object.assign(report, { fingerprint: auth.fingerprint, expiresAt: auth.expiresAt, verified: auth.verified })
    await phase('Exports for later steps', async () => exportForLaterSteps(inputs, cli, version, home, writtenCa, auth, report))
  } catch (error) {
    // A failed run leaves no credential and no half-made directory behind.
    await created.removeAll()
    report.error = errorLine(error)
    core.setFailed(report.error)
  } finally {
    await http?.close()
    await writeSummary(report)
  }
}

/**
 * One phase of the step in a collapsible log group, closed with its time. (The login is
 * not grouped: its diagnostics group on failure cannot nest in another.)
 */
async function phase<T>(name: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now()
  return core.group(name, async () => {
    const result = await work()
    core.info(`${name}: done in ${((Date.now() - started) / 1000).toFixed(2)} s`)
    return result
  })
}

/** Workload identity: an OIDC token file kept fresh for the job; with verify, the CLI must accept it. */
async function federate(identity: WorkloadIdentity, inputs: Inputs, binary: string, home: CodexHome, ca: WrittenCa | undefined, anchors: string[] | undefined, http: HttpClient, created: CreatedPaths): Promise<Authenticated> {
  const started = await startWorkloadIdentity(http, identity, created, { ca: anchors, idleTimeoutMs: inputs.networkIdleTimeoutMs })
  const env = { OPENAI_FEDERATION_RULE_ID: identity.ruleId, OPENAI_IDENTITY_TOKEN_FILE: started.tokenFile }
  if (inputs.verify) {
    const failure = await runCli(binary, ['login', 'status'], { ...cliEnv(home.cliDir, ca?.bundlePath), ...env }, [])
    if (failure) {
      await stopRefresher(started.refresherDir)
      throw new UserError(`verify: codex login status does not accept the workload identity: ${failure.reason}. Check federation-rule-id and oidc-audience against the federation rule, and that this runner can reach OpenAI.`)
    }
    core.info('verify: codex login status accepts the workload identity.')
  }
  return { mode: 'workload-identity', fingerprint: fingerprint(identity.ruleId), expiresAt: started.expiresAt, verified: inputs.verify, env }
}

async function codexOnPath(): Promise<InstalledCli> {
  const binary = await io.which('codex', false)
  if (!binary) {
    throw new UserError('install is false but no codex is on PATH. Install the Codex CLI in an earlier step, or set install: true.')
  }
  return { root: path.dirname(path.dirname(binary)), binary, cacheHit: false }
}

function exportForLaterSteps(inputs: Inputs, cli: InstalledCli, version: string, home: CodexHome, ca: WrittenCa | undefined, auth: Authenticated, report: RunReport): void {
  const exportVariable = (name: string, value: string) => {
    core.exportVariable(name, value)
    report.exported.push(name)
  }
  if (inputs.install) {
    core.addPath(path.join(cli.root, 'codex-path'))
    core.addPath(path.dirname(cli.binary))
    report.exported.push('PATH')
  }
  exportVariable('CODEX_HOME', home.dir)
  if (ca) {
    // CODEX_CA_CERTIFICATE adds to the system roots; SSL_CERT_FILE would replace them, so it is left alone.
    exportVariable('CODEX_CA_CERTIFICATE', ca.bundlePath)
    if (ca.nodeCaPath) exportVariable('NODE_EXTRA_CA_CERTS', ca.nodeCaPath)
    core.setOutput('ca-certificate-path', ca.bundlePath)
  }
  for (const [name, value] of Object.entries(auth.env)) exportVariable(name, value)
  if (inputs.exportEnv && auth.secretEnv) {
    exportVariable(...auth.secretEnv)
    core.info(`Exported ${auth.secretEnv[0]} to later steps (export-env: true).`)
  }
  core.setOutput('codex-version', version)
  core.setOutput('codex-path', cli.binary)
  core.setOutput('codex-home', home.dir)
  core.setOutput('auth-mode', auth.mode)
  core.setOutput('credential-fingerprint', auth.fingerprint)
  core.setOutput('credential-expires-at', auth.expiresAt?.toISOString() ?? '')
  core.setOutput('cache-hit', String(cli.cacheHit))
  // Workload identity has no login of its own, so no login log.
  if (auth.mode !== 'workload-identity') core.setOutput('login-log', loginLogPath(home))
  core.info(`Credential fingerprint: ${auth.fingerprint}`)
}
