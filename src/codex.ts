import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import * as core from '@actions/core'
import { getExecOutput } from '@actions/exec'
import type { CreatedPaths } from './cleanup.js'
import { checkConfig, configToml, parseExistingConfig, type ConfigRules } from './config.js'
import { UserError } from './errors.js'
import { isInside, lstatOrUndefined, makePrivateDir, runnerTemp, writePrivateFile } from './files.js'
import type { AuthMode, Credential } from './inputs.js'
import { fingerprint, redact } from './secrets.js'
import { inline, printUntrusted } from './untrusted.js'

/** A CODEX_HOME ready for login, and whether the action owns (and will delete) it. */
export interface CodexHome {
  dir: string
  owned: boolean
}

/** What a login needs besides the credential. */
export interface LoginContext {
  binary: string
  version: string
  home: CodexHome
  caPath?: string
  created: CreatedPaths
  /** Every secret of the run, redacted from whatever the CLI prints. */
  secrets: string[]
}

/** A login the CLI refused, or a credential the API refused, with what was said (redacted). */
export interface LoginFailure {
  /** What was run: a CLI command, or the live check. */
  command: string
  /** The CLI's exit code; none for the live check. */
  exitCode?: number
  output: string
  reason: string
}

/** Variables that would make the CLI use another credential than the one just stored. */
const COMPETING_CREDENTIALS = ['CODEX_API_KEY', 'CODEX_ACCESS_TOKEN']
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']

/** Creates the action's own CODEX_HOME under RUNNER_TEMP, or checks and prepares the one the user named. */
export async function prepareCodexHome(named: string | undefined, created: CreatedPaths, userConfig: Record<string, unknown>, rules: ConfigRules): Promise<CodexHome> {
  const config = configToml(userConfig, rules)
  if (!named) {
    const dir = await makePrivateDir(runnerTemp(), 'codex-home-')
    created.add(dir)
    await writePrivateFile(path.join(dir, 'config.toml'), config)
    return { dir, owned: true }
  }
  const workspace = process.env.GITHUB_WORKSPACE
  if (workspace && isInside(named, workspace)) {
    throw new UserError(`codex-home ${named} is inside the workspace, where auth.json could be committed, cached or uploaded. Name a directory outside it (for example under RUNNER_TEMP), or leave codex-home empty.`)
  }
  const stat = await lstatOrUndefined(named)
  if (stat?.isSymbolicLink()) {
    throw new UserError(`codex-home ${named} is a symbolic link; the action does not write credentials through links. Name the real directory.`)
  }
  if (stat && !stat.isDirectory()) {
    throw new UserError(`codex-home ${named} exists and is not a directory. Name a directory, or leave codex-home empty.`)
  }
  if (!stat) {
    await fs.mkdir(named, { recursive: true, mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      throw new UserError(`codex-home ${named} cannot be created (${error.code}). Name a directory the runner's user can create, or leave codex-home empty.`)
    })
  }
  await fs.access(named, fs.constants.W_OK).catch(() => {
    throw new UserError(`codex-home ${named} is not writable by the runner's user. Fix its permissions, or leave codex-home empty.`)
  })
  // The CLI writes these; a planted link would send the credential elsewhere.
  for (const name of ['auth.json', 'config.toml', 'log', 'shell_snapshots']) {
    if ((await lstatOrUndefined(path.join(named, name)))?.isSymbolicLink()) {
      throw new UserError(`codex-home ${named} holds a symbolic link ${name}; the action does not let credentials be written through links. Remove it.`)
    }
  }
  const file = path.join(named, 'config.toml')
  const existing = await fs.readFile(file, 'utf8').catch(() => undefined)
  if (existing === undefined) {
    created.add(file)
    await writePrivateFile(file, config)
  } else {
    // The user's own config.toml is kept as it is; it must not undo the login.
    checkConfig(parseExistingConfig(existing, "codex-home's config.toml"), rules, "codex-home's config.toml")
    if (Object.keys(userConfig).length > 0) {
      throw new UserError("config cannot be merged into codex-home's own config.toml, which the action does not change. Put the settings in that file, or leave codex-home empty.")
    }
  }
  return { dir: named, owned: false }
}

/**
 * The environment the CLI runs with: this CODEX_HOME, the CA bundle when there is one,
 * and no credential variable that would override the login.
 */
export function cliEnv(home: string, caPath?: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !COMPETING_CREDENTIALS.includes(key)) env[key] = value
  }
  env.CODEX_HOME = home
  if (caPath) env.CODEX_CA_CERTIFICATE = caPath
  return env
}

