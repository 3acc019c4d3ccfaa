import { promises as fs, type Stats } from 'node:fs'
import * as path from 'node:path'
import * as core from '@actions/core'
import { getExecOutput } from '@actions/exec'
import type { CreatedPaths } from './cleanup.js'
import { checkConfig, configToml, parseExistingConfig, type ConfigRules } from './config.js'
import { UserError } from './errors.js'
import { isInside, lstatOrUndefined, makeDirs, makePrivateDir, realPathOf, runnerTemp, unusableHome, writePrivateFile } from './files.js'
import type { AuthMode, Credential } from './inputs.js'
import { fingerprint, redact } from './secrets.js'
import { inline, printUntrusted } from './untrusted.js'

/**
 * A CODEX_HOME ready for login. The CLI itself runs only in a home the action owns, so a
 * home the user names never receives the CLI's lock files, logs or helper binaries: the
 * action writes the login's auth.json there itself.
 */
export interface CodexHome {
  /** The CODEX_HOME later steps use: the user's `codex-home`, or the action's own. */
  dir: string
  /** Where the action runs the CLI: a private directory under RUNNER_TEMP (`dir` itself when no home is named). */
  cliDir: string
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

/**
 * Variables the CLI never sees: the step's inputs (every rotation key, registry-token),
 * the runner's own tokens and services (OIDC request, cache, results) and the step's
 * command files, which the CLI has no business writing.
 */
const HIDDEN_PREFIXES = ['INPUT_', 'ACTIONS_']
const HIDDEN = ['GITHUB_ENV', 'GITHUB_PATH', 'GITHUB_OUTPUT', 'GITHUB_STATE', 'GITHUB_STEP_SUMMARY']
/** Variables that would make the CLI use another credential than the one just stored (federation adds its pair back). */
const COMPETING_CREDENTIALS = ['CODEX_API_KEY', 'CODEX_ACCESS_TOKEN', 'OPENAI_API_KEY', 'OPENAI_FEDERATION_RULE_ID', 'OPENAI_IDENTITY_TOKEN_FILE']
/**
 * What the action adds to a codex-home the user names, and the post step removes: the
 * login, and the directory where `codex exec` keeps snapshots of the environment (the key
 * included, after a kill). A named home that already holds one is refused, because the
 * action never overwrites or removes what it did not create.
 */
const ADDED_TO_NAMED_HOME = ['auth.json', 'shell_snapshots']
/** What the CLI writes in its home; a planted link at one would send the credential elsewhere. */
const LINK_CHECKED = ['auth.json', 'config.toml', 'log', 'shell_snapshots']
const PROXY_VARIABLES = ['HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']

/**
 * Creates the action's own CODEX_HOME under RUNNER_TEMP and, when the user names one,
 * checks that one (before anything is written) and adds to it only what the action
 * creates there itself, each recorded for removal once its creation proved it new.
 */
export async function prepareCodexHome(named: string | undefined, created: CreatedPaths, userConfig: Record<string, unknown>, rules: ConfigRules): Promise<CodexHome> {
  const config = configToml(userConfig, rules)
  const ownConfig = named ? await checkNamedHome(named, userConfig, rules) : false
  const cliDir = await makePrivateDir(runnerTemp(), 'codex-home-')
  created.add(cliDir)
  await writePrivateFile(path.join(cliDir, 'config.toml'), config)
  if (!named) return { dir: cliDir, cliDir }
  const record = (dir: string | undefined) => {
    if (dir) created.add(dir)
  }
  const fail = (entry?: string) => (error: unknown) => Promise.reject(unusableHome(named, error, entry))
  record(await makeDirs(named).catch(fail()))
  if (!ownConfig) await writePrivateFile(path.join(named, 'config.toml'), config, record).catch(fail('config.toml'))
  record(await makeDirs(path.join(named, 'shell_snapshots')).catch(fail('shell_snapshots')))
  return { dir: named, cliDir }
}

/**
 * Checks a codex-home the user named without changing it. Only ENOENT means absent; any
 * other error is the user's to fix. Returns whether it holds its own config.toml.
 */
async function checkNamedHome(named: string, userConfig: Record<string, unknown>, rules: ConfigRules): Promise<boolean> {
  const workspace = process.env.GITHUB_WORKSPACE
  const real = await realPathOf(named).catch((error: unknown) => Promise.reject(unusableHome(named, error)))
  if (workspace && (isInside(named, workspace) || isInside(real, await realPathOf(workspace).catch(() => workspace)))) {
    throw new UserError(`codex-home ${named} is inside the workspace, where auth.json could be committed, cached or uploaded. Name a directory outside it (for example under RUNNER_TEMP), or leave codex-home empty.`)
  }
  const stat = await inspect(named)
  if (stat?.isSymbolicLink()) {
    throw new UserError(`codex-home ${named} is a symbolic link; the action does not write credentials through links. Name the real directory.`)
  }
  if (stat && !stat.isDirectory()) {
    throw new UserError(`codex-home ${named} exists and is not a directory. Name a directory, or leave codex-home empty.`)
  }
  if (!stat) return false
  await fs.access(named, fs.constants.W_OK).catch(() => {
    throw new UserError(`codex-home ${named} is not writable by the runner's user. Fix its permissions, or leave codex-home empty.`)
  })
  const entries = new Map<string, Stats | undefined>()
  for (const name of LINK_CHECKED) {
    const entry = await inspect(named, name)
    if (entry?.isSymbolicLink()) {
      throw new UserError(`codex-home ${named} holds a symbolic link ${name}; the action does not let credentials be written through links. Remove it.`)
    }
    entries.set(name, entry)
  }
  for (const name of ADDED_TO_NAMED_HOME) {
    // A ChatGPT sign-in's auth.json lives in its named home across jobs (sources/chatgpt.ts decides what to do with it).
    if (name === 'auth.json' && rules.mode === 'chatgpt') continue
    if (entries.get(name)) {
      throw new UserError(`codex-home ${named} already holds ${name}, which the action does not overwrite or remove. Move it away (it may hold a credential from an earlier login), name another directory, or leave codex-home empty.`)
    }
  }
  const configStat = entries.get('config.toml')
  if (!configStat) return false
  if (!configStat.isFile()) {
    throw new UserError(`codex-home ${named}: its config.toml is not a file. Make it the CLI's config file, or name another directory, or leave codex-home empty.`)
  }
  const existing = await fs.readFile(path.join(named, 'config.toml'), 'utf8').catch((error: unknown) => Promise.reject(unusableHome(named, error, 'config.toml')))
  // The user's own config.toml is kept as it is; it must not undo the login.
  checkConfig(parseExistingConfig(existing, "codex-home's config.toml"), rules, "codex-home's config.toml")
  if (Object.keys(userConfig).length > 0) {
    throw new UserError("config cannot be merged into codex-home's own config.toml, which the action does not change. Put the settings in that file, or leave codex-home empty.")
  }
  return true
}

/** lstat of the named home or an entry of it, with any error but ENOENT made the user's. */
async function inspect(home: string, entry?: string): Promise<Stats | undefined> {
  return lstatOrUndefined(entry ? path.join(home, entry) : home).catch((error: unknown) => Promise.reject(unusableHome(home, error, entry)))
}

/**
 * The environment the CLI runs with: this CODEX_HOME, the CA bundle when there is one,
 * nothing hidden above, and no credential variable that would override the login. The
 * secret reaches the CLI on stdin only.
 */
export function cliEnv(home: string, caPath?: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    // Windows names variables case-insensitively.
    const name = key.toUpperCase()
    if (value === undefined || HIDDEN_PREFIXES.some((prefix) => name.startsWith(prefix)) || HIDDEN.includes(name) || COMPETING_CREDENTIALS.includes(name)) continue
    env[key] = value
  }
  env.CODEX_HOME = home
  if (caPath) env.CODEX_CA_CERTIFICATE = caPath
  return env
}

