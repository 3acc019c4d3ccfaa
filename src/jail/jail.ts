/**
 * codex-isolation: every `codex` call of a later step runs in a jail of its own: new
 * mount, PID, IPC and UTS namespaces made with util-linux (unshare, mount, pivot_root,
 * setpriv), Codex as the job's own uid and gid without capabilities, groups or a way back
 * (no_new_privs), and this view, at the same absolute paths as outside:
 *
 * | path | in the jail |
 * | --- | --- |
 * | `/` | a read-only skeleton the main step made: mount points and the OS symlinks only |
 * | /usr, /etc, /opt, /bin, /sbin, /lib* | the host's, read-only (a root job's root-only files under /etc are shown empty) |
 * | RUNNER_TOOL_CACHE, the CLI | read-only |
 * | the workspace | read-write; `.git/config` a read-only copy without credentials, `.git` and `.git/modules/*` pinned (bound onto themselves) with read-only hooks, `gha-creds-*.json` empty |
 * | CODEX_HOME | read-write, but its `config.toml` read-only (bound onto itself: neither written, replaced, removed nor chmodded) |
 * | the action's CA bundle, the OIDC token's directory | read-only |
 * | /etc/resolv.conf's target when it lies elsewhere (/run/systemd/resolve) | read-only, that file alone |
 * | HOME, /tmp, /var/tmp, /dev/shm | empty, the jail's own (tmpfs), gone with it |
 * | /dev | null, zero, full, random, urandom, tty, a pts instance of its own |
 * | /proc | a new one, of the jail's PID namespace only, nothing over any part of it (read-only for a root job) |
 * | anything else: RUNNER_TEMP, the rest of HOME, /run (docker socket, D-Bus), /root, /home, /var, /sys, /mnt, the action's files | absent |
 *
 * Files Codex writes are the job user's as they are written: nothing is handed over or back.
 * The main step writes the jail's scripts (scripts.ts), skeleton and fstab (view.ts) once;
 * a call starts no node. The network is the job's (issue 29 adds a namespace of its own).
 */
import * as core from '@actions/core'
import { execFile } from 'node:child_process'
import {
  existsSync,
  promises as fs,
  lstatSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  type Dirent,
  type Stats
} from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import type { CodexIsolation } from '../inputs/inputs.js'
import type { CreatedPaths } from '../job/created-paths.js'
import { UserError } from '../job/errors.js'
import { isInside, makePrivateDir, replaceFile, runnerTemp, writePrivateFile } from '../job/files.js'
import { inline } from '../secrets/inert-output.js'
import { GIT_CONFIG_AWK } from './git-config.js'
import { initScript, wrapperScript, type JailMode, type JailNetwork, type ScriptConfig } from './scripts.js'
import { findTools, systemTool } from './tools.js'
import { fstab, hiddenBinds, OS_DIRS, skeleton, type ViewPaths } from './view.js'

export interface Jail {
  /** The `codex` later steps run. */
  wrapper: string
  mode: JailMode
  /** Whether it has a network namespace of its own (codex-network). */
  network: boolean
  /** What the CLI's --version printed in the jail's proof: main takes the version from it, rather than run the CLI again. */
  versionOutput: string
  /** Shows more directories read-only (a credential source's files, known after the login). */
  show(dirs: string[]): Promise<void>
}

/** What stays open without a jail, for the one warning. */
const OPEN_DOORS =
  "everything the job's user can: RUNNER_TEMP (other steps' files, actions/checkout's credentials file), the job user's home, the checkout's token in .git/config, the job's other processes and the post step's environment (the runner gives it every input), the action's own files, the runner's file commands (GITHUB_ENV, GITHUB_PATH), and sudo and the docker group where the job has them"

/**
 * Sets up the jail and proves it (the CLI's --version through it), or says why not: one
 * warning where the runner cannot make it (auto), one error where the job has sudo and it
 * still fails. Undefined: Codex runs as the job's own user, unjailed.
 */
