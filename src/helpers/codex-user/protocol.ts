import { spawnSync } from 'node:child_process'
import { AWS_CREDENTIAL_VARIABLES } from '../../secrets/aws-variables.js'

/**
 * What the `codex` wrapper reads from its directory, written by the main step: who Codex
 * runs as, and what that user may write. Holds no secret (Codex's user can read none of
 * it anyway: the directory is the job user's, 0700).
 */
export interface CodexUserConfig {
  /** Codex's user, and the job's. */
  user: string
  uid: number
  gid: number
  jobUid: number
  jobGid: number
  /** Whether root's commands go through `sudo -n` (false when the job itself runs as root). */
  sudo: boolean
  /** The real Codex CLI. */
  binary: string
  setpriv: string
  /** HOME for Codex's user: a directory of this job's. */
  home: string
  /** What Codex's user may write: the workspace, CODEX_HOME and its HOME. */
  shares: string[]
}

/**
 * Before Codex: what the job's user owns in the shares becomes Codex's user's, the owner
 * only (modes and groups stay as they are). As root, but `chown --from` changes nothing of
 * anyone else's, and -R follows no link; no process of Codex's user runs at that moment.
 */
export function handOver(config: CodexUserConfig): void {
  asRoot(config.sudo, ['chown', '-R', `--from=${config.jobUid}`, String(config.uid), ...config.shares])
}

/** Runs a command as root (through `sudo -n` unless the job is root); returns its exit code. */
export function asRoot(sudo: boolean, command: string[], quiet = true): number {
  const [file, ...args] = sudo ? ['sudo', '-n', '--', ...command] : command
  const result = spawnSync(file, args, { stdio: ['ignore', 'ignore', quiet ? 'ignore' : 'inherit'] })
  return result.status ?? 1
}

/**
 * After Codex: its user's processes end (none may write the workspace while later steps
 * use it, or read what they do), and what it made there becomes the job user's again, so
 * that later steps can change, commit and remove it. `chown --from` touches nothing of
 * anyone else's, and -R does not follow links.
 */
export function giveBack(config: CodexUserConfig): void {
  asRoot(config.sudo, ['pkill', '-KILL', '-U', String(config.uid)])
  // What it made carries its group too: that becomes the job user's; what it was handed keeps its own.
  asRoot(config.sudo, [
    'chown',
    '-R',
    `--from=${config.uid}:${config.gid}`,
    `${config.jobUid}:${config.jobGid}`,
    ...config.shares
  ])
  asRoot(config.sudo, ['chown', '-R', `--from=${config.uid}`, String(config.jobUid), ...config.shares])
}

/** Never passed to Codex's user: the step's inputs and state, the runner's tokens and services, the step's command files (and the job's AWS credentials, AWS_CREDENTIAL_VARIABLES). */
const HIDDEN = /^(INPUT_|STATE_|ACTIONS_)|^(GITHUB_ENV|GITHUB_PATH|GITHUB_OUTPUT|GITHUB_STATE|GITHUB_STEP_SUMMARY)$/i

/** The environment Codex's user gets: the step's, less HIDDEN, in its own HOME. */
export function codexEnv(env: NodeJS.ProcessEnv, config: CodexUserConfig): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(env))
    if (value !== undefined && !HIDDEN.test(name) && !AWS_CREDENTIAL_VARIABLES.test(name)) out[name] = value
  return { ...out, HOME: config.home, USER: config.user, LOGNAME: config.user }
}

/**
 * How to start the real CLI as Codex's user: the command, its arguments and environment.
 * setpriv drops to the user with no_new_privs and no supplementary groups; sudo (unless the
 * job is root) gets it there.
 */
export function launchCodex(
  config: CodexUserConfig,
  jobEnv: NodeJS.ProcessEnv,
  args: string[]
): [string, string[], Record<string, string>] {
  const env = codexEnv(jobEnv, config)
  const launch = [
    config.setpriv,
    `--reuid=${config.uid}`,
    `--regid=${config.gid}`,
    '--clear-groups',
    '--no-new-privs',
    '--',
    // sudo puts its own PATH and HOME in place: these are no secrets, so argv may carry them.
    '/usr/bin/env',
    `PATH=${env.PATH ?? ''}`,
    `HOME=${config.home}`,
    config.binary,
    ...args
  ]
  const [file, ...rest] = config.sudo ? ['sudo', '-n', '-E', '--', ...launch] : launch
  return [file, rest, env]
}
