import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import * as core from '@actions/core'
import { getExecOutput } from '@actions/exec'
import type { CreatedPaths } from './cleanup.js'
import { UserError } from './errors.js'
import { isInside, lstatOrUndefined, makePrivateDir, runnerTemp, writePrivateFile } from './files.js'
import type { Credential } from './inputs.js'
import { redact } from './secrets.js'

/** A CODEX_HOME ready for login, and whether the action owns (and will delete) it. */
export interface CodexHome {
  dir: string
  owned: boolean
}

/**
 * config.toml for an action-owned CODEX_HOME. A runner has no keyring, so credentials
 * live in auth.json; commands the model runs do not inherit KEY, SECRET and TOKEN
 * variables such as CODEX_API_KEY.
 */
export const CONFIG_TOML = `# Written by codex-auth-action; removed by its post step.
cli_auth_credentials_store = "file"

[shell_environment_policy]
ignore_default_excludes = false
`

/** Variables that would make the CLI use another credential than the one just stored. */
const COMPETING_CREDENTIALS = ['CODEX_API_KEY', 'CODEX_ACCESS_TOKEN']

/** Creates the action's own CODEX_HOME under RUNNER_TEMP, or checks and prepares the one the user named. */
export async function prepareCodexHome(named: string | undefined, created: CreatedPaths): Promise<CodexHome> {
  if (!named) {
    const dir = await makePrivateDir(runnerTemp(), 'codex-home-')
    created.add(dir)
    await writePrivateFile(path.join(dir, 'config.toml'), CONFIG_TOML)
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
  if (!stat) await fs.mkdir(named, { recursive: true, mode: 0o700 })
  await fs.access(named, fs.constants.W_OK).catch(() => {
    throw new UserError(`codex-home ${named} is not writable by the runner's user. Fix its permissions, or leave codex-home empty.`)
  })
  await checkExistingConfig(path.join(named, 'config.toml'), created)
  return { dir: named, owned: false }
}

/** A user's config.toml is kept; one that sends credentials elsewhere than auth.json is refused. */
async function checkExistingConfig(file: string, created: CreatedPaths): Promise<void> {
  let text: string
  try {
    text = await fs.readFile(file, 'utf8')
  } catch {
    created.add(file)
    await writePrivateFile(file, CONFIG_TOML)
    return
  }
  const store = /^\s*cli_auth_credentials_store\s*=\s*"([^"]*)"/m.exec(text)?.[1]
  if (store && store !== 'file' && store !== 'auto') {
    throw new UserError(`codex-home's config.toml sets cli_auth_credentials_store = "${store}", which cannot keep a login between steps on a runner. Set it to "file", or leave codex-home empty.`)
  }
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

/**
 * Logs in with the secret on stdin, then confirms with `codex login status`'s exit code
 * (its wording changes between versions). On failure the CLI's own words, redacted, and
 * the tail of codex-login.log are shown in a log group before the error.
 */
export async function login(binary: string, home: CodexHome, credential: Credential, created: CreatedPaths, caPath?: string): Promise<void> {
  const flag = credential.mode === 'api-key' ? '--with-api-key' : '--with-access-token'
  const env = cliEnv(home.dir, caPath)
  if (!home.owned) {
    created.add(path.join(home.dir, 'auth.json'))
    created.add(path.join(home.dir, 'shell_snapshots'))
  }
  core.info(`Logging in: codex login ${flag} (the secret is passed on stdin)`)
  const attempt = await getExecOutput(binary, ['login', flag], { input: Buffer.from(`${credential.secret}\n`), env, silent: true, ignoreReturnCode: true })
  const status = attempt.exitCode === 0 ? await getExecOutput(binary, ['login', 'status'], { env, silent: true, ignoreReturnCode: true }) : undefined
  if (attempt.exitCode === 0 && status?.exitCode === 0) {
    core.info(`Logged in (${credential.mode}); codex login status confirms it.`)
    return
  }
  const failed = status ?? attempt
  const output = redact(`${failed.stdout}\n${failed.stderr}`, [credential.secret])
  const logTail = await loginLogTail(home.dir, credential.secret)
  core.startGroup('Codex login diagnostics')
  core.info(`command: codex login ${status ? 'status' : flag} (exit ${failed.exitCode})`)
  core.info(output.trim() || '(no output)')
  core.info(`codex-login.log, last lines:\n${logTail || '(empty)'}`)
  core.endGroup()
  const reason = lastMeaningfulLine(output) ?? `exit code ${failed.exitCode}`
  const input = credential.mode
  throw new UserError(
    status
      ? `Codex accepted the ${input} but \`codex login status\` does not confirm the login: ${reason}. Check that ${input} holds a current credential and that this runner can reach OpenAI.`
      : `codex login rejected the ${input}: ${reason}. Check that the ${input} secret holds a current, unrevoked credential; see the "Codex login diagnostics" group above.`
  )
}

function lastMeaningfulLine(text: string): string | undefined {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('WARNING: proceeding'))
    .pop()
}

async function loginLogTail(home: string, secret: string, lines = 20): Promise<string> {
  try {
    const text = await fs.readFile(path.join(home, 'log', 'codex-login.log'), 'utf8')
    return redact(text.trimEnd().split(/\r?\n/).slice(-lines).join('\n'), [secret])
  } catch {
    return ''
  }
}
