/**
 * What the jail shows, as data: the skeleton the main step makes once (mount points,
 * symlinks and two empty stand-ins, bound read-only as the jail's /) and the fstab that
 * `mount -a` applies in one process on every call. Pure: paths in, text out.
 */
import * as path from 'node:path'

/** The host's OS directories, shown read-only; a symlink on the host (merged /usr) is the same symlink in the jail. */
export const OS_DIRS = ['/usr', '/etc', '/opt', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']

/** The devices of the jail's /dev, bound one by one from the host's. */
export const DEVICES = ['null', 'zero', 'full', 'random', 'urandom', 'tty']

export interface ViewPaths {
  /** The skeleton, which becomes the jail's /. */
  root: string
  /** The job's user (the jail's own HOME tmpfs belongs to it). */
  uid: number
  gid: number
  /** A root job: its /proc is read-only and `hidden` covers what uid 0 owns (see jail.ts). */
  rootJob: boolean
  workspace?: string
  codexHome: string
  home?: string
  /** Directories shown read-only: the tool cache, the CLI, the action's CA bundle, the OIDC token's directory. */
  readOnlyDirs: string[]
  /** Single files shown read-only: resolv.conf's target under /run, the machine's CA files outside the OS directories. */
  readOnlyFiles: string[]
  /** Paths shown empty (a root job's root-only files under /etc). */
  hidden: { path: string; dir: boolean }[]
  /** How each OS directory exists on the host: a directory, a symlink (its target) or absent. */
  osDirs: { dir: string; link?: string }[]
}

export interface Skeleton {
  dirs: string[]
  files: string[]
  links: [link: string, target: string][]
}

/** Inside the skeleton: an empty file and an empty directory that hide what must not be seen. */
export const EMPTY_FILE = '.empty'
export const EMPTY_DIR = '.empty-dir'
/** A tmpfs of the jail's own, where each call's filtered .git/config copies go (unmounted before Codex starts). */
export const SCRATCH = '.jail'
/** Where pivot_root puts the host's root, detached at once. */
export const OLD_ROOT = '.old'

interface Mount {
  source: string
  target: string
  type: string
  options: string
}

/** fstab's escapes for the characters that would split a field. */
export function fstabEscape(text: string): string {
  return text.replace(/[\\ \t\n]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`)
}

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith('/') ? parent : `${parent}/`)
}

/** The paths shown read-write: their parents may be anything, their content is the job's. */
function writable(paths: ViewPaths): string[] {
  return [paths.workspace, paths.codexHome].filter((p): p is string => Boolean(p))
}

/** The jail's own HOME, unless it would hide the workspace or CODEX_HOME (HOME at or inside them) or is /. */
function freshHome(paths: ViewPaths): string | undefined {
  const home = paths.home
  if (!home || home === '/' || writable(paths).some((share) => inside(home, share))) return undefined
  return home
}

/** Every mount of a call, parents before children (the order `mount -a` follows). */
export function mounts(paths: ViewPaths): Mount[] {
  const r = (p: string) => path.join(paths.root, p)
  const list: Mount[] = []
  const bind = (source: string, options: string) =>
    list.push({ source, target: r(source), type: 'none', options: `${options},X-mount.mkdir` })
  for (const { dir, link } of paths.osDirs) if (link === undefined) bind(dir, 'rbind,ro')
  for (const dir of ['/tmp', '/var/tmp', '/dev/shm'])
    list.push({ source: 'tmpfs', target: r(dir), type: 'tmpfs', options: 'nosuid,nodev,mode=1777' })
  const home = freshHome(paths)
  if (home)
    list.push({
      source: 'tmpfs',
      target: r(home),
      type: 'tmpfs',
      options: `nosuid,nodev,mode=0700,uid=${paths.uid},gid=${paths.gid},X-mount.mkdir`
    })
  for (const dir of paths.readOnlyDirs) bind(dir, 'rbind,ro')
  for (const dir of writable(paths)) bind(dir, 'bind')
  for (const file of paths.readOnlyFiles) list.push({ source: file, target: r(file), type: 'none', options: 'bind,ro' })
  // Depth first, then the order above (a tmpfs before what is shown inside it).
  const depth = (m: Mount) => m.target.split('/').length
  const sorted = list.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m) - depth(b.m) || a.i - b.i)
  return [
    // The skeleton itself, read-only, is the jail's /.
    { source: paths.root, target: paths.root, type: 'none', options: 'bind,ro' },
    // The job's user writes it (the filter runs as that user); init unmounts it once its copies are bound.
    {
      source: 'tmpfs',
      target: r(SCRATCH),
      type: 'tmpfs',
      options: `nosuid,nodev,noexec,mode=0700,uid=${paths.uid},gid=${paths.gid},size=4m`
    },
    ...sorted.map(({ m }) => m),
    ...DEVICES.map((device) => ({
      source: `/dev/${device}`,
      target: r(`/dev/${device}`),
      type: 'none',
      options: 'bind'
    })),
    { source: 'devpts', target: r('/dev/pts'), type: 'devpts', options: 'newinstance,ptmxmode=0666,mode=0620' },
    // A new proc of the jail's PID namespace, with nothing over any part of it: Codex's own
    // sandbox (bubblewrap) can mount another inside. A root job's is read-only: uid 0, even
    // without capabilities, may write /proc/sys (kernel.core_pattern runs a program as real root).
    { source: 'proc', target: r('/proc'), type: 'proc', options: `nosuid,nodev,noexec${paths.rootJob ? ',ro' : ''}` }
  ]
}

/**
 * What a root job's jail shows empty (`hidden`), each bound after the fstab by the init, which
 * skips one that is gone: a file removed from /etc after the main step (a later step's package
 * removal) has nothing left to hide, and must not fail every call.
 */
export function hiddenBinds(paths: ViewPaths): { source: string; target: string }[] {
  return paths.hidden.map(({ path: hidden, dir }) => ({
    source: path.join(paths.root, dir ? EMPTY_DIR : EMPTY_FILE),
    target: path.join(paths.root, hidden)
  }))
}

export function fstab(paths: ViewPaths): string {
  return mounts(paths)
    .map((m) => [m.source, m.target, m.type, m.options].map(fstabEscape).join(' ') + ' 0 0\n')
    .join('')
}

/** What the skeleton holds, relative to its root: every mount point, the OS symlinks, /dev's stand-ins. */
export function skeleton(paths: ViewPaths): Skeleton {
  const dirs = new Set<string>(['proc', 'dev/pts', 'dev/shm', 'tmp', 'var/tmp', SCRATCH, OLD_ROOT, EMPTY_DIR])
  const files = new Set<string>([EMPTY_FILE, ...DEVICES.map((d) => `dev/${d}`)])
  const links: [string, string][] = [
    ['dev/fd', '/proc/self/fd'],
    ['dev/stdin', '/proc/self/fd/0'],
    ['dev/stdout', '/proc/self/fd/1'],
    ['dev/stderr', '/proc/self/fd/2'],
    ['dev/ptmx', 'pts/ptmx']
  ]
  for (const { dir, link } of paths.osDirs) {
    if (link !== undefined) links.push([dir.slice(1), link])
    else dirs.add(dir.slice(1))
  }
  const home = freshHome(paths)
  for (const dir of [...paths.readOnlyDirs, ...writable(paths), ...(home ? [home] : [])]) dirs.add(dir.slice(1))
  // What `hidden` covers lies in the OS directories, whose binds bring their own mount points.
  for (const file of paths.readOnlyFiles) {
    dirs.add(path.dirname(file).slice(1))
    files.add(file.slice(1))
  }
  dirs.delete('')
  return { dirs: [...dirs].sort(), files: [...files].sort(), links }
}