/**
 * `codex --version`, which also proves the binary runs on this machine. Even this writes
 * helper binaries under CODEX_HOME (the user's ~/.codex when unset), so it runs in ours.
 */
export async function cliVersion(binary: string, cliDir: string): Promise<string> {
  let result
  try {
    result = await getExecOutput(binary, ['--version'], { env: cliEnv(cliDir), silent: true, ignoreReturnCode: true })
  } catch (error) {
    throw new UserError(`The Codex CLI at ${binary} could not be started: ${(error as Error).message}. Check that it is built for this runner's platform.`)
  }
  const version = /(\d+\.\d+\.\d+[\w.-]*)/.exec(result.stdout)?.[1]
  if (result.exitCode !== 0 || !version) {
    throw new UserError(`The Codex CLI at ${binary} does not run (\`codex --version\` exited ${result.exitCode}). Check that it is built for this runner's platform.`)
  }
  return version
}

/** The login log's path (the CLI appends to it on every direct login, in the home it runs in). */
export function loginLogPath(home: CodexHome): string {
  return path.join(home.cliDir, 'log', 'codex-login.log')
}

/**
 * Logs in with the secret on stdin, then confirms with `codex login status`'s exit code
 * (its wording changes between versions). Returns what went wrong, or undefined.
 */
export async function tryLogin(ctx: LoginContext, credential: Credential): Promise<LoginFailure | undefined> {
  const flag = credential.mode === 'api-key' ? '--with-api-key' : '--with-access-token'
  const env = cliEnv(ctx.home.cliDir, ctx.caPath)
  core.info(`Logging in with ${credential.mode} ${fingerprint(credential.secret)}: codex login ${flag} (the secret is passed on stdin)`)
  const failure =
    (await runCli(ctx.binary, ['login', flag], env, ctx.secrets, Buffer.from(`${credential.secret}\n`))) ??
    (await runCli(ctx.binary, ['login', 'status'], env, ctx.secrets))
  if (!failure && ctx.home.cliDir !== ctx.home.dir) {
    // Into the named home goes the login alone, created exclusively; the CLI's copy goes.
    const login = path.join(ctx.home.cliDir, 'auth.json')
    await writePrivateFile(path.join(ctx.home.dir, 'auth.json'), await fs.readFile(login), (file) => ctx.created.add(file))
    await fs.rm(login)
  }
  return failure
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
  const log = await fs.readFile(loginLogPath(ctx.home), 'utf8').catch(() => '')
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
