/**
 * A job as a hosted runner runs it, for the tests of what Codex's commands can reach: the
 * job's own unprivileged user (with passwordless sudo, as on GitHub's runners, or without),
 * and the credentials other steps and actions leave where a command might look.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import type { Runner } from './runner.js'

const sh = (command: string, args: string[]) => execFileSync(command, args, { encoding: 'utf8' })

export interface JobUser {
  user: string
  uid: number
  gid: number
  /** Runs a command as the job's user: `setpriv` by absolute path, then the command. */
  launcher: string[]
  /** Removes the user, its home and its sudoers entry. */
  remove(): void
}

/** A new user named `<prefix><random>`, with passwordless sudo when `sudo`. Needs root. */
export async function createJobUser(prefix: string, sudo: boolean): Promise<JobUser> {
  const user = `${prefix}${randomBytes(3).toString('hex')}`
  sh('useradd', ['-m', '-s', '/bin/sh', user])
  const sudoers = `/etc/sudoers.d/${user}`
  if (sudo) await fs.writeFile(sudoers, `${user} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 })
  const uid = Number(sh('id', ['-u', user]))
  const gid = Number(sh('id', ['-g', user]))
  return {
    user,
    uid,
    gid,
    launcher: ['/usr/bin/setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--'],
    remove() {
      execFileSync('userdel', ['-f', '-r', user], { stdio: 'ignore' })
      execFileSync('rm', ['-f', sudoers])
    }
  }
}

export interface PlantedCredentials {
  /** actions/checkout v6's include file in RUNNER_TEMP, for `includeIf.gitdir:<workspace>/.git.path`. */
  include: string
  /** The `http.https://github.com/.extraheader` both versions of checkout write (v4 into .git/config). */
  extraheader: string
  /** Removes what was planted in RUNNER_TEMP (after the post step RUNNER_TEMP must be empty, says the audit). */
  remove(): Promise<void>
}

/**
 * What the job holds besides the action's credential, where it keeps it: actions/checkout
 * v6's token in a RUNNER_TEMP file (0644, as `git config --file` creates it), another step's
 * 0644 token file in RUNNER_TEMP, and a workflow's token in ~/.gitconfig. The caller runs git
 * as the job's user to write `extraheader` and the include into .git/config, and chowns.
 */
export async function plantJobCredentials(
  runner: Runner,
  tokens: { checkout: string; other: string }
): Promise<PlantedCredentials> {
  const extraheader = `AUTHORIZATION: basic ${btoa(`x-access-token:${tokens.checkout}`)}`
  const include = path.join(runner.temp, 'git-credentials-5c0ffee0.config')
  await fs.writeFile(include, `[http "https://github.com/"]\n\textraheader = ${extraheader}\n`, { mode: 0o644 })
  const other = path.join(runner.temp, 'deploy-token')
  await fs.writeFile(other, tokens.other, { mode: 0o644 })
  await fs.writeFile(
    path.join(runner.home, '.gitconfig'),
    `[url "https://x-access-token:${tokens.other}@github.com/"]\n\tinsteadOf = https://github.com/\n`,
    { mode: 0o644 }
  )
  return {
    include,
    extraheader,
    remove: async () => {
      for (const file of [include, other]) await fs.rm(file, { force: true })
    }
  }
}
