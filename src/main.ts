import * as path from 'node:path'
import * as core from '@actions/core'
import * as io from '@actions/io'
import { loadCaBundle, reportCaBundle, trustAnchors, writeCaBundle, type WrittenCa } from './ca.js'
import { CreatedPaths } from './cleanup.js'
import { cliVersion, loginLogPath, prepareCodexHome } from './codex.js'
import { parseUserConfig } from './config.js'
import { logIn, type LoggedIn } from './credential.js'
import { errorLine, UserError } from './errors.js'
import { runnerTemp } from './files.js'
import { HttpClient } from './http.js'
import { getInputs, type Inputs } from './inputs.js'
import { installCodex, type InstalledCli } from './install/index.js'
import { checkTrigger } from './policy.js'
import { writeSummary, type RunReport } from './summary.js'

/** The main step: one call per stage, in order, inside one error boundary. */
export async function run(): Promise<void> {
  const created = new CreatedPaths()
  const report: RunReport = { exported: [] }
  let http: HttpClient | undefined
  try {
    const inputs = getInputs()
    report.mode = inputs.credentials.mode
    checkTrigger(inputs.allowUntrusted)
    // Everything that can be checked is checked before anything is written or downloaded.
    const userConfig = parseUserConfig(inputs.config)
    const ca = await loadCaBundle(inputs.caCertificate, inputs.caCertificateFile)
    if (ca) {
      reportCaBundle(ca)
      report.caCertificates = ca.certificates
    }
    const home = await prepareCodexHome(inputs.codexHome, created, userConfig, inputs.credentials.mode)
    const writtenCa = ca ? await writeCaBundle(ca, runnerTemp(), inputs.exportNodeCa, (dir) => created.add(dir)) : undefined
    http = new HttpClient({
      ca: ca ? await trustAnchors(ca) : undefined,
      idleTimeoutMs: inputs.networkIdleTimeoutMs,
      authOrigin: new URL(inputs.registryUrl).origin,
      authHeaders: inputs.registryToken ? { authorization: `Bearer ${inputs.registryToken}` } : undefined
    })
    const started = Date.now()
    const cli = inputs.install ? await installCodex(http, inputs.registryUrl, inputs.version, created) : await codexOnPath()
    const version = await cliVersion(cli.binary)
    report.version = version
    report.source = !inputs.install ? 'from PATH' : cli.cacheHit ? 'tool cache' : `downloaded in ${((Date.now() - started) / 1000).toFixed(1)} s`
    core.info(`Codex CLI ${version}: ${cli.binary}`)
    const loggedIn = await logIn(
      { binary: cli.binary, version, home, caPath: writtenCa?.bundlePath, created, secrets: inputs.credentials.candidates },
      inputs.credentials,
      inputs,
      http
    )
    Object.assign(report, { fingerprint: loggedIn.fingerprint, expiresAt: loggedIn.expiresAt, verified: loggedIn.verified })
    exportForLaterSteps(inputs, cli, version, home.dir, writtenCa, loggedIn, report)
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

async function codexOnPath(): Promise<InstalledCli> {
  const binary = await io.which('codex', false)
  if (!binary) {
    throw new UserError('install is false but no codex is on PATH. Install the Codex CLI in an earlier step, or set install: true.')
  }
  return { root: path.dirname(path.dirname(binary)), binary, cacheHit: false }
}

function exportForLaterSteps(inputs: Inputs, cli: InstalledCli, version: string, home: string, ca: WrittenCa | undefined, loggedIn: LoggedIn, report: RunReport): void {
  const exportVariable = (name: string, value: string) => {
    core.exportVariable(name, value)
    report.exported.push(name)
  }
  if (inputs.install) {
    core.addPath(path.join(cli.root, 'codex-path'))
    core.addPath(path.dirname(cli.binary))
    report.exported.push('PATH')
  }
  exportVariable('CODEX_HOME', home)
  if (ca) {
    // CODEX_CA_CERTIFICATE adds to the system roots; SSL_CERT_FILE would replace them, so it is left alone.
    exportVariable('CODEX_CA_CERTIFICATE', ca.bundlePath)
    if (ca.nodeCaPath) exportVariable('NODE_EXTRA_CA_CERTS', ca.nodeCaPath)
    core.setOutput('ca-certificate-path', ca.bundlePath)
  }
  const { mode, secret } = loggedIn.credential
  if (inputs.exportEnv) {
    const name = mode === 'api-key' ? 'CODEX_API_KEY' : 'CODEX_ACCESS_TOKEN'
    exportVariable(name, secret)
    core.info(`Exported ${name} to later steps (export-env: true).`)
  }
  core.setOutput('codex-version', version)
  core.setOutput('codex-path', cli.binary)
  core.setOutput('codex-home', home)
  core.setOutput('auth-mode', mode)
  core.setOutput('credential-fingerprint', loggedIn.fingerprint)
  core.setOutput('credential-expires-at', loggedIn.expiresAt?.toISOString() ?? '')
  core.setOutput('cache-hit', String(cli.cacheHit))
  core.setOutput('login-log', loginLogPath(home))
  core.info(`Credential fingerprint: ${loggedIn.fingerprint}`)
}
