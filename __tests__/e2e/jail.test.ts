/**
 * codex-isolation: auto, as each kind of job has it: root, a user with passwordless sudo
 * (a GitHub-hosted runner), and a user without sudo (a user namespace of its own). The
 * `codex` on PATH starts a stand-in CLI that runs its argument as a shell command, so the
 * test sees exactly what a command of the model sees in the jail, what outlives it (nothing)
 * and what it costs nobody else (the job's files stay the job's). The real CLI in the jail,
 * driven by a model, is model-attacker.test.ts.
 */
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, promises as fs, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import * as path from 'node:path'
import { plantJobCredentials } from '../harness/job-user.js'
import { useRunners } from '../harness/lifecycle.js'
import { TEST_API_KEY } from '../harness/real-cli.js'
import { runProcess, type Runner } from '../harness/runner.js'

const CHECKOUT_TOKEN = 'ghs_jailTestCheckoutToken0123456789'
const OTHER_TOKEN = 'ghp_jailTestOtherStepToken0123456789'

/** The stand-in CLI: `--version` as the real one answers it, anything else run by sh. */
const STAND_IN = '#!/bin/sh\nif [ "$1" = --version ]; then echo "codex-cli 1.0.0"; exit 0; fi\nexec /bin/sh -c "$1"\n'

const able = process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/usr/bin/sudo')
const sh = (command: string, args: string[]) => execFileSync(command, args, { encoding: 'utf8' })
/** Whether a user of this machine may make a user namespace of its own (Debian, Fedora: yes; Ubuntu 24.04: AppArmor decides). */
const usernsAllowed =
  able &&
  sh('sh', [
    '-c',
    'setpriv --reuid=65534 --regid=65534 --clear-groups unshare --user true && echo yes || true'
  ]).includes('yes')

type Kind = 'root' | 'sudo' | 'userns'

interface Job {
  runner: Runner
  uid: number
  /** Runs `codex <script>` as the job's user in a later step, from the workspace. */
  codex(script: string, timeoutMs?: number): ReturnType<typeof runProcess>
  /** The same, started: the wrapper's process. */
  start(script: string): ReturnType<typeof spawn>
  main: Awaited<ReturnType<Runner['main']>>
  /** Removes what the test planted in RUNNER_TEMP (the post step leaves nothing there, which the audit checks). */
  done(): Promise<void>
}

const runners = useRunners()
const users: string[] = []
const launchers: string[] = []
afterAll(() => {
  for (const dir of launchers) execFileSync('rm', ['-rf', dir])
  for (const user of users) {
    execFileSync('userdel', ['-f', '-r', user], { stdio: 'ignore' })
    execFileSync('rm', ['-f', `/etc/sudoers.d/${user}`])
  }
})

