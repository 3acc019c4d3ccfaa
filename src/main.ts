import * as path from 'node:path'
import * as core from '@actions/core'
import * as io from '@actions/io'
import { loadCaBundle, reportCaBundle, trustAnchors, writeCaBundle, type WrittenCa } from './ca.js'
import { CreatedPaths } from './cleanup.js'
import { cliVersion, login, prepareCodexHome } from './codex.js'
import { errorLine, UserError } from './errors.js'
import { runnerTemp } from './files.js'
import { HttpClient } from './http.js'
import { getInputs, type Inputs } from './inputs.js'
import { installCodex, type InstalledCli } from './install/index.js'
import { fingerprint } from './secrets.js'

/** The main step: one call per stage, in order, inside one error boundary. */
export async function run(): Promise<void> {
  const created = new CreatedPaths()
  let http: HttpClient | undefined
  try {
    const inputs = getInputs()
    // Everything that can be checked is checked before anything is written or downloaded.
    const ca = await loadCaBundle(inputs.caCertificate, inputs.caCertificateFile)
    if (ca) reportCaBundle(ca)
    const home = await prepareCodexHome(inputs.codexHome, created)
    const writtenCa = ca ? await writeCaBundle(ca, runnerTemp(), inputs.exportNodeCa, (dir) => created.add(dir)) : undefined
    http = new HttpClient({
      ca: ca ? await trustAnchors(ca) : undefined,
      idleTimeoutMs: inputs.networkIdleTimeoutMs,
      authOrigin: new URL(inputs.registryUrl).origin,
      authHeaders: inputs.registryToken ? { authorization: `Bearer ${inputs.registryToken}` } : undefined
    })
    const cli = inputs.install ? await installCodex(http, inputs.registryUrl, inputs.version, created) : await codexOnPath()
    const version = await cliVersion(cli.binary)
    core.info(`Codex CLI ${version}: ${cli.binary}`)
    await login(cli.binary, home, inputs.credential, created, writtenCa?.bundlePath)
    await exportForLaterSteps(inputs, cli, version, home.dir, writtenCa)
  } catch (error) {
    // A failed run leaves no credential and no half-made directory behind.
    await created.removeAll()
    core.setFailed(errorLine(error))
  } finally {
    await http?.close()
  }
}

async function codexOnPath(): Promise<InstalledCli> {
  const binary = await io.which('codex', false)
  if (!binary) {
    throw new UserError('install is false but no codex is on PATH. Install the Codex CLI in an earlier step, or set install: true.')
  }
  return { root: path.dirname(path.dirname(binary)), binary, cacheHit: false }
}

async function exportForLaterSteps(inputs: Inputs, cli: InstalledCli, version: string, home: string, ca: WrittenCa | undefined): Promise<void> {
  const { mode, secret } = inputs.credential
  if (inputs.install) {
    core.addPath(path.join(cli.root, 'codex-path'))
    core.addPath(path.dirname(cli.binary))
  }
  core.exportVariable('CODEX_HOME', home)
  if (ca) {
    // CODEX_CA_CERTIFICATE adds to the system roots; SSL_CERT_FILE would replace them, so it is left alone.
    core.exportVariable('CODEX_CA_CERTIFICATE', ca.bundlePath)
    if (ca.nodeCaPath) core.exportVariable('NODE_EXTRA_CA_CERTS', ca.nodeCaPath)
    core.setOutput('ca-certificate-path', ca.bundlePath)
  }
  if (inputs.exportEnv) {
    const name = mode === 'api-key' ? 'CODEX_API_KEY' : 'CODEX_ACCESS_TOKEN'
    core.exportVariable(name, secret)
    core.info(`Exported ${name} to later steps (export-env: true).`)
  }
  const id = fingerprint(secret)
  core.setOutput('codex-version', version)
  core.setOutput('codex-path', cli.binary)
  core.setOutput('codex-home', home)
  core.setOutput('auth-mode', mode)
  core.setOutput('credential-fingerprint', id)
  core.setOutput('cache-hit', String(cli.cacheHit))
  core.info(`Credential fingerprint: ${id}`)
  if (!process.env.GITHUB_STEP_SUMMARY) return
  await core.summary
    .addHeading('Codex CLI', 3)
    .addTable([
      [{ data: 'Version', header: true }, version],
      [{ data: 'Source', header: true }, inputs.install ? (cli.cacheHit ? 'tool cache' : 'downloaded') : 'PATH'],
      [{ data: 'Auth mode', header: true }, mode],
      [{ data: 'Credential fingerprint', header: true }, id],
      [{ data: 'CODEX_HOME', header: true }, home],
      [{ data: 'CA bundle', header: true }, ca ? ca.bundlePath : 'none']
    ])
    .write()
}
