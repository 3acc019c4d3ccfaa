import * as core from '@actions/core'
import * as io from '@actions/io'
import * as path from 'node:path'
import { cliEnv, cliVersion, parseVersion } from '../codex/cli.js'
import { backgroundHosts, checkEndpoints, configEndpoints, mergeConfig, parseUserConfig } from '../codex/config.js'
import { prepareCodexHome, type CodexHome } from '../codex/home.js'
import { loginLogPath } from '../codex/login.js'
import { loopbackRoutes, makeEgressDir, startEgressProxy } from '../helpers/egress/control.js'
import { getInputs, type Inputs } from '../inputs/inputs.js'
import { describeNetwork, modelApiRules } from '../inputs/network.js'
import { installCodex, type InstalledCli } from '../install/install.js'
import { reportWorkspaceCredentials } from '../jail/checkout.js'
import { prepareJail, type Jail } from '../jail/jail.js'
import { CreatedPaths } from '../job/created-paths.js'
import { errorLine, UserError } from '../job/errors.js'
import { runnerTemp } from '../job/files.js'
import { claimState } from '../job/state.js'
import { loadCaBundle, reportCaBundle, trustAnchors, writeCaBundle, type WrittenCa } from '../net/ca-bundle.js'
import { HttpClient } from '../net/http.js'
import { inline } from '../secrets/inert-output.js'
import { chooseSource, type ChosenSource } from '../sources/choose.js'
import type { Authenticated } from '../sources/source.js'
import { writeSummary, type RunReport } from './run-report.js'
import { checkTrigger } from './trigger-policy.js'

/** The main step: one call per stage, in order, inside one error boundary. */
export async function run(): Promise<void> {
  const created = new CreatedPaths()
  const report: RunReport = { exported: [] }
  let http: HttpClient | undefined
  let source: ChosenSource | undefined
  try {
    claimState()
    const inputs = getInputs()
    source = chooseSource(inputs)
    report.mode = source.mode
    checkTrigger(inputs)
    // Everything that can be checked is checked before anything is written or downloaded.
    const userConfig = parseUserConfig(inputs.config)
    // Before any request: a source may send the credential (verify) before config.toml is written.
    checkEndpoints(userConfig, source.mode, 'config')
    const ca = await loadCaBundle(inputs.caCertificate, inputs.caCertificateFile)
    if (ca) {
      await phase('CA bundle', async () => reportCaBundle(ca))
      report.caCertificates = ca.certificates
    }
    const writtenCa = ca
      ? await writeCaBundle(ca, runnerTemp(), inputs.exportNodeCa, (dir) => created.add(dir))
      : undefined
    const anchors = ca ? await trustAnchors(ca) : undefined
    const client = new HttpClient({
      ca: anchors,
      idleTimeoutMs: inputs.networkIdleTimeoutMs,
      authOrigin: new URL(inputs.registryUrl).origin,
      authHeaders: inputs.registryToken ? { authorization: `Bearer ${inputs.registryToken}` } : undefined
    })
    http = client
    // A source may need settings in config.toml, such as the address of a helper it starts.
    const sourceConfig = await source.configFor({ inputs, anchors, http: client, created })
    // codex-network: where the jail can have a network of its own, Codex's background requests are turned off.
    const restrictedNetwork =
      inputs.network.mode === 'filtered' && process.platform === 'linux' && inputs.codexIsolation !== 'none'
    const home = await prepareCodexHome(inputs.codexHome, created, mergeConfig(userConfig, sourceConfig), {
      mode: source.mode,
      exported: inputs.exportEnv ? source.secretVariable : undefined,
      allowSecretInShell: inputs.allowSecretInShell,
      restrictedNetwork
    })
    const started = Date.now()
    const cli = await phase('Codex CLI', async () =>
      inputs.install ? installCodex(client, inputs.registryUrl, inputs.version, created, home.cliDir) : codexOnPath()
    )
    report.source = !inputs.install
      ? 'from PATH'
      : cli.cacheHit
        ? 'tool cache'
        : `downloaded in ${((Date.now() - started) / 1000).toFixed(1)} s`
    // A fresh download has just been run (in staging, and in the cache on a lost race). A CLI
    // found in place is run by the jail's proof (its --version through the jail), or, without
    // a jail, on its own; where the CLI itself fails, its failure comes first.
    const versionCheck = () =>
      cli.version !== undefined ? Promise.resolve(cli.version) : cliVersion(cli.binary, home.cliDir)
    // codex-network: the directory of the egress proxy (and the model API's socket) the jail's relay leads to.
    core.info(describeNetwork(inputs.network))
    const keyProxyPort = loopbackApiPort(sourceConfig)
    // Codex's own loopback endpoints (the key proxy, a gateway on 127.0.0.1): the jail's relay carries each to the runner's loopback.
    const apiPorts = [...new Set([...(keyProxyPort ? [keyProxyPort] : []), ...loopbackPorts(home.config)])]
    let egressPort = EGRESS_PORT
    while (apiPorts.includes(egressPort)) egressPort++
    const egressDir = restrictedNetwork ? await makeEgressDir(created) : undefined
    const jail = await phase('Codex jail', async () =>
      prepareJail(
        inputs.codexIsolation,
        {
          binary: cli.binary,
          codexHome: home.dir,
          env: cliEnv(home.dir),
          readOnly: writtenCa ? [path.dirname(writtenCa.bundlePath)] : []
        },
        created,
        egressDir ? { dir: egressDir, egressPort, loopback: loopbackRoutes(apiPorts) } : undefined
      )
    ).catch(async (error: unknown) => {
      await versionCheck()
      throw error
    })
    // The proxy only where the jail has a network of its own (none where no jail could be made).
    if (inputs.network.mode === 'filtered' && egressDir && jail?.network) {
      const egress = await startEgressProxy(egressDir, inputs.network, anchors, {
        apiPorts,
        apiHosts: keyProxyPort ? [] : modelApiRules(inputs.apiBaseUrl),
        background: backgroundHosts(home.config)
      })
      core.setOutput('network-report', egress.reportFile)
    }
    const version = cli.version ?? (jail && parseVersion(jail.versionOutput)) ?? (await versionCheck())
    if (inputs.network.mode === 'open')
      core.notice(
        "codex-network: open: Codex's commands reach whatever the runner reaches (no network namespace of their own)."
      )
    else if (!jail?.network)
      core.warning(
        `codex-network is not enforced on this runner: ${jail ? "the jail keeps the job's network" : 'Codex runs without a jail of its own here'}, so the commands the model runs reach whatever the runner reaches. Set codex-network: open to say so without this warning.`
      )
    core.info(`Codex CLI ${version}: ${inline(cli.binary)}`)
    report.version = version
    await reportWorkspaceCredentials(jail !== undefined)
    const auth = await source.authenticate({
      inputs,
      binary: cli.binary,
      version,
      home,
      ca: writtenCa,
      anchors,
      http: client,
      created
    })
    Object.assign(report, {
      fingerprint: auth.fingerprint,
      expiresAt: auth.expiresAt,
      verified: auth.verified,
      details: auth.summary
    })
    // What the source exported for Codex (the OIDC token's file) is shown in the jail, read-only.
    await jail?.show(
      Object.values(auth.env)
        .filter((value) => path.isAbsolute(value))
        .map((file) => path.dirname(file))
    )
    await phase('Exports for later steps', async () =>
      exportForLaterSteps(inputs, cli, version, home, writtenCa, auth, report, jail)
    )
  } catch (error) {
    // A failed run leaves no credential, no helper process and no half-made directory behind.
    await source
      ?.stop()
      .catch((stopError: unknown) =>
        core.warning(`Could not stop what the credential source started: ${(stopError as Error).message}`)
      )
    await created.removeAll()
    report.error = errorLine(error)
    core.setFailed(report.error)
  } finally {
    await http?.close()
    await writeSummary(report)
  }
}