/** A job of this kind, with what other steps and actions leave where Codex might look. */
async function jobOf(kind: Kind, inputs: Record<string, string> = {}): Promise<Job> {
  let user = 'root'
  if (kind !== 'root') {
    user = `cajail${randomBytes(3).toString('hex')}`
    users.push(user)
    sh('useradd', ['-m', '-s', '/bin/sh', user])
    if (kind === 'sudo')
      await fs.writeFile(`/etc/sudoers.d/${user}`, `${user} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 })
  }
  const uid = Number(sh('id', ['-u', user]))
  const gid = Number(sh('id', ['-g', user]))
  const asUser = [
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${gid}`,
    kind === 'root' ? '--keep-groups' : '--init-groups',
    '--'
  ]
  const runner = await runners.create(kind === 'root' ? {} : { launcher: asUser, owner: { uid, gid } })
  const bin = path.join(runner.root, 'cli', 'bin')
  await fs.mkdir(bin, { recursive: true })
  await fs.writeFile(path.join(bin, 'codex'), STAND_IN, { mode: 0o755 })
  // What the job holds that Codex must not see: checkout's token both ways, another
  // step's 0644 token file in RUNNER_TEMP, a token in ~/.gitconfig, google's credentials.
  const planted = await plantJobCredentials(runner, { checkout: CHECKOUT_TOKEN, other: OTHER_TOKEN })
  await fs.chmod(runner.root, 0o755)
  sh('chown', ['-R', `${uid}:${gid}`, runner.root])
  const git = (...args: string[]) => sh('setpriv', [...asUser, 'git', '-C', runner.workspace, ...args])
  git('init', '-q')
  git('config', 'user.email', 'ci@example.com')
  git('config', 'user.name', 'ci')
  git('config', 'http.https://github.com/.extraheader', planted.extraheader)
  git('config', `includeIf.gitdir:${runner.workspace}/.git.path`, planted.include)
  git('add', '-A')
  git('commit', '-qm', 'checked out')
  await fs.writeFile(path.join(runner.workspace, 'gha-creds-a1b2c3.json'), `{"token":"${OTHER_TOKEN}"}`, {
    mode: 0o644
  })
  sh('chown', [`${uid}:${gid}`, path.join(runner.workspace, 'gha-creds-a1b2c3.json')])
  // (Not canaries of the audit: they are the job's own, where the job keeps them.)

  const main = await runner.main(
    { 'api-key': TEST_API_KEY, install: 'false', ...inputs },
    { PATH: `${bin}:${process.env.PATH}` }
  )
  const env = () => runner.stepEnv({ PATH: [...runner.paths, bin, process.env.PATH].join(':') })
  return {
    runner,
    uid,
    main,
    done: planted.remove,
    codex: (script, timeoutMs = 30_000) =>
      runProcess(asUser[0], [...asUser.slice(1), 'codex', script], { env: env(), cwd: runner.workspace, timeoutMs }),
    start: (script) =>
      spawn(asUser[0], [...asUser.slice(1), 'codex', script], { env: env(), cwd: runner.workspace, stdio: 'ignore' })
  }
}

/** The host's processes whose command line holds `marker`. */
function processesWith(marker: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(marker)
      } catch {
        return false
      }
    })
    .map(Number)
}

const kinds: Kind[] = ['root', 'sudo', ...(usernsAllowed ? (['userns'] as const) : [])]

