/**
 * Workspace tricks against codex-isolation (issue 26), as a prompt-injected model would try them:
 * its commands run in the jail as the job's user (a stand-in CLI runs its argument as a
 * shell command, as in jail.test.ts), and later steps of the job run as the job's user
 * with passwordless sudo, outside the jail. Each test states a promise of README.md,
 * SECURITY.md or docs/what-codex-can-reach.md. init.sh (src/jail/scripts.ts) builds no
 * mount-table text from workspace names, reads the workspace's files as the job's user
 * and never through a symlink, pins .git and its hooks, and unmounts its scratch.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, promises as fs } from 'node:fs'
import * as path from 'node:path'
import { useRunners } from '../harness/lifecycle.js'
import { TEST_API_KEY } from '../harness/real-cli.js'
import { runProcess, type Runner } from '../harness/runner.js'

const STAND_IN = '#!/bin/sh\nif [ "$1" = --version ]; then echo "codex-cli 1.0.0"; exit 0; fi\nexec /bin/sh -c "$1"\n'
const SECRET = `jail-root-only-${randomBytes(6).toString('hex')}`

const able = process.platform === 'linux' && process.getuid?.() === 0 && existsSync('/usr/bin/sudo')
const sh = (command: string, args: string[]) => execFileSync(command, args, { encoding: 'utf8' })

const runners = useRunners()
const users: string[] = []
afterAll(() => {
  for (const user of users) {
    execFileSync('userdel', ['-f', '-r', user], { stdio: 'ignore' })
    execFileSync('rm', ['-f', `/etc/sudoers.d/${user}`])
  }
})

interface Job {
  runner: Runner
  uid: number
  /** `codex <script>` in a later step, in the jail. */
  codex(script: string): ReturnType<typeof runProcess>
  /** A later `run:` step of the job's user, outside the jail. */
  step(script: string, env?: Record<string, string>): ReturnType<typeof runProcess>
  /** A root-only file of the runner, outside everything the jail shows. */
  rootOnly: string
  /** Saves the workspace; the function it returns puts it back as it was (the audit compares it). */
  save(): () => void
}