export async function prepareJail(
  isolation: CodexIsolation,
  cli: { binary: string; codexHome: string; env: Record<string, string>; readOnly: string[] },
  created: CreatedPaths,
  network?: JailNetwork
): Promise<Jail | undefined> {
  if (isolation === 'none') {
    core.notice(
      "codex-isolation: none: Codex, and every command the model runs, runs as the job's own user without a jail, and can reach what that user can."
    )
    return undefined
  }
  const unavailable = (why: string): undefined => {
    core.warning(
      `Codex runs without a jail (codex-isolation: auto): ${why}. The commands the model runs can therefore reach ${OPEN_DOORS}. The key proxy holds out against its debugger and, on Linux, against reading its memory. Run the job on Linux with passwordless sudo (as GitHub-hosted runners have) or where unprivileged user namespaces are allowed; docs/what-codex-can-reach.md in the action's repository has the details.`
    )
    return undefined
  }
  if (process.platform !== 'linux') return unavailable(`it is made on Linux only, not on ${process.platform}`)
  const uid = process.getuid?.() ?? -1
  const gid = process.getgid?.() ?? -1
  const sudo = uid === 0 ? undefined : systemTool('sudo')
  // Whether the job has passwordless sudo: asked while the skeleton is written.
  const sudoWorks = new Promise<boolean>((resolve) =>
    sudo ? execFile(sudo, ['-n', 'true'], { timeout: 10_000 }, (error) => resolve(!error)) : resolve(false)
  )
  const { tools, missing } = findTools()
  if (!tools) {
    const why = `${missing.join(', ')} not found as a root-owned program in /usr/sbin, /usr/bin, /sbin or /bin (util-linux, mawk or gawk)`
    if (await sudoWorks)
      throw new UserError(`Codex's jail cannot be made: ${why}. Install them, or set codex-isolation: none.`)
    return unavailable(why)
  }

  const dir = await makePrivateDir(runnerTemp(), 'codex-jail-')
  created.add(dir)
  const root = path.join(dir, 'root')
  const workspace = existingDir(process.env.GITHUB_WORKSPACE)
  const home = process.env.HOME || os.homedir()
  const view: ViewPaths = {
    root,
    uid,
    gid,
    rootJob: uid === 0,
    workspace,
    codexHome: cli.codexHome,
    home,
    readOnlyDirs: [],
    readOnlyFiles: [],
    hidden: uid === 0 ? rootOnly('/etc') : [],
    osDirs: OS_DIRS.flatMap((d) => {
      try {
        return lstatSync(d).isSymbolicLink() ? [{ dir: d, link: readlinkSync(d) }] : [{ dir: d }]
      } catch {
        return []
      }
    })
  }
  const shownDirs = () => [
    ...view.osDirs.map((d) => d.dir),
    ...view.readOnlyDirs,
    cli.codexHome,
    ...(workspace ? [workspace] : [])
  ]
  const addReadOnly = (dirs: (string | undefined)[]) => {
    for (const d of dirs) if (d && existsSync(d) && !shownDirs().some((s) => isInside(d, s))) view.readOnlyDirs.push(d)
  }
  addReadOnly([process.env.RUNNER_TOOL_CACHE, cliDir(cli.binary), ...cli.readOnly])
  // DNS: /etc/resolv.conf often points into /run (systemd-resolved), which the jail does not show.
  const fresh = [home, '/tmp', '/var/tmp', '/dev/shm']
  for (const file of [
    realOrUndefined('/etc/resolv.conf'),
    ...['NODE_EXTRA_CA_CERTS', 'SSL_CERT_FILE'].map((v) => realOrUndefined(process.env[v]))
  ])
    if (
      file &&
      !shownDirs().some((s) => isInside(file, s)) &&
      !fresh.some((f) => isInside(file, f)) &&
      !view.readOnlyFiles.includes(file)
    )
      view.readOnlyFiles.push(file)

  // codex-network's relay is perl (relay.ts); without it, the jail keeps the job's network, and says so.
  const perl = network ? systemTool('perl') : undefined
  if (network && !perl)
    core.warning(
      "codex-network is not enforced: the jail's network relay needs perl (perl-base) as a root-owned program in /usr/bin or /bin, which this runner lacks, so Codex's jail keeps the job's network. Install perl, or set codex-network: open to say so without this warning."
    )
  await writeSkeleton(view)
  await writePrivateFile(path.join(dir, 'fstab'), fstab(view))
  await writePrivateFile(path.join(dir, 'git-config.awk'), GIT_CONFIG_AWK)
  const mode: JailMode = uid === 0 ? 'root' : sudo && (await sudoWorks) ? 'sudo' : 'userns'
  const config: ScriptConfig = {
    ...(network && perl && { network: { ...network, perl } }),
    mode,
    tools: { ...tools, sudo: sudo ?? '' },
    dir,
    root,
    workspace,
    home,
    user: os.userInfo().username,
    binary: cli.binary,
    uid,
    gid,
    hidden: hiddenBinds(view),
    codexConfig: path.join(root, cli.codexHome, 'config.toml')
  }
  await writePrivateFile(path.join(dir, 'init.sh'), initScript(config))
  const wrapper = path.join(dir, 'bin', 'codex')
  await fs.mkdir(path.dirname(wrapper), { mode: 0o700 })
  await writePrivateFile(wrapper, wrapperScript(config))
  await fs.chmod(wrapper, 0o700)

  // The proof, before any step relies on it: the CLI's --version through the jail, in the
  // environment of the action's every CLI run (no input, runner token or competing credential).
  const proof = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    execFile(
      wrapper,
      ['--version'],
      { env: cli.env, cwd: workspace ?? dir, timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? (typeof error.code === 'number' ? error.code : null) : 0,
          stdout: String(stdout),
          stderr: String(stderr)
        })
    )
  )
  if (proof.code !== 0) {
    const why = `codex --version in it exited ${proof.code ?? 'on a signal'}: ${inline(lastLine(proof.stderr))}`
    if (mode === 'sudo')
      throw new UserError(
        `Codex's jail cannot be made on this runner, although the job has sudo (${why}). Check that sudo -n -E, unshare and mount work for the job's user, or set codex-isolation: none.`
      )
    return unavailable(
      mode === 'root'
        ? `the job runs as root, but ${why}`
        : `the job has no passwordless sudo, and a user namespace of its own did not work (${why})`
    )
  }
  const how = { sudo: 'through sudo', root: 'as root', userns: "in a user namespace of the job's user" }[mode]
  core.info(
    `Codex runs in a jail of its own (made ${how}): it sees the workspace, CODEX_HOME, the CLI and the OS read-only, and nothing else of the job; as uid ${uid}, without capabilities, ${mode === 'userns' ? '' : 'groups '}or sudo.`
  )
  return {
    wrapper,
    mode,
    network: config.network !== undefined,
    versionOutput: proof.stdout,
    async show(dirs: string[]) {
      const before = view.readOnlyDirs.length
      addReadOnly(dirs)
      if (view.readOnlyDirs.length === before) return
      await writeSkeleton(view)
      await replaceFile(path.join(dir, 'fstab'), fstab(view))
    }
  }
}

