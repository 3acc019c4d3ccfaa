/**
 * The two shell scripts of a jail, written by the main step with every path baked in:
 * `bin/codex` (the `codex` later steps find on PATH) and `init.sh` (run as root, or as the
 * job's user in a user namespace of its own). No node starts on a call: a call costs a few
 * execs of system tools (see BENCHMARK.md).
 *
 * The chain, each process exec'd into the next where it can be, so that the process the
 * runner (or `timeout`) signals is the wrapper itself:
 *
 *   codex (sh) ─exec─ sudo -n -E ─ setpriv --pdeathsig KILL ─exec─ unshare (mount, PID, IPC, UTS) ─exec─ init.sh
 *                     (root jobs: no sudo, no setpriv; no sudo: unshare --user --map-current-user --keep-caps)
 *   init.sh (outside the new PID namespace) ─ setpriv --pdeathsig KILL ─exec─ init.sh --jail-init (PID 1)
 *   PID 1: mount -a, .git/config copies, pivot_root, then Codex as a child:
 *          setpriv --reuid --regid --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all ─exec─ codex
 *
 * Life tie: SIGKILL of sudo ends the outer init.sh (its PDEATHSIG); that ends PID 1 (its
 * PDEATHSIG: PID 1 never changes credentials, which would clear it); the end of PID 1
 * ends every process of the namespace. SIGINT, SIGTERM and SIGHUP are passed down as
 * SIGTERM (an asynchronous child of a non-interactive shell ignores SIGINT) and the exit
 * status comes back up.
 */
import { AWS_CREDENTIAL_VARIABLES } from '../secrets/aws-variables.js'
import { RELAY_SCRIPT, type RelayRoute } from './relay.js'
import type { Tools } from './tools.js'

export type JailMode = 'sudo' | 'root' | 'userns'

export interface ScriptConfig {
  mode: JailMode
  tools: Tools
  /** The jail's directory: init.sh, fstab, git-config.awk, and root/ (the skeleton). */
  dir: string
  root: string
  workspace?: string
  home?: string
  user: string
  /** The real Codex CLI. */
  binary: string
  uid: number
  gid: number
  /** A root job's root-only files and directories under /etc, each shown empty (view.ts's hiddenBinds). */
  hidden: { source: string; target: string }[]
  /**
   * CODEX_HOME/config.toml under the skeleton: bound read-only onto itself on every call, so a
   * command of the model can neither change, replace, remove nor chmod it (a named codex-home
   * keeps it past the job). It must be a regular file, which the main step made sure of.
   */
  codexConfig?: string
  /** codex-network: a network namespace of its own, and the relay to the action's proxies (perl). */
  network?: JailNetwork & { perl: string }
}

/** The jail's network: loopback only, where the relay leads to the Unix sockets in `dir`. */
export interface JailNetwork {
  /** The egress proxy's directory: the relay starts there and names its sockets relative to it. */
  dir: string
  /** The port HTTPS_PROXY and the others name in the jail. */
  egressPort: number
  /** The loopback ports of Codex's own endpoints (the key proxy's, a gateway's), each to its socket in `dir`. */
  loopback: RelayRoute[]
}

/** The jail's proxy variables, both cases: everything but loopback (the relay) goes through the egress proxy. */
export function proxyVariables(egressPort: number): Record<string, string> {
  const proxy = `http://127.0.0.1:${egressPort}`
  const vars: Record<string, string> = {}
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'ALL_PROXY', 'NO_PROXY']) {
    vars[name] = name === 'NO_PROXY' ? '127.0.0.1,localhost,::1' : proxy
    vars[name.toLowerCase()] = vars[name]
  }
  return vars
}

/** Single-quoted for sh. */
export function shQuote(text: string): string {
  return `'${text.replaceAll("'", "'\\''")}'`
}

/** Variables the jail never passes on: the runner's tokens and services, the step's inputs, state and command files, the job's AWS credentials. */
const UNSET_PREFIXES = ['INPUT_', 'STATE_', 'ACTIONS_']
const UNSET = [
  'GITHUB_ENV',
  'GITHUB_PATH',
  'GITHUB_OUTPUT',
  'GITHUB_STATE',
  'GITHUB_STEP_SUMMARY',
  ...AWS_CREDENTIAL_VARIABLES
]

