import * as core from '@actions/core'
import { getExecOutput } from '@actions/exec'
import { UserError } from '../job/errors.js'
import { AWS_CREDENTIAL_VARIABLES } from '../secrets/aws-variables.js'
import { redact } from '../secrets/mask.js'

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
const COMPETING_CREDENTIALS = [
  'CODEX_API_KEY',
  'CODEX_ACCESS_TOKEN',
  'OPENAI_API_KEY',
  'OPENAI_FEDERATION_RULE_ID',
  'OPENAI_IDENTITY_TOKEN_FILE'
]

/**
 * The environment the CLI runs with: this CODEX_HOME, the CA bundle when there is one,
 * nothing hidden above, no credential variable that would override the login, and none of
 * the job's AWS credentials. The secret reaches the CLI on stdin only.
 */
export function cliEnv(home: string, caPath?: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    // Windows names variables case-insensitively.
    const name = key.toUpperCase()
    if (
      value === undefined ||
      HIDDEN_PREFIXES.some((prefix) => name.startsWith(prefix)) ||
      HIDDEN.includes(name) ||
      COMPETING_CREDENTIALS.includes(name) ||
      AWS_CREDENTIAL_VARIABLES.includes(name)
    )
      continue
    env[key] = value
  }
  env.CODEX_HOME = home
  if (caPath) env.CODEX_CA_CERTIFICATE = caPath
  return env
}

/**
 * The binary as @actions/exec's command line, which it splits at spaces outside double
 * quotes (a tool cache or a codex on PATH under a directory with a space in its name).
 */
function commandLine(binary: string): string {
  return `"${binary.replace(/"/g, '\\"')}"`
}

/**
 * `codex --version`, which also proves the binary runs on this machine. Even this writes
 * helper binaries under CODEX_HOME (the user's ~/.codex when unset), so it runs in ours.
 */
export async function cliVersion(binary: string, cliDir: string): Promise<string> {
  let result
  try {
    result = await getExecOutput(commandLine(binary), ['--version'], {
      env: cliEnv(cliDir),
      silent: true,
      ignoreReturnCode: true
    })
  } catch (error) {
    throw new UserError(
      `The Codex CLI at ${binary} could not be started: ${(error as Error).message}. Check that it is built for this runner's platform.`
    )
  }
  const version = parseVersion(result.stdout)
  if (result.exitCode !== 0 || !version) {
    throw new UserError(
      `The Codex CLI at ${binary} does not run (\`codex --version\` exited ${result.exitCode}). Check that it is built for this runner's platform.`
    )
  }
  return version
}

/** The version in what `codex --version` printed ("codex-cli 0.171.0"). */
export function parseVersion(stdout: string): string | undefined {
  return /(\d+\.\d+\.\d+[\w.-]*)/.exec(stdout)?.[1]
}

/** Runs one CLI command quietly; returns its failure (output redacted), or undefined when it exits 0. */
export async function runCli(
  binary: string,
  args: string[],
  env: Record<string, string>,
  secrets: string[],
  input?: Buffer
): Promise<LoginFailure | undefined> {
  const command = `codex ${args.join(' ')}`
  const result = await getExecOutput(commandLine(binary), args, { input, env, silent: true, ignoreReturnCode: true })
  const output = redact(`${result.stdout}\n${result.stderr}`, secrets).trim()
  if (core.isDebug()) core.debug(`${command} (exit ${result.exitCode}): ${output}`)
  if (result.exitCode === 0) return undefined
  return {
    command,
    exitCode: result.exitCode,
    output,
    reason: lastMeaningfulLine(output) ?? `exit code ${result.exitCode}`
  }
}

function lastMeaningfulLine(text: string): string | undefined {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('WARNING: proceeding'))
    .pop()
}