/** The port HTTPS_PROXY names in the jail (any: only the relay listens there). */
const EGRESS_PORT = 3128

/** The ports of the endpoints a config names on this machine's loopback (127.0.0.1, localhost), wherever in it. */
function loopbackPorts(config: Record<string, unknown>): number[] {
  return configEndpoints(config).flatMap(({ url }) => {
    const parsed = typeof url === 'string' && URL.canParse(url) ? new URL(url) : undefined
    if (!parsed || !['127.0.0.1', 'localhost'].includes(parsed.hostname)) return []
    return [Number(parsed.port) || (parsed.protocol === 'https:' ? 443 : 80)]
  })
}

/** The key proxy's port, where the source pointed Codex at one on loopback. */
function loopbackApiPort(config: Record<string, unknown>): number | undefined {
  const providers = (config.model_providers ?? {}) as Record<string, { base_url?: unknown }>
  for (const provider of Object.values(providers)) {
    const url =
      typeof provider.base_url === 'string' && URL.canParse(provider.base_url) ? new URL(provider.base_url) : undefined
    if (url?.hostname === '127.0.0.1' && url.port) return Number(url.port)
  }
  // A personal access token's key proxy is Codex's ChatGPT backend.
  const chatgpt = typeof config.chatgpt_base_url === 'string' ? config.chatgpt_base_url : ''
  const backend = URL.canParse(chatgpt) ? new URL(chatgpt) : undefined
  if (backend?.hostname === '127.0.0.1' && backend.port) return Number(backend.port)
  return undefined
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

async function codexOnPath(): Promise<InstalledCli> {
  const binary = await io.which('codex', false)
  if (!binary) {
    throw new UserError(
      'install is false but no codex is on PATH. Install the Codex CLI in an earlier step, or set install: true.'
    )
  }
  return { root: path.dirname(path.dirname(binary)), binary, cacheHit: false }
}

function exportForLaterSteps(
  inputs: Inputs,
  cli: InstalledCli,
  version: string,
  home: CodexHome,
  ca: WrittenCa | undefined,
  auth: Authenticated,
  report: RunReport,
  jail: Jail | undefined
): void {
  const exportVariable = (name: string, value: string) => {
    core.exportVariable(name, value)
    report.exported.push(name)
  }
  if (inputs.install) {
    core.addPath(path.join(cli.root, 'codex-path'))
    if (!jail) core.addPath(path.dirname(cli.binary))
  }
  // The wrapper comes first: the `codex` of later steps runs in its jail.
  if (jail) core.addPath(path.dirname(jail.wrapper))
  if (inputs.install || jail) report.exported.push('PATH')
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
  core.setOutput('codex-path', jail?.wrapper ?? cli.binary)
  core.setOutput('codex-home', home.dir)
  core.setOutput('auth-mode', auth.mode)
  core.setOutput('credential-fingerprint', auth.fingerprint)
  core.setOutput('credential-expires-at', auth.expiresAt?.toISOString() ?? '')
  core.setOutput('cache-hit', String(cli.cacheHit))
  // Without a login of its own (workload identity) there is no login log.
  if (auth.loggedIn) core.setOutput('login-log', loginLogPath(home))
  for (const [name, value] of Object.entries(auth.outputs ?? {})) core.setOutput(name, value)
  core.info(`Credential fingerprint: ${auth.fingerprint}`)
}
