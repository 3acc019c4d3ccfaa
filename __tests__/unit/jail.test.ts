/** The jail's parts that need no namespace: its input, its view, its scripts, its .git/config filter. */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { parseCodexIsolation } from '../../src/inputs/inputs.js'
import { GIT_CONFIG_AWK } from '../../src/jail/git-config.js'
import { initScript, wrapperScript, type ScriptConfig } from '../../src/jail/scripts.js'
import type { Tools } from '../../src/jail/tools.js'
import { fstab, fstabEscape, hiddenBinds, mounts, skeleton, type ViewPaths } from '../../src/jail/view.js'
import { userErrorMessage as message } from '../harness/user-error.js'

test('codex-isolation: auto (the default) or none; codex-user has no alias', () => {
  expect(parseCodexIsolation('')).toBe('auto')
  expect(parseCodexIsolation('none')).toBe('none')
  expect(parseCodexIsolation('AUTO')).toBe('auto')
  expect(message(() => parseCodexIsolation('codex'))).toBe('codex-isolation must be auto or none, not "codex".')
})

const view = (over: Partial<ViewPaths> = {}): ViewPaths => ({
  root: '/rt/codex-jail-x/root',
  uid: 1001,
  gid: 118,
  rootJob: false,
  workspace: '/home/runner/work/r/r',
  codexHome: '/home/runner/work/_temp/codex-home-a',
  home: '/home/runner',
  readOnlyDirs: ['/opt/hostedtoolcache'],
  readOnlyFiles: ['/run/systemd/resolve/stub-resolv.conf'],
  hidden: [],
  osDirs: [{ dir: '/usr' }, { dir: '/etc' }, { dir: '/bin', link: 'usr/bin' }],
  ...over
})

describe('the view', () => {
  test('the skeleton first (read-only), then parents before what is shown inside them, /proc last', () => {
    const targets = mounts(view()).map((m) => `${m.target.replace('/rt/codex-jail-x/root', '') || '/'} ${m.options}`)
    expect(targets[0]).toBe('/ bind,ro')
    expect(targets.at(-1)).toBe('/proc nosuid,nodev,noexec')
    const at = (target: string) => targets.findIndex((t) => t.startsWith(`${target} `))
    // HOME is a fresh tmpfs of the job's user; the workspace and CODEX_HOME are shown inside it.
    expect(targets[at('/home/runner')]).toBe('/home/runner nosuid,nodev,mode=0700,uid=1001,gid=118,X-mount.mkdir')
    expect(at('/home/runner')).toBeLessThan(at('/home/runner/work/r/r'))
    expect(targets[at('/home/runner/work/r/r')]).toBe('/home/runner/work/r/r bind,X-mount.mkdir')
    expect(targets[at('/home/runner/work/_temp/codex-home-a')]).toBe(
      '/home/runner/work/_temp/codex-home-a bind,X-mount.mkdir'
    )
    expect(targets[at('/usr')]).toBe('/usr rbind,ro,X-mount.mkdir')
    expect(at('/bin')).toBe(-1)
    expect(targets[at('/run/systemd/resolve/stub-resolv.conf')]).toBe('/run/systemd/resolve/stub-resolv.conf bind,ro')
    // Nothing of the job's RUNNER_TEMP but CODEX_HOME, nothing of /run but resolv.conf's target.
    expect(targets.filter((t) => t.startsWith('/home/runner/work/_temp'))).toHaveLength(1)
    expect(targets.filter((t) => t.startsWith('/run'))).toHaveLength(1)
  })

  test("a root job's /proc is read-only, and what uid 0 alone may read is shown empty", () => {
    const paths = view({
      rootJob: true,
      hidden: [
        { path: '/etc/shadow', dir: false },
        { path: '/etc/ssl/private', dir: true }
      ]
    })
    const text = fstab(paths)
    // Each after the fstab, by the init, which skips one removed since the main step.
    expect(text).not.toContain('/etc/shadow')
    expect(hiddenBinds(paths)).toEqual([
      { source: '/rt/codex-jail-x/root/.empty', target: '/rt/codex-jail-x/root/etc/shadow' },
      { source: '/rt/codex-jail-x/root/.empty-dir', target: '/rt/codex-jail-x/root/etc/ssl/private' }
    ])
    expect(text).toMatch(/proc \/rt\/codex-jail-x\/root\/proc proc nosuid,nodev,noexec,ro 0 0\n$/)
  })

  test('no HOME of its own where HOME holds the workspace or is /', () => {
    for (const home of ['/home/runner/work/r/r', '/home/runner/work/r/r/sub', '/'])
      expect(
        mounts(view({ home })).some((m) => m.type === 'tmpfs' && m.target.endsWith(home === '/' ? 'root' : home))
      ).toBe(false)
  })

  test('paths with spaces and backslashes are escaped for fstab', () => {
    expect(fstabEscape('/a b\\c\td\ne')).toBe('/a\\040b\\134c\\011d\\012e')
    expect(fstab(view({ workspace: '/w s' }))).toContain(
      '/w\\040s /rt/codex-jail-x/root/w\\040s none bind,X-mount.mkdir 0 0'
    )
  })

  test('the skeleton holds every mount point, the OS symlinks and /dev', () => {
    const s = skeleton(view())
    expect(s.dirs).toEqual(
      expect.arrayContaining([
        'usr',
        'etc',
        'home/runner/work/r/r',
        'opt/hostedtoolcache',
        'run/systemd/resolve',
        'proc',
        'dev/pts'
      ])
    )
    expect(s.files).toEqual(expect.arrayContaining(['.empty', 'dev/null', 'run/systemd/resolve/stub-resolv.conf']))
    expect(s.links).toContainEqual(['bin', 'usr/bin'])
    expect(s.links).toContainEqual(['dev/ptmx', 'pts/ptmx'])
  })
})

