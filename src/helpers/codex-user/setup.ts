/**
 * codex-user: Codex, and every command the model runs, as a user of its own. The job's
 * user can reach whatever its processes hold (the post step's environment with every
 * input, the key proxy through /proc or its inspector), rewrite the action's files and the
 * runner's file commands, and use sudo or docker; another unprivileged user, with
 * no_new_privs and no supplementary groups, can do none of that. The main step makes the
 * user (or takes the one named), lets it through the directories above the workspace,
 * CODEX_HOME, a HOME of its own and the CLI (POSIX ACLs, undone by the post step), and puts
 * a `codex` on PATH that starts the CLI as that user, handing it those three directories
 * for as long as Codex runs (see handOver).
 * The job's other steps keep their user and their sudo.
 */
import * as core from '@actions/core'
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, promises as fs, statSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CodexUserChoice } from '../../inputs/inputs.js'
import type { CreatedPaths } from '../../job/created-paths.js'
import { UserError } from '../../job/errors.js'
import { makePrivateDir, runnerTemp, writePrivateFile } from '../../job/files.js'
import { readValue, saveValue, StateKey } from '../../job/state.js'
import { inline } from '../../secrets/inert-output.js'
import { asRoot, giveBack, launchCodex, type CodexUserConfig } from './protocol.js'

/** What the post step undoes. */
interface Saved {
  config: CodexUserConfig
  /** Made by the action for this job, so removed by its post step. */
  createdUser: boolean
  /** Directories above a share or the CLI that Codex's user was let through, and whether they had an ACL before. */
  passages: { dir: string; hadAcl: boolean }[]
}

/** The doors a command of the job's user opens, for the warning where Codex cannot have a user of its own. */
const OPEN_DOORS =
  "the post step's environment (the runner gives it every input, the api-key included), the action's own files, the runner's file commands (GITHUB_ENV, GITHUB_PATH), and sudo and the docker group where the job has them"

export interface Isolated {
  /** The `codex` later steps run. */
  wrapper: string
  user: string
}

/**
 * Sets Codex up to run as its own user, where the job can arrange it; otherwise one
 * warning says which doors stay open (auto), or the run fails (a named user). Only with
 * key-isolation: proxy, where the key is not in anything Codex must read.
 */
export async function isolateCodex(
  choice: CodexUserChoice,
  cli: { binary: string; codexHome: string; env: Record<string, string> },
  created: CreatedPaths
): Promise<Isolated | undefined> {
  if (choice.kind === 'none') return undefined
  const unavailable = (why: string): undefined => {
    if (choice.kind === 'named')
      throw new UserError(`codex-user ${choice.name} cannot be used: ${why}. Fix that, or set codex-user: none.`)
    core.warning(
      `Codex runs as the job's own user (codex-user: auto): ${why}. The commands the model runs can therefore reach ${OPEN_DOORS}. The key proxy holds out against its debugger and, on Linux, against reading its memory. Run the job on Linux with passwordless sudo (as GitHub-hosted runners have) to close the rest; docs/what-codex-can-reach.md in the action's repository has the details.`
    )
    return undefined
  }
  if (process.platform !== 'linux') return unavailable(`it is available on Linux only, not on ${process.platform}`)
  const jobUid = process.getuid?.() ?? -1
  const sudo = jobUid !== 0
  if (sudo && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status !== 0)
    return unavailable('the job has no passwordless sudo')
  const tools = ['setpriv', 'setfacl', 'getfacl', 'pkill', 'chown', ...(choice.kind === 'auto' ? ['useradd'] : [])]
  const found = new Map(tools.map((tool) => [tool, findTool(tool)]))
  const absent = tools.filter((tool) => !found.get(tool))
  if (absent.length) return unavailable(`${absent.join(', ')} not found on this runner (util-linux, acl, procps)`)

  const dir = await makePrivateDir(runnerTemp(), 'codex-user-')
  created.add(dir)
  const home = await makePrivateDir(runnerTemp(), 'codex-user-home-')
  created.add(home)
  const workspace = process.env.GITHUB_WORKSPACE
  const name = choice.kind === 'named' ? choice.name : `codex-${randomBytes(4).toString('hex')}`
  if (choice.kind === 'auto') {
    const made = asRoot(sudo, [
      found.get('useradd') ?? 'useradd',
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      home,
      '--shell',
      '/usr/sbin/nologin',
      '--comment',
      'codex-auth-action, Codex for one job',
      name
    ])
    if (made !== 0) return unavailable(`useradd ${name} failed (exit ${made})`)
  }
  const { uid, gid } = idsOf(name)
  if (uid === undefined || gid === undefined) return unavailable(`there is no user ${name}`)
  if (uid === 0 || uid === jobUid)
    throw new UserError(
      `codex-user ${name} is root or the job's own user, which would isolate nothing. Name a dedicated unprivileged user, or set codex-user: auto.`
    )
  const config: CodexUserConfig = {
    user: name,
    uid,
    gid,
    jobUid,
    jobGid: process.getgid?.() ?? 0,
    sudo,
    binary: cli.binary,
    setpriv: found.get('setpriv') ?? 'setpriv',
    home,
    shares: [workspace, cli.codexHome, home].filter((p): p is string => Boolean(p))
  }
  const saved: Saved = {
    config,
    createdUser: choice.kind === 'auto',
    passages: []
  }
  // Recorded before any change, so that the post step undoes even a half-done setup.
  const save = () => saveValue(StateKey.CodexUser, JSON.stringify(saved))
  save()
  await writePrivateFile(path.join(home, '.gitconfig'), `[safe]\n\tdirectory = ${workspace ?? '*'}\n`)
  // Through the directories above each share, and to the CLI (a tool cache under a private directory, for one).
  for (const start of [...config.shares.map((share) => path.dirname(share)), path.dirname(cli.binary)]) {
    for (let up = start; ; up = path.dirname(up)) {
      if (!saved.passages.some((p) => p.dir === up) && !config.shares.includes(up) && !othersMayEnter(up)) {
        saved.passages.push({ dir: up, hadAcl: hasAcl(up) })
        save()
        // The job's user owns most of these (RUNNER_TEMP, the runner's home); root the others.
        if (spawnSync('setfacl', ['-m', `u:${uid}:x`, up], { stdio: 'ignore' }).status !== 0)
          asRoot(sudo, ['setfacl', '-m', `u:${uid}:x`, up])
      }
      if (up === path.dirname(up)) break
    }
  }
  await writePrivateFile(path.join(dir, 'config.json'), JSON.stringify(config))
  const wrapper = path.join(dir, 'bin', 'codex')
  await fs.mkdir(path.dirname(wrapper), { mode: 0o700 })
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'codex-user', 'index.js')
  await writePrivateFile(wrapper, `#!/bin/sh\nexec ${[process.execPath, script, dir].map(quote).join(' ')} "$@"\n`)
  await fs.chmod(wrapper, 0o700)
  // Proof that the way works (sudo, setpriv, the CLI readable by Codex's user) before any step
  // relies on it: the wrapper's own launch, without the hand-over and a node start that
  // `--version` does not need (it writes nothing where it may not), in the environment of
  // the action's every CLI run (`cli.env`: no input, runner token or competing credential).
  const [file, args, env] = launchCodex(config, cli.env, ['--version'])
  const check = spawnSync(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  if (check.status !== 0)
    throw new UserError(
      `Codex does not run as its own user ${name} (codex --version exited ${check.status}: ${inline(lastLine(check.stderr))}). Check that ${name} can read the CLI at ${cli.binary} and run sudo -n -E, or set codex-user: none.`
    )
  core.info(
    `Codex runs as ${name} (uid ${uid}), without sudo and groups; it may write ${config.shares.map((share) => inline(share)).join(', ')}.`
  )
  return { wrapper, user: name }
}