/** The `codex` on PATH. */
export function wrapperScript(config: ScriptConfig): string {
  const t = config.tools
  const init = [t.sh, shQuote(`${config.dir}/init.sh`), '"$PATH"', '"$PWD"', '"$@"'].join(' ')
  const namespaces = `--mount --pid --ipc --uts${config.network ? ' --net' : ''}`
  const launch = {
    sudo: `${t.sudo} -n -E -- ${t.setpriv} --pdeathsig KILL -- ${t.unshare} ${namespaces} -- ${init}`,
    root: `${t.unshare} ${namespaces} -- ${init}`,
    userns: `${t.unshare} --user --map-current-user --keep-caps ${namespaces} -- ${init}`
  }[config.mode]
  const prefixes = UNSET_PREFIXES.map((p) => `"export ${p}"*`).join('|')
  return `#!${t.sh}
# codex-auth-action: Codex in a jail of its own (src/jail/). Made by the main step for this job.
set -f
IFS='
'
for line in $(export -p); do
  case $line in ${prefixes}) name=\${line#export }; unset "\${name%%=*}" ;; esac
done
unset IFS ${UNSET.join(' ')}
set +f
exec ${launch}
`
}

/** The jail's init: run as root (sudo, root jobs) or with the capabilities of a user namespace of its own. */
export function initScript(config: ScriptConfig): string {
  const t = config.tools
  const dir = shQuote(config.dir)
  const root = shQuote(config.root)
  const workspace = shQuote(config.workspace ?? '')
  // In a user namespace of its own the job's user is already itself; sudo and root jobs drop to it.
  const drop = config.mode === 'userns' ? '' : `--reuid=${config.uid} --regid=${config.gid} --clear-groups `
  // What reads or makes the workspace's files in init: the job's user without capabilities (root would follow a symlink anywhere).
  const asJob = config.mode === 'userns' ? '' : `${t.setpriv} ${drop}--inh-caps=-all --bounding-set=-all -- `
  const net = config.network
  const relay = net
    ? [
        net.perl,
        '-e',
        shQuote(RELAY_SCRIPT),
        '--',
        ...(config.mode === 'userns' ? [] : [`as=${config.uid}:${config.gid}`]),
        ...net.loopback.flatMap((route) => [String(route.port), shQuote(route.socket)]),
        String(net.egressPort),
        'egress.sock',
        '--'
      ].join(' ')
    : ''
  const proxyExports = net
    ? Object.entries(proxyVariables(net.egressPort))
        .map(([name, value]) => `${name}=${shQuote(value)}`)
        .join(' ')
    : ''
  return `# codex-auth-action: the init of Codex's jail (see src/jail/scripts.ts). Made by the main step for this job.
# Outside the new PID namespace nothing may be forked before PID 1 (the first child
# becomes it), so this part uses builtins only; kill and wait are builtins too.
J=${dir}
R=${root}
W=${workspace}
fail() { echo "codex-auth-action: Codex's jail could not be made: $1" >&2; exit 125; }
note() { echo "codex-auth-action: Codex's jail: $1" >&2; }
# A directory of the workspace's .git ($1, absolute, under the physical workspace): entered
# only if it is that very directory (no symlink on the way), then bound onto itself through
# the process's cwd (neither renamed nor removed while the jail lives), its hooks read-only.
# Returns 2 where it is skipped. Nothing here builds mount-table text from a workspace name.
pin() {
  [ ! -L "$1" ] && cd -P -- "$1" 2>/dev/null && [ "$PWD" = "$1" ] || return 2
  ${t.mount} -c --bind /proc/self/cwd /proc/self/cwd || return 1
  cd -P -- "$1" && [ "$PWD" = "$1" ] || return 1
  if [ -L hooks ] || { [ -e hooks ] && [ ! -d hooks ]; }; then
    note 'a .git hooks entry that is not a directory is left as it is (git outside the jail may run what it leads to)'
    return 0
  fi
  # Where there is none (git init makes one), none is made: the workspace stays as it was.
  [ -d hooks ] || return 0
  cd -P -- "$1/hooks" && [ "$PWD" = "$1/hooks" ] || return 1
  ${t.mount} -c --bind /proc/self/cwd /proc/self/cwd || return 1
  cd -P -- "$1/hooks" && [ "$PWD" = "$1/hooks" ] || return 1
  ${t.mount} -c -o remount,bind,ro /proc/self/cwd
}
# What each call hides in the workspace: .git/config's credentials (a filtered copy over
# each config, read by the job's user, never through a symlink), and credential files
# other actions leave there (an empty file over them). Then the scratch leaves the view.
hide() {
  cd -P -- "$R$W" || return 1
  B=$PWD
  set --
  if [ -d .git ] && [ ! -L .git ]; then
    for d in "$B/.git" "$B"/.git/modules/* "$B"/.git/modules/*/modules/*; do
      [ -d "$d" ] || [ -L "$d" ] || continue
      pin "$d"; s=$?
      if [ $s = 2 ]; then note 'a .git/modules entry that is a symlink or leads elsewhere is not read'; continue; fi
      [ $s = 0 ] || return 1
      if [ -L "$d/config" ]; then note 'a .git config that is a symlink is not read'; continue; fi
      [ -f "$d/config" ] && [ -s "$d/config" ] && set -- "$@" "$d/config"
    done
  fi
  if [ $# -gt 0 ]; then
    LC_ALL=C ${asJob}${t.awk} -v dir="$R/.jail" -v workspace="$W" -f "$J/git-config.awk" "$@" || return 1
    n=0
    for f in "$@"; do
      n=$((n + 1))
      ${t.mount} -c --bind -o ro -- "$R/.jail/git-$n" "$f" || return 1
    done
  fi
  for f in "$B"/gha-creds-*.json; do
    if [ -L "$f" ]; then note 'a gha-creds-*.json that is a symlink is left as it is'; continue; fi
    [ -f "$f" ] || continue
    ${t.mount} -c --bind -o ro -- "$R/.empty" "$f" || return 1
  done
  cd / && ${t.umount} -l "$R/.jail"
}
if [ "$1" = --jail-init ]; then
  shift
  # -c: the fstab's paths are absolute, written by the main step; libmount's canonicalizing
  # of each (for its already-mounted check, moot in a new namespace) was a third of its time.
  ${t.mount} -a -c -T "$J/fstab" || fail 'mount'
${
  config.codexConfig
    ? `  C=${shQuote(config.codexConfig)}
  # Not a symlink (the main step refused one), not gone: a config the jail cannot pin is not run with.
  [ -f "$C" ] && [ ! -L "$C" ] || fail 'CODEX_HOME/config.toml is not a file (a later step removed or replaced it)'
  ${t.mount} -c --bind -o ro -- "$C" "$C" || fail 'mount'
`
    : ''
}${config.hidden.map((h) => `  [ ! -e ${shQuote(h.target)} ] || ${t.mount} -c --bind -o ro -- ${shQuote(h.source)} ${shQuote(h.target)} || fail 'mount'\n`).join('')}  if [ -n "$W" ]; then hide || fail 'the workspace'\\''s .git/config'; fi
${
  net
    ? `  # Network (codex-network): a namespace of its own with loopback only; the relay brings it
  # up, binds the model API's and the egress proxy's ports, drops to the job's user and
  # stays, in the proxies' directory, whose sockets the jail does not show.
  (cd ${shQuote(net.dir)} && exec ${relay}) || fail 'the network relay'
`
    : ''
}  cd "$R" && ${t.pivot_root} . .old && cd / && ${t.umount} -l /.old || fail 'pivot_root'
  PATH=$1 HOME=${shQuote(config.home ?? '/')} USER=${shQuote(config.user)} LOGNAME=${shQuote(config.user)}
  export PATH HOME USER LOGNAME${net ? `\n  export ${proxyExports}` : ''}
  unset SUDO_COMMAND SUDO_USER SUDO_UID SUDO_GID MAIL B C d s n f
  cd "$2" 2>/dev/null || cd "$W" 2>/dev/null || cd /
  shift 2
  exec 3<&0
  ${t.setpriv} ${drop}--no-new-privs --inh-caps=-all --bounding-set=-all -- ${shQuote(config.binary)} "$@" <&3 3<&- &
else
  exec 3<&0
  ${t.setpriv} --pdeathsig KILL -- ${t.sh} "$0" --jail-init "$@" <&3 3<&- &
fi
child=$!
exec 3<&-
trap 'got=1; kill -TERM $child 2>/dev/null' TERM INT HUP
while :; do got=; wait $child; s=$?; [ -n "$got" ] || break; done
exit $s
`
}