describe('the scripts', () => {
  const tools = Object.fromEntries(
    ['sh', 'unshare', 'setpriv', 'mount', 'umount', 'pivot_root', 'awk', 'sudo'].map((t) => [t, `/usr/bin/${t}`])
  ) as Tools
  const config = (mode: ScriptConfig['mode']): ScriptConfig => ({
    mode,
    tools,
    dir: "/rt/it's",
    root: "/rt/it's/root",
    workspace: '/w',
    home: '/home/runner',
    user: 'runner',
    binary: '/tc/codex',
    uid: 1001,
    gid: 118,
    hidden: []
  })

  test('the wrapper starts no node, names every root tool by absolute path and execs the chain', () => {
    const sudo = wrapperScript(config('sudo'))
    expect(sudo).not.toMatch(/node/)
    expect(sudo).toContain(
      `exec /usr/bin/sudo -n -E -- /usr/bin/setpriv --pdeathsig KILL -- /usr/bin/unshare --mount --pid --ipc --uts -- /usr/bin/sh '/rt/it'\\''s/init.sh' "$PATH" "$PWD" "$@"`
    )
    expect(wrapperScript(config('root'))).toMatch(/\nexec \/usr\/bin\/unshare --mount/)
    expect(wrapperScript(config('userns'))).toMatch(
      /\nexec \/usr\/bin\/unshare --user --map-current-user --keep-caps --mount/
    )
    expect(sudo).toMatch(
      /unset IFS GITHUB_ENV GITHUB_PATH GITHUB_OUTPUT GITHUB_STATE GITHUB_STEP_SUMMARY AWS_[A-Z_ ]+\n/
    )
  })

  test("the wrapper passes on no INPUT_, STATE_ or ACTIONS_ variable, and none of the job's AWS credentials", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jail-unit-'))
    try {
      const script = path.join(dir, 'w')
      // The same wrapper, with env in place of the launch.
      writeFileSync(script, wrapperScript(config('root')).replace(/\nexec .*\n$/, '\nexec env\n'), { mode: 0o700 })
      const env = execFileSync(script, {
        env: {
          PATH: process.env.PATH,
          INPUT_API_KEY: 'k',
          STATE_X: 's',
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: 't',
          GITHUB_ENV: '/f',
          AWS_ACCESS_KEY_ID: 'ASIA0',
          AWS_SECRET_ACCESS_KEY: 'secret',
          AWS_SESSION_TOKEN: 'session',
          AWS_BEARER_TOKEN_BEDROCK: 'bearer',
          AWS_REGION: 'us-east-1',
          KEPT: "a'b\nexport INPUT_Y=1"
        },
        encoding: 'utf8'
      })
      expect(env).not.toMatch(/^(INPUT_|STATE_|ACTIONS_|GITHUB_ENV|AWS_(ACCESS|SECRET|SESSION|BEARER))/m)
      expect(env).toContain('AWS_REGION=us-east-1')
      expect(env).toContain("KEPT=a'b\nexport INPUT_Y=1")
    } finally {
      rmSync(dir, { recursive: true })
    }
  })

  test('PID 1 drops to the job user for sudo and root jobs; in a user namespace it is already the job user', () => {
    expect(initScript(config('sudo'))).toContain(
      '/usr/bin/setpriv --reuid=1001 --regid=118 --clear-groups --no-new-privs --inh-caps=-all --bounding-set=-all -- '
    )
    expect(initScript(config('userns'))).toContain(
      '/usr/bin/setpriv --no-new-privs --inh-caps=-all --bounding-set=-all -- '
    )
    // Nothing is forked outside the PID namespace before its PID 1: variables and functions only.
    const outside = initScript(config('sudo'))
      .split('if [ "$1" = --jail-init ]')[0]
      .replace(/^\w+\(\) \{[\s\S]*?^\}$/gm, '')
    expect(outside).toMatch(/^J='/m)
    expect(outside).not.toMatch(/\$\(|`|\/usr\/bin\//)
  })

  test('CODEX_HOME/config.toml is bound read-only onto itself after the fstab, or the call stops', () => {
    const init = initScript({ ...config('sudo'), codexConfig: "/rt/it's/root/rt/codex-home-x/config.toml" })
    const lines = init.split('\n')
    const fstabAt = lines.findIndex((l) => l.includes('mount -a'))
    const bindAt = lines.findIndex((l) => l.includes('--bind -o ro -- "$C" "$C"'))
    expect(fstabAt).toBeGreaterThan(-1)
    expect(bindAt).toBeGreaterThan(fstabAt)
    expect(init).toContain(`C='/rt/it'\\''s/root/rt/codex-home-x/config.toml'`)
    expect(init).toContain(`[ -f "$C" ] && [ ! -L "$C" ] || fail 'CODEX_HOME/config.toml is not a file`)
    expect(initScript(config('sudo'))).not.toContain('"$C"')
  })
})

;(existsSync('/usr/bin/awk') ? describe : describe.skip)('the .git/config filter', () => {
  const filter = (config: string) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jail-git-'))
    try {
      writeFileSync(path.join(dir, 'program.awk'), GIT_CONFIG_AWK)
      writeFileSync(path.join(dir, 'config'), config)
      execFileSync('/usr/bin/awk', [
        '-v',
        `dir=${dir}`,
        '-v',
        'workspace=/w/r',
        '-f',
        path.join(dir, 'program.awk'),
        path.join(dir, 'config')
      ])
      return readFileSync(path.join(dir, 'git-1'), 'utf8')
    } finally {
      rmSync(dir, { recursive: true })
    }
  }

  test('a copy that would pass 1 MB is left empty, with one line on stderr; the others are still written', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'jail-git-'))
    try {
      writeFileSync(path.join(dir, 'program.awk'), GIT_CONFIG_AWK)
      writeFileSync(path.join(dir, 'big'), `[core]\n${'a'.repeat(1_100_000)}\n`)
      writeFileSync(path.join(dir, 'small'), '[core]\n\tbare = false\n')
      const files = ['small', 'big', 'small'].map((f) => path.join(dir, f))
      const run = spawnSync(
        '/usr/bin/awk',
        ['-v', `dir=${dir}`, '-v', 'workspace=/w', '-f', `${dir}/program.awk`, ...files],
        {
          encoding: 'utf8',
          env: { LC_ALL: 'C' }
        }
      )
      expect(run.status).toBe(0)
      expect(run.stderr).toBe(`codex-auth-action: Codex's jail shows ${dir}/big empty: it is too large to filter\n`)
      expect([1, 2, 3].map((n) => readFileSync(path.join(dir, `git-${n}`), 'utf8'))).toEqual([
        '[core]\n\tbare = false\n',
        '',
        '[core]\n\tbare = false\n'
      ])
    } finally {
      rmSync(dir, { recursive: true })
    }
  })

  test('init builds no mount-table text from workspace names: each file is bound by its own mount', () => {
    const init = initScript({
      mode: 'sudo',
      tools: Object.fromEntries(
        ['sh', 'unshare', 'setpriv', 'mount', 'umount', 'pivot_root', 'awk', 'sudo'].map((t) => [t, `/usr/bin/${t}`])
      ) as Tools,
      dir: '/rt/j',
      root: '/rt/j/root',
      workspace: '/w',
      home: '/home/runner',
      user: 'runner',
      binary: '/tc/codex',
      uid: 1001,
      gid: 118,
      hidden: [{ source: '/rt/j/root/.empty', target: "/rt/j/root/etc/it's" }]
    })
    expect(init).not.toMatch(/echo[^\n]*fstab|>> *"?\$R\/\.jail/)
    // A root job's hidden file: skipped where it is gone, else bound, or the call fails.
    expect(init).toContain(
      `[ ! -e '/rt/j/root/etc/it'\\''s' ] || /usr/bin/mount -c --bind -o ro -- '/rt/j/root/.empty' '/rt/j/root/etc/it'\\''s' || fail 'mount'`
    )
    expect(init).toContain('/usr/bin/mount -c --bind -o ro -- "$R/.jail/git-$n" "$f"')
    // The filter runs as the job's user without capabilities, never as root.
    expect(init).toContain(
      'LC_ALL=C /usr/bin/setpriv --reuid=1001 --regid=118 --clear-groups --inh-caps=-all --bounding-set=-all -- /usr/bin/awk'
    )
    expect(init).toContain('/usr/bin/umount -l "$R/.jail"')
  })

  test('checkout v4 and v6, insteadOf with a token and a token in a remote URL are gone; the rest stays', () => {
    const out = filter(
      [
        '[core]',
        '\tbare = false',
        '[remote "origin"]',
        '\turl = https://x-access-token:SECRET1@github.com/o/r.git',
        '[http "https://github.com/"]',
        '\textraheader = AUTHORIZATION: basic SECRET2 \\',
        '  SECRET3',
        '\tsslVerify = true',
        '[HTTP]',
        '\textraHeader = SECRET4',
        '[includeIf "gitdir:/w/r/.git"]',
        '\tpath = /runner/_temp/git-credentials-1.config',
        '[include]',
        '\tpath = relative.inc',
        '\tpath = "/w/r/inside.inc"',
        '\tpath = ~/secret.inc',
        '[url "https://x-access-token:SECRET5@github.com/"]',
        '\tinsteadOf = https://github.com/',
        '[url "https://github.com/"]',
        '\tinsteadOf = git@github.com:',
        '[user] name = ci',
        ''
      ].join('\n')
    )
    expect(out).not.toMatch(/SECRET|git-credentials|secret\.inc/)
    expect(out).toContain('\turl = https://github.com/o/r.git\n')
    expect(out).toContain('\tsslVerify = true\n')
    expect(out).toContain('\tpath = relative.inc\n\tpath = "/w/r/inside.inc"\n')
    expect(out).toContain('[url "https://github.com/"]\n\tinsteadOf = git@github.com:\n')
    expect(out).toContain('[user]\n name = ci\n')
  })
})