/** The post step's part: ends Codex's user's processes, gives its files back, undoes the ACLs, removes a user it made. */
export function releaseCodexUser(): void {
  const raw = readValue(StateKey.CodexUser)
  if (!raw) return
  saveValue(StateKey.CodexUser, '')
  const { config, createdUser, passages } = JSON.parse(raw) as Saved
  giveBack(config)
  for (const { dir, hadAcl } of passages) {
    const undo = hadAcl ? ['-x', `u:${config.uid}`, dir] : ['-b', dir]
    if (spawnSync('setfacl', undo, { stdio: 'ignore' }).status !== 0) asRoot(config.sudo, ['setfacl', ...undo])
  }
  if (createdUser && asRoot(config.sudo, ['userdel', config.user]) !== 0)
    core.warning(`Could not remove the user ${config.user} that ran Codex; remove it with userdel.`)
}

/** A program on PATH, or where the system keeps its administration tools (not always on a user's PATH). */
function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin']
  for (const dir of dirs.filter(Boolean)) {
    const file = path.join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {
      // Not there, or not ours to look into.
    }
  }
  return undefined
}

/** The user's uid and primary gid, from one `id` (`uid=994(name) gid=993(name) groups=…`). */
function idsOf(name: string): { uid?: number; gid?: number } {
  // Labels of `id` are translated in some locales.
  const result = spawnSync('id', [name], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })
  const ids = result.status === 0 ? /^uid=(\d+)\S* gid=(\d+)/.exec(result.stdout) : null
  return ids ? { uid: Number(ids[1]), gid: Number(ids[2]) } : {}
}

/** Any user may pass through `dir` (others have x); an ACL may say otherwise, but never against it. */
function othersMayEnter(dir: string): boolean {
  try {
    return (statSync(dir).mode & 0o001) !== 0
  } catch {
    return true
  }
}

function hasAcl(target: string): boolean {
  const result = spawnSync('getfacl', ['--skip-base', '--absolute-names', '--omit-header', target], {
    encoding: 'utf8'
  })
  return result.status === 0 && result.stdout.trim() !== ''
}

function quote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`
}

function lastLine(text: Buffer): string {
  return (
    text
      .toString('utf8')
      .trim()
      .split(/\r?\n/)
      .filter((line) => !line.startsWith('WARNING: proceeding'))
      .pop() ?? 'no output'
  )
}

/**
 * actions/checkout leaves the job's GITHUB_TOKEN in .git/config by default, where every
 * command the model runs can read it (Codex's own user too: it must read the repository).
 */
export async function warnCheckoutToken(): Promise<void> {
  const workspace = process.env.GITHUB_WORKSPACE
  if (!workspace) return
  const config = await fs.readFile(path.join(workspace, '.git', 'config'), 'utf8').catch(() => '')
  if (/^\s*extraheader\s*=\s*AUTHORIZATION:/im.test(config))
    core.warning(
      "The workspace's .git/config holds the job's GITHUB_TOKEN (actions/checkout's default), which every command the model runs can read and use. Check out with persist-credentials: false, and give Codex a token only where it needs one."
    )
}
