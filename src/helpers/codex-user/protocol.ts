import { spawnSync } from 'node:child_process'

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

/** Read, write and (directories) enter for Codex's user, the same by default for what is made inside, and for the job's user too. */
export function shareAcl(config: Pick<CodexUserConfig, 'uid' | 'jobUid'>): string {
  return `u:${config.uid}:rwX,d:u:${config.uid}:rwX,d:u:${config.jobUid}:rwX`
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
  asRoot(config.sudo, ['chown', '-R', `--from=${config.uid}`, `${config.jobUid}:${config.jobGid}`, ...config.shares])
}