/** `codex --version`, which also proves the binary runs on this machine. */
export async function cliVersion(binary: string): Promise<string> {
  let result
  try {
    result = await getExecOutput(binary, ['--version'], { silent: true, ignoreReturnCode: true })
  } catch (error) {
    throw new UserError(`The Codex CLI at ${binary} could not be started: ${(error as Error).message}. Check that it is built for this runner's platform.`)
  }
  const version = /(\d+\.\d+\.\d+[\w.-]*)/.exec(result.stdout)?.[1]
  if (result.exitCode !== 0 || !version) {
    throw new UserError(`The Codex CLI at ${binary} does not run (\`codex --version\` exited ${result.exitCode}). Check that it is built for this runner's platform.`)
  }
  return version
}

/** The login log's path (the CLI appends to it on every direct login). */
export function loginLogPath(home: string): string {
  return path.join(home, 'log', 'codex-login.log')
}

/**
 * Logs in with the secret on stdin, then confirms with `codex login status`'s exit code
 * (its wording changes between versions). Returns what went wrong, or undefined.
 */
export async function tryLogin(ctx: LoginContext, credential: Credential): Promise<LoginFailure | undefined> {
  const flag = credential.mode === 'api-key' ? '--with-api-key' : '--with-access-token'
  const env = cliEnv(ctx.home.dir, ctx.caPath)
  if (!ctx.home.owned) {
    ctx.created.add(path.join(ctx.home.dir, 'auth.json'))
    ctx.created.add(path.join(ctx.home.dir, 'shell_snapshots'))
  }
  core.info(`Logging in with ${credential.mode} ${fingerprint(credential.secret)}: codex login ${flag} (the secret is passed on stdin)`)
  return (
    (await runCli(ctx.binary, ['login', flag], env, ctx.secrets, Buffer.from(`${credential.secret}\n`))) ??
    (await runCli(ctx.binary, ['login', 'status'], env, ctx.secrets))
  )
}

/** Runs one CLI command quietly; returns its failure (output redacted), or undefined when it exits 0. */
export async function runCli(binary: string, args: string[], env: Record<string, string>, secrets: string[], input?: Buffer): Promise<LoginFailure | undefined> {
  const command = `codex ${args.join(' ')}`
  const result = await getExecOutput(binary, args, { input, env, silent: true, ignoreReturnCode: true })
  const output = redact(`${result.stdout}\n${result.stderr}`, secrets).trim()
  if (core.isDebug()) core.debug(`${command} (exit ${result.exitCode}): ${output}`)
  if (result.exitCode === 0) return undefined
  return { command, exitCode: result.exitCode, output, reason: lastMeaningfulLine(output) ?? `exit code ${result.exitCode}` }
}

function lastMeaningfulLine(text: string): string | undefined {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('WARNING: proceeding'))
    .pop()
}

/**
 * Shows everything that helps with a failed login in one collapsible group (the CLI's
 * words, the login log's tail, the CLI version, the auth mode, the CA, the proxy
 * variables by name), and keeps a copy of the login log until the post step, named by the
 * `login-log` output, for an upload step.
 */
export async function reportLoginFailure(ctx: LoginContext, mode: AuthMode, failures: LoginFailure[]): Promise<void> {
  const log = await fs.readFile(loginLogPath(ctx.home.dir), 'utf8').catch(() => '')
  const logText = redact(log, ctx.secrets)
  core.startGroup('Codex login diagnostics')
  for (const failure of failures) {
    core.info(failure.exitCode === undefined ? `${failure.command}:` : `${failure.command} exited ${failure.exitCode}:`)
    printUntrusted(failure.output || '(no output)')
  }
  core.info('codex-login.log, last lines:')
  printUntrusted(logText.trimEnd().split(/\r?\n/).slice(-20).join('\n') || '(empty)')
  core.info(`Codex CLI: ${ctx.version} (${inline(ctx.binary)})`)
  core.info(`Auth mode: ${mode}`)
  core.info(`CA bundle: ${ctx.caPath ?? 'none (system roots)'}`)
  const proxies = PROXY_VARIABLES.filter((name) => process.env[name])
  core.info(`Proxy variables set: ${proxies.length ? proxies.join(', ') : 'none'}`)
  core.endGroup()
  if (!logText) return
  const dir = await makePrivateDir(runnerTemp(), 'codex-diagnostics-')
  ctx.created.keepUntilPost(dir)
  const copy = path.join(dir, 'codex-login.log')
  await writePrivateFile(copy, logText)
  core.setOutput('login-log', copy)
}