async function writeSkeleton(view: ViewPaths): Promise<void> {
  const { dirs, files, links } = skeleton(view)
  await fs.mkdir(view.root, { recursive: true, mode: 0o755 })
  await fs.chmod(view.root, 0o755)
  for (const d of dirs) await fs.mkdir(path.join(view.root, d), { recursive: true, mode: 0o755 })
  for (const f of files) if (!existsSync(path.join(view.root, f))) await writePrivateFile(path.join(view.root, f), '')
  for (const [link, target] of links)
    if (!existsSync(path.join(view.root, link)) && !isLink(path.join(view.root, link)))
      await fs.symlink(target, path.join(view.root, link))
}

function isLink(file: string): boolean {
  try {
    return lstatSync(file).isSymbolicLink()
  } catch {
    return false
  }
}

/**
 * What uid 0 owns and others may not read under `top`: a root job's Codex keeps uid 0 (the
 * workspace is root's), which owns /etc/shadow, SSH host keys, sudoers, even without a
 * capability. A deny-list, because uid 0 is the one owner that an allow-list of
 * directories cannot keep out of files inside them.
 */
function rootOnly(top: string): { path: string; dir: boolean }[] {
  const found: { path: string; dir: boolean }[] = []
  // Synchronous: a few thousand lstat calls, far quicker one after another than as promises.
  const walk = (dir: string) => {
    let entries: Dirent[]
    try {
      entries = readdirSync(dir, { withFileTypes: true })
    } catch {
      return
    }
    for (const entry of entries) {
      if (!entry.isFile() && !entry.isDirectory()) continue
      const file = path.join(dir, entry.name)
      let stat: Stats
      try {
        stat = lstatSync(file)
      } catch {
        continue
      }
      if (entry.isDirectory()) {
        if (stat.uid === 0 && (stat.mode & 0o005) !== 0o005) found.push({ path: file, dir: true })
        else walk(file)
      } else if (stat.uid === 0 && (stat.mode & 0o004) === 0) found.push({ path: file, dir: false })
    }
  }
  walk(top)
  return found
}

/**
 * What of the CLI the jail must show: a codex found on PATH (install: false) may live in a
 * directory of the job's (~/bin): only its own directory, or its npm package
 * (<package>/bin/codex.js, with the platform's binary inside the package).
 */
function cliDir(binary: string): string | undefined {
  const real = realOrUndefined(binary)
  if (!real) return undefined
  const dir = path.dirname(real)
  return existsSync(path.join(path.dirname(dir), 'package.json')) ? path.dirname(dir) : dir
}

function existingDir(dir: string | undefined): string | undefined {
  return dir && existsSync(dir) ? path.resolve(dir) : undefined
}

function realOrUndefined(file: string | undefined): string | undefined {
  try {
    return file ? realpathSync(file) : undefined
  } catch {
    return undefined
  }
}

function lastLine(text: string): string {
  return text.trim().split(/\r?\n/).pop() || 'no output'
}