async function sudoJob(before?: (workspace: string) => Promise<void>): Promise<Job> {
  const user = `carev${randomBytes(3).toString('hex')}`
  users.push(user)
  sh('useradd', ['-m', '-s', '/bin/sh', user])
  await fs.writeFile(`/etc/sudoers.d/${user}`, `${user} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 })
  const uid = Number(sh('id', ['-u', user]))
  const gid = Number(sh('id', ['-g', user]))
  const asUser = ['setpriv', `--reuid=${uid}`, `--regid=${gid}`, '--init-groups', '--']
  const runner = await runners.create({ launcher: asUser, owner: { uid, gid } })
  const bin = path.join(runner.root, 'cli', 'bin')
  await fs.mkdir(bin, { recursive: true })
  await fs.writeFile(path.join(bin, 'codex'), STAND_IN, { mode: 0o755 })
  await fs.chmod(runner.root, 0o755)
  sh('chown', ['-R', `${uid}:${gid}`, runner.root])
  // Root's own, 0600, outside the jail's view (as /etc/shadow or /root/* are).
  const rootOnly = path.join(runner.root, 'root-only-secret')
  await fs.writeFile(rootOnly, `${SECRET}\n`, { mode: 0o600 })
  const git = (...args: string[]) => sh('setpriv', [...asUser, 'git', '-C', runner.workspace, ...args])
  git('init', '-q')
  git('config', 'user.email', 'ci@example.com')
  git('config', 'user.name', 'ci')
  await fs.writeFile(path.join(runner.workspace, 'README'), 'hello\n')
  sh('chown', [`${uid}:${gid}`, path.join(runner.workspace, 'README')])
  git('add', '-A')
  git('commit', '-qm', 'checked out')
  if (before) {
    await before(runner.workspace)
    sh('chown', ['-R', `${uid}:${gid}`, runner.workspace])
  }
  const main = await runner.main({ 'api-key': TEST_API_KEY, install: 'false' }, { PATH: `${bin}:${process.env.PATH}` })
  expect(main.errors).toEqual([])
  expect(main.stdout).toMatch(/Codex runs in a jail of its own \(made through sudo/)
  const env = (extra: Record<string, string> = {}) =>
    runner.stepEnv({ PATH: [...runner.paths, bin, process.env.PATH].join(':'), ...extra })
  return {
    runner,
    uid,
    rootOnly,
    save: () => {
      const copy = path.join(runner.root, `saved-${randomBytes(3).toString('hex')}`)
      sh('cp', ['-a', runner.workspace, copy])
      return () => {
        sh('rm', ['-rf', runner.workspace])
        sh('mv', [copy, runner.workspace])
      }
    },
    codex: (script) =>
      runProcess(asUser[0], [...asUser.slice(1), 'codex', script], {
        env: env(),
        cwd: runner.workspace,
        timeoutMs: 30_000
      }),
    step: (script, extra = {}) =>
      runProcess(asUser[0], [...asUser.slice(1), 'sh', '-c', script], {
        env: env(extra),
        cwd: runner.workspace,
        timeoutMs: 30_000
      })
  }
}

;(able ? describe : describe.skip)('the jail against workspace tricks of a prompt-injected model (sudo job)', () => {
  test('a .git/modules/*/config symlinked to a root-only file: init never reads it, and the scratch is gone from the jail', async () => {
    // Promise (docs/what-codex-can-reach.md, issue 26): the jail shows nothing else of the job;
    // RUNNER_TEMP, other homes, /root are absent; Codex has no privilege.
    const job = await sudoJob()
    const plant = await job.codex(
      [
        'mkdir -p .git/modules/a .git/modules/b',
        'ln -s /etc/shadow .git/modules/a/config',
        `ln -s ${job.rootOnly} .git/modules/b/config`,
        'cat /etc/shadow 2>&1 | head -1; cat ' + job.rootOnly + ' 2>&1'
      ].join('; ')
    )
    // In the jail itself, neither is readable.
    expect(plant.stdout).not.toContain(SECRET)
    const read = await job.codex('ls -l /.jail; cat /.jail/git-* 2>&1')
    await job.step('rm -rf .git/modules')
    // Neither reaches the jail (init skips the symlinks; /.jail is unmounted before Codex starts).
    expect({
      rootOnlyFile: read.stdout.includes(SECRET),
      etcShadow: /^root:[^:]*:\d*:/m.test(read.stdout)
    }).toEqual({ rootOnlyFile: false, etcShadow: false })
  })

  test('a gha-creds name written as fstab lines (space, newline) mounts nothing: init builds no mount-table text from names', async () => {
    // Promise (docs/what-codex-can-reach.md, issue 26): RUNNER_TEMP, the job user's home, the
    // runner's other directories are absent from the jail; Codex writes only the workspace and CODEX_HOME.
    const job = await sudoJob()
    const planted = path.join(job.runner.temp, 'planted-by-another-step')
    await fs.writeFile(planted, 'another-step-file\n', { mode: 0o644 })
    const escaped = path.join(job.runner.temp, 'written-from-the-jail')
    const plant = await job.codex(
      [
        // The jail's root on the host, from the mount table.
        `R=$(awk '$5 == "/" { print $4; exit }' /proc/self/mountinfo)`,
        'echo "root=$R"',
        'ln -s / s',
        'ln -s "$R$PWD/hostroot" t',
        'mkdir hostroot',
        ': > gha-creds-A',
        `: > "$(printf 'gha-creds-A none bind\\ns t none rbind\\n#.json')"`,
        'ls'
      ].join('; ')
    )
    const read = await job.codex(
      [`cat hostroot${planted}`, `echo escaped > hostroot${escaped} && echo wrote`, 'ls hostroot$HOME | head -3'].join(
        '; '
      )
    )
    const wrote = existsSync(escaped)
    await job.step('umount -l hostroot 2>/dev/null; rm -rf s t hostroot gha-creds-A gha-creds-A*json')
    await fs.rm(escaped, { force: true })
    await fs.rm(planted, { force: true })
    expect(plant.exitCode).toBe(0)
    expect({ read: read.stdout.includes('another-step-file'), wrote }).toEqual({ read: false, wrote: false })
  })

  test(".git cannot be renamed from under its filtered config: checkout's token stays out of reach", async () => {
    // Promise (issue 26, jail.ts): ".git/config is seen without credentials"; the main step
    // says "Codex's jail shows .git/config without it, so the commands the model runs cannot read or use it".
    const token = 'ghs_trickCheckoutToken0123456789'
    const job = await sudoJob(async (workspace) => {
      execFileSync('git', [
        'config',
        '--file',
        path.join(workspace, '.git', 'config'),
        'http.https://github.com/.extraheader',
        `AUTHORIZATION: basic ${btoa(`x-access-token:${token}`)}`
      ])
    })
    const restore = job.save()
    const first = await job.codex('git config --get-regexp extraheader; mv .git .git-moved && cp -R .git-moved .git')
    const second = await job.codex('cat .git-moved/config')
    restore()
    expect(first.stdout).toBe('')
    expect(second.stdout).not.toContain(btoa(`x-access-token:${token}`))
  })

  test('Codex cannot write .git/hooks: no hook of its runs in the next step (the README recipe) with sudo and the push token', async () => {
    // Promise (README, "Fix, then push from a later step"): "the job's own user commits and
    // pushes it in the next step, with a token Codex never sees (Codex itself cannot push)".
    const job = await sudoJob()
    const restore = job.save()
    const marker = path.join(job.runner.temp, 'hook-ran')
    const edit = await job.codex(
      [
        `printf '#!/bin/sh\\n{ id -u; sudo -n id -u; echo "token=$GH_TOKEN"; } > ${marker} 2>&1\\n' > .git/hooks/pre-commit`,
        'chmod +x .git/hooks/pre-commit',
        'echo fixed >> README'
      ].join('; ')
    )
    expect(edit.exitCode).toBe(0)
    // The recipe's push step, as the job's user outside the jail.
    const push = await job.step('git add -A && git commit -qm "Codex: fix" && echo committed', {
      GH_TOKEN: 'ghs_trickPushToken0123'
    })
    expect(push.stdout).toContain('committed')
    const ran = existsSync(marker) ? await fs.readFile(marker, 'utf8') : ''
    await fs.rm(marker, { force: true })
    restore()
    // .git/hooks is read-only in the jail: no hook of Codex's ran.
    expect(ran).toBe('')
  })

  test('Codex can neither replace .git nor set core.fsmonitor for later git', async () => {
    // Promise (issue 26 / jail.ts): .git/config is shown as a read-only, filtered copy.
    const job = await sudoJob()
    const restore = job.save()
    const marker = path.join(job.runner.temp, 'fsmonitor-ran')
    const swap = await job.codex(
      [
        'mv .git .git-jailed && mkdir .git && cp -R .git-jailed/. .git/ && rm -f .git/config',
        'cp .git-jailed/config .git/config',
        `git config core.fsmonitor 'id -u > ${marker}; sudo -n id -u >> ${marker}; false'`,
        'echo swapped'
      ].join(' && ')
    )
    const status = await job.step('git status --porcelain >/dev/null 2>&1; echo done')
    const ran = existsSync(marker) ? await fs.readFile(marker, 'utf8') : ''
    await fs.rm(marker, { force: true })
    restore()
    expect(status.stdout).toContain('done')
    expect({ swap: swap.stdout.trim(), ran }).toEqual({ swap: expect.anything(), ran: '' })
  })

  test('a 5 MB .git/modules/x/config is shown empty, with a line on stderr: later codex calls still run', async () => {
    const job = await sudoJob()
    await job.codex('mkdir -p .git/modules/x && head -c 5000000 /dev/zero | tr "\\0" "a" > .git/modules/x/config')
    const next = await job.codex('echo still-works; wc -c < .git/modules/x/config')
    await job.step('rm -rf .git/modules')
    expect(next.stdout).toBe('still-works\n0\n')
    expect(next.stderr).toMatch(
      /^codex-auth-action: Codex's jail shows \S*\/\.git\/modules\/x\/config empty: it is too large to filter\n$/
    )
  })

  test("the model's git works in the jail with .git and its hooks pinned: status, diff, add, commit, log", async () => {
    const job = await sudoJob()
    const restore = job.save()
    const result = await job.codex(
      [
        'echo more >> README',
        'git status --porcelain',
        'git diff --stat | tail -1',
        'git add -A',
        'git commit -qm "in the jail"',
        'git log --format=%s',
        'ls /.jail | wc -l',
        'touch .git/hooks/x 2>/dev/null || echo hooks-read-only',
        'mv .git .git-x 2>/dev/null || echo git-pinned'
      ].join(' && ')
    )
    restore()
    expect(result.stdout).toBe(
      ' M README\n 1 file changed, 1 insertion(+)\nin the jail\nchecked out\n0\nhooks-read-only\ngit-pinned\n'
    )
  })

  test('nothing of the jail outlives its codex (setsid, double fork)', async () => {
    const job = await sudoJob()
    await job.codex(
      "(setsid sh -c 'sleep 3; echo late > late-setsid.txt' </dev/null >/dev/null 2>&1 &); (sh -c '(sleep 3; echo late > late-fork.txt) &' </dev/null >/dev/null 2>&1 &); echo started"
    )
    await new Promise((resolve) => setTimeout(resolve, 5000))
    const left = ['late-setsid.txt', 'late-fork.txt'].filter((f) => existsSync(path.join(job.runner.workspace, f)))
    await job.step('rm -f late-*.txt')
    expect(left).toEqual([])
  })

  test("hostile workspace names (space, newline, quotes, globs, leading dash, backslash) break neither the jail, the main step's proof nor the log", async () => {
    const names = ['gha-creds-a\n::warning::injected.json', 'gha-creds-\' "*?[x].json', 'gha-creds--rf\\x.json']
    const job = await sudoJob(async (workspace) => {
      for (const name of names) await fs.writeFile(path.join(workspace, name), '{"token":"x"}')
      for (const module of ['m 1', 'm\n2', '-m3', 'm\\4', 'm*5', 'm\t6']) {
        await fs.mkdir(path.join(workspace, '.git', 'modules', module), { recursive: true })
        await fs.writeFile(path.join(workspace, '.git', 'modules', module, 'config'), '[core]\n\tbare = false\n')
      }
    })
    const result = await job.codex(
      'echo in-jail; for f in gha-creds-*; do printf "%s=%s\\n" "$f" "$(wc -c < "$f")"; done; ls .git/modules | wc -l'
    )
    expect(result.stderr).toBe('')
    expect(result.stdout).toContain('in-jail')
    expect(result.stdout).not.toMatch(/=[1-9]/)
  })
})