;(able ? describe.each(kinds) : describe.skip.each(kinds))('a %s job', (kind) => {
  test('main makes the jail, proves it, and puts its codex on PATH', async () => {
    const job = await jobOf(kind)
    expect(job.main.errors).toEqual([])
    expect(job.main.stdout).toMatch(/Codex runs in a jail of its own \(made (as root|through sudo|in a user namespace)/)
    expect(job.main.outputs['codex-path']).toMatch(/codex-jail-[^/]+\/bin\/codex$/)
    // checkout's token is kept out of the jail (said once, as information), google's file named in one notice.
    expect(job.main.stdout).toMatch(
      /actions\/checkout left the job's GITHUB_TOKEN in \.git\/config; Codex's jail shows \.git\/config without it/
    )
    expect(job.main.stdout.match(/^::notice::Codex's jail shows gha-creds-a1b2c3\.json/gm)).toHaveLength(1)
    expect(job.main.stdout).not.toMatch(/::warning::/)
    await job.done()
  })

  test('the model sees the workspace and nothing else of the job, and writes as the job user', async () => {
    const job = await jobOf(kind)
    const { runner } = job
    const result = await job.codex(
      [
        'echo "uid=$(id -u) groups=$(id -G)"',
        'echo "temp: $(ls -A $RUNNER_TEMP | tr "\\n" " ")"',
        'echo "home: $(ls -A $HOME | tr "\\n" " ")"',
        'echo "root: $(ls -A / | tr "\\n" " ")"',
        'echo "pids: $(ls /proc | grep -c "^[0-9]")"',
        'echo "extraheader: $(git config --get-regexp extraheader)"',
        'echo "gha-creds: $(cat gha-creds-a1b2c3.json | wc -c)"',
        'echo "status: $(git --no-optional-locks status --porcelain | tr "\\n" " ")"',
        'sudo -n true 2>/dev/null && echo "sudo works"',
        'cat /etc/shadow >/dev/null 2>&1 && echo "shadow: $(wc -c < /etc/shadow)"',
        'cat /proc/1/environ 2>/dev/null | tr "\\0" "\\n" | grep -c INPUT_ | sed "s/^/inputs: /"',
        'grep -rl -e ghs_ -e ghp_ / --exclude-dir=proc --exclude-dir=usr --exclude-dir=etc --exclude-dir=opt 2>/dev/null | head -3',
        // What Codex's own sandbox (bubblewrap) needs first: a user namespace mapping its own uid.
        'unshare --user --map-current-user true 2>/dev/null && echo "nested: yes" || echo "nested: no"',
        'echo written > by-codex.txt && ls -n by-codex.txt'
      ].join('; ')
    )
    expect(result.stderr).toBe('')
    const out = result.stdout
    expect(out).toContain(`uid=${job.uid} `)
    if (kind !== 'userns') expect(out).toMatch(new RegExp(`groups=${kind === 'root' ? 0 : '\\d+'}\\n`))
    // Only CODEX_HOME of RUNNER_TEMP; a HOME of its own, empty.
    expect(out).toMatch(/^temp: codex-home-\w+ $/m)
    expect(out).toMatch(/^home: $/m)
    expect(out).not.toMatch(/^root: .*\b(run|root|home|sys|srv|mnt|media)\b/m)
    expect(Number(/^pids: (\d+)$/m.exec(out)?.[1])).toBeLessThan(12)
    expect(out).toMatch(/^extraheader: $/m)
    expect(out).toMatch(/^gha-creds: 0$/m)
    expect(out).toMatch(/^status: \?\? gha-creds-a1b2c3.json $/m)
    expect(out).not.toContain('sudo works')
    expect(out).not.toMatch(/shadow: [1-9]/)
    expect(out).not.toContain(CHECKOUT_TOKEN)
    expect(out).not.toContain(OTHER_TOKEN)
    expect(out).not.toMatch(/^\//m)
    // Codex's sandbox nests for a job user; a root job's uid 0 without capabilities may not map
    // uid 0 (Linux 5.12 and later want CAP_SETFCAP for it): there the jail is the only sandbox.
    expect(out).toContain(kind === 'root' ? 'nested: no' : 'nested: yes')
    // Written as the job's user, in place: the next step commits it at once.
    expect(out).toMatch(new RegExp(`^-rw-r--r-- 1 ${job.uid} `, 'm'))
    expect((await fs.stat(path.join(runner.workspace, 'by-codex.txt'))).uid).toBe(job.uid)
    // The real .git/config is as checkout left it.
    expect(readFileSync(path.join(runner.workspace, '.git', 'config'), 'utf8')).toContain('extraheader')
    await fs.rm(path.join(runner.workspace, 'by-codex.txt'))
    await job.done()
  })

  test('SIGKILL of the codex process ends everything in its jail at once', async () => {
    const job = await jobOf(kind)
    const marker = `3${randomBytes(2).readUInt16BE(0) % 1000}.5`
    const wrapper = job.start(`sleep ${marker} & (sleep ${marker}; echo late > late.txt) & sleep ${marker}`)
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(processesWith(`sleep ${marker}`).length).toBeGreaterThanOrEqual(3)
    process.kill(wrapper.pid!, 'SIGKILL')
    await new Promise((resolve) => setTimeout(resolve, 1000))
    expect(processesWith(marker)).toEqual([])
    await job.done()
  })

  test("the runner's SIGINT, then SIGTERM, reach the command; its exit status comes back", async () => {
    const job = await jobOf(kind)
    const wrapper = job.start('trap "exit 7" TERM; sleep 30 & wait')
    const exited = new Promise<number | null>((resolve) => wrapper.on('exit', (code) => resolve(code)))
    await new Promise((resolve) => setTimeout(resolve, 1000))
    process.kill(wrapper.pid!, 'SIGINT')
    expect(await exited).toBe(7)
    await job.done()
  })

  test('CODEX_HOME/config.toml is read-only: no write, rename over, symlink swap, removal or chmod', async () => {
    const job = await jobOf(kind)
    const config = path.join(job.main.outputs['codex-home'], 'config.toml')
    const before = readFileSync(config)
    const result = await job.codex(
      [
        'cd "$CODEX_HOME"',
        'echo x >> config.toml 2>/dev/null && echo "write: done" || echo "write: refused"',
        'echo x > evil.toml && mv -f evil.toml config.toml 2>&1 | sed "s/^/rename: /"',
        'ln -sfn evil.toml swap && mv -fT swap config.toml 2>&1 | sed "s/^/swap: /"',
        'rm -f config.toml 2>&1 | sed "s/^/remove: /"',
        'chmod 0666 config.toml 2>&1 | sed "s/^/chmod: /"',
        'echo x > fine.txt && echo "home: writable"'
      ].join('; ')
    )
    const out = result.stdout
    expect(out).toMatch(/^write: refused$/m)
    for (const what of ['rename', 'swap', 'remove'])
      expect(out).toMatch(new RegExp(`^${what}: .*Device or resource busy`, 'm'))
    expect(out).toMatch(/^chmod: .*Read-only file system/m)
    expect(out).toMatch(/^home: writable$/m)
    expect(readFileSync(config)).toEqual(before)
    await job.done()
  })

  test('two codex at once each get a jail of their own', async () => {
    const job = await jobOf(kind)
    const [a, b] = await Promise.all([
      job.codex('echo a > /tmp/mine; sleep 1; cat /tmp/mine; ls /proc | grep -c "^[0-9]"'),
      job.codex('echo b > /tmp/mine; sleep 1; cat /tmp/mine; ls /proc | grep -c "^[0-9]"')
    ])
    expect(a.stdout.split('\n')[0]).toBe('a')
    expect(b.stdout.split('\n')[0]).toBe('b')
    await job.done()
  })
})

;(able ? test : test.skip)(
  'a root job: a root-only file under /etc stays hidden, and one removed after main fails no call',
  async () => {
    const name = `/etc/codex-auth-jail-${randomBytes(3).toString('hex')}`
    await fs.writeFile(`${name}-kept`, 'root only\n', { mode: 0o600 })
    await fs.writeFile(`${name}-gone`, 'root only\n', { mode: 0o600 })
    try {
      const job = await jobOf('root')
      expect(job.main.errors).toEqual([])
      await fs.rm(`${name}-gone`)
      const result = await job.codex(`echo "kept: $(wc -c < ${name}-kept)"`)
      expect(result.stderr).toBe('')
      expect(result.stdout).toBe('kept: 0\n')
      await job.done()
    } finally {
      await fs.rm(`${name}-kept`, { force: true })
      await fs.rm(`${name}-gone`, { force: true })
    }
  }
)

;(able ? test : test.skip)(
  'a CODEX_HOME/config.toml a later step removed stops the call, rather than leave the model a writable one',
  async () => {
    const job = await jobOf('sudo')
    const config = path.join(job.main.outputs['codex-home'], 'config.toml')
    await fs.rename(config, `${config}.away`)
    const result = await job.codex('echo ran')
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/jail could not be made: CODEX_HOME\/config\.toml is not a file/)
    await fs.rename(`${config}.away`, config)
    expect((await job.codex('echo ran')).stdout).toBe('ran\n')
    await job.done()
  }
)

;(able ? test : test.skip)('codex-isolation: none puts the CLI itself on PATH, with one notice', async () => {
  const job = await jobOf('root', { 'codex-isolation': 'none' })
  expect(job.main.errors).toEqual([])
  expect(job.main.stdout.match(/^::notice::codex-isolation: none: /gm)).toHaveLength(1)
  expect(job.main.outputs['codex-path']).toBe(path.join(job.runner.root, 'cli', 'bin', 'codex'))
  expect(job.main.stdout).toMatch(
    /::warning::actions\/checkout left the job's GITHUB_TOKEN in \.git\/config, which every command/
  )
  await job.done()
})

/**
 * Runs its command as uid $1 (gid $2) in an identity-mapped user namespace that allows no
 * nested one, where that user has no sudo: a runner that can make no jail (as Ubuntu
 * 24.04's AppArmor restriction without sudo, or a container without CAP_SYS_ADMIN). bash,
 * not dash, which would drop the runner's INPUT_ variables (their names hold hyphens).
 */
const NO_USERNS = `#!/bin/bash
u=$1 g=$2; shift 2
/usr/bin/unshare --user -- /bin/bash -c 'while ! grep -q 4294967295 /proc/self/uid_map; do sleep 0.02; done; exec /bin/bash -c "echo 0 > /proc/sys/user/max_user_namespaces && exec /usr/bin/setpriv --reuid='$u' --regid='$g' --clear-groups -- \\"\\$@\\"" sh "$@"' sh "$@" &
child=$!
me=$(readlink /proc/self/ns/user)
while [ "$(readlink /proc/$child/ns/user)" = "$me" ]; do sleep 0.02; done
echo '0 0 4294967295' > /proc/$child/uid_map
echo '0 0 4294967295' > /proc/$child/gid_map
wait $child
`

;(able ? test : test.skip)(
  'where no jail can be made: one warning naming what stays open, and Codex still runs',
  async () => {
    const user = `cajail${randomBytes(3).toString('hex')}`
    users.push(user)
    sh('useradd', ['-m', '-s', '/bin/sh', user])
    const uid = Number(sh('id', ['-u', user]))
    const gid = Number(sh('id', ['-g', user]))
    // Removed after the runner's disposal, whose post step it launches.
    const dir = mkdtempSync(path.join(tmpdir(), 'jail-nouserns-'))
    launchers.push(dir)
    const launcherFile = path.join(dir, 'launch')
    writeFileSync(launcherFile, NO_USERNS, { mode: 0o755 })
    const launcher = [launcherFile, String(uid), String(gid)]
    const runner = await runners.create({ launcher, owner: { uid, gid } })
    const bin = path.join(runner.root, 'cli', 'bin')
    await fs.mkdir(bin, { recursive: true })
    await fs.writeFile(path.join(bin, 'codex'), STAND_IN, { mode: 0o755 })
    await fs.chmod(runner.root, 0o755)
    sh('chown', ['-R', `${uid}:${gid}`, runner.root])
    const main = await runner.main(
      { 'api-key': TEST_API_KEY, install: 'false' },
      { PATH: `${bin}:${process.env.PATH}` }
    )
    expect(main.errors).toEqual([])
    const warnings = main.stdout.split('\n').filter((line) => line.startsWith('::warning::'))
    // The jail's warning, and codex-network's: without a jail it cannot be enforced either.
    expect(warnings).toHaveLength(2)
    expect(warnings[0]).toMatch(
      /^::warning::Codex runs without a jail \(codex-isolation: auto\): the job has no passwordless sudo, and a user namespace of its own did not work .*RUNNER_TEMP.*post step's environment.*action's own files.*GITHUB_ENV/
    )
    expect(warnings[1]).toMatch(/^::warning::codex-network is not enforced on this runner: Codex runs without a jail/)
    // Nor is its egress proxy started: nothing could reach it.
    expect(main.stdout).not.toContain('Egress proxy started')
    expect(main.outputs['network-report']).toBeUndefined()
    expect(main.outputs['codex-path']).toBe(path.join(bin, 'codex'))
    const codex = await runProcess(launcher[0], [...launcher.slice(1), 'codex', 'echo ran as $(id -u)'], {
      env: runner.stepEnv({ PATH: [...runner.paths, bin, process.env.PATH].join(':') }),
      cwd: runner.workspace
    })
    expect(codex.stdout).toBe(`ran as ${uid}\n`)
  }
)
