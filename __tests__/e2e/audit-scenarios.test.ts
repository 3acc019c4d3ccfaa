/**
 * The audits every Runner gets at dispose besides the leak scan (harness/audit.js): the
 * user's directories before = after, the workflow commands in every step's output, what
 * the CLI was started with, and the processes of dist/ left running. Each is shown to find
 * what it is meant to find, then run over the scenarios that would show each class of
 * defect; and disposing fails when the audit cannot be counted.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import {
  auditCliRecords,
  auditCommands,
  auditProcesses,
  compareTrees,
  parseCommandLine,
  snapshotTree,
  SPOOF_LINES
} from '../harness/audit.js'
import {
  hangingCodexScript,
  HOST_SUFFIX,
  registryWithRelease,
  rejectingCodexScript,
  spoofingCodexScript,
  standInCodex
} from '../harness/fake-package.js'
import { useRunners } from '../harness/lifecycle.js'
import { alive, startedKeyProxy } from '../harness/processes.js'
import { TEST_API_KEY } from '../harness/real-cli.js'
import { Runner, runProcess } from '../harness/runner.js'

const KEY = 'sk-proj-auditCanary0123456789abcdef'

const runners = useRunners()
let runner: Runner

beforeEach(async () => {
  runner = await runners.create()
})

describe('before = after', () => {
  test('a changed, removed or added path is found; mtimes alone are not', async () => {
    const dir = path.join(runner.root, 'user')
    await fs.mkdir(path.join(dir, 'sub'), { recursive: true })
    await fs.writeFile(path.join(dir, 'same.txt'), 'same')
    await fs.writeFile(path.join(dir, 'edited.txt'), 'before')
    await fs.writeFile(path.join(dir, 'sub', 'gone.txt'), 'x')
    await fs.writeFile(path.join(dir, 'mode.txt'), 'x', { mode: 0o644 })
    await fs.symlink('same.txt', path.join(dir, 'link'))
    const before = await snapshotTree(dir)
    await fs.writeFile(path.join(dir, 'same.txt'), 'same')
    await fs.writeFile(path.join(dir, 'edited.txt'), 'after!')
    await fs.rm(path.join(dir, 'sub', 'gone.txt'))
    await fs.chmod(path.join(dir, 'mode.txt'), 0o600)
    await fs.rm(path.join(dir, 'link'))
    await fs.symlink('edited.txt', path.join(dir, 'link'))
    await fs.writeFile(path.join(dir, 'new.txt'), 'action')
    const after = await snapshotTree(dir)
    const findings = compareTrees('codex-home', before, after, { leftBehind: true })
    expect(findings.map((f) => f.replace(/ \(.*$/, ''))).toEqual([
      'codex-home/edited.txt changed',
      'codex-home/link changed',
      'codex-home/mode.txt changed',
      'codex-home/sub/gone.txt removed',
      'codex-home/new.txt left behind'
    ])
    expect(compareTrees('codex-home', before, after, { leftBehind: false })).toHaveLength(4)
    expect(
      compareTrees('codex-home', new Map(), await snapshotTree(path.join(dir, 'sub')), {
        leftBehind: true,
        keptRoot: true
      })
    ).toEqual([])
  })

  // A named codex-home holding the user's own config, sessions and logs (a home that holds
  // auth.json or shell_snapshots/ is refused, see codex.test.ts), over the success, failure
  // and cancelled paths; the audit at dispose compares it after the post step.
  async function userHome(): Promise<string> {
    const home = path.join(runner.root, 'my-codex-home')
    await fs.mkdir(path.join(home, 'sessions'), { recursive: true })
    await fs.mkdir(path.join(home, 'log'))
    await fs.writeFile(path.join(home, 'config.toml'), 'model = "o3"\n')
    await fs.writeFile(path.join(home, 'sessions', 'rollout.jsonl'), '{}\n')
    await fs.writeFile(path.join(home, 'log', 'codex-login.log'), "the user's own log\n")
    return home
  }

  test.each([
    ['success', undefined, undefined, 0],
    ['failure', rejectingCodexScript(), undefined, 1],
    ['cancelled (main killed)', hangingCodexScript(), 3_000, null]
  ] as const)(
    'a named codex-home is as the user left it after the %s path and the post step',
    async (_path, script, timeoutMs, exitCode) => {
      const { env } = await standInCodex(runner.root, script)
      // The login's success, failure and cancellation: key-isolation none, so that a login runs.
      const main = await runner.main(
        { 'api-key': TEST_API_KEY, install: 'false', 'codex-home': await userHome(), 'key-isolation': 'none' },
        env,
        timeoutMs
      )
      expect(main.timedOut).toBe(timeoutMs !== undefined)
      expect(main.exitCode).toBe(exitCode)
      expect((await runner.post()).exitCode).toBe(0)
    }
  )
})

describe('workflow commands', () => {
  const token = 'a'.repeat(32)

  test('parsed as the runner parses them: after white space, `##[` anywhere, known names only', () => {
    const names = new Set(['warning', 'add-mask'])
    expect(parseCommandLine('  ::warning title=x,file=y::data', names)).toEqual({
      form: '::',
      name: 'warning',
      properties: 'title=x,file=y',
      data: 'data',
      indented: true
    })
    expect(parseCommandLine('text ##[add-mask]v', names)).toMatchObject({ form: '##[', name: 'add-mask', data: 'v' })
    expect(parseCommandLine('::Warning::case does not matter', names)).toMatchObject({ name: 'Warning' })
    expect(parseCommandLine('::unknown::x', names)).toBeUndefined()
    expect(parseCommandLine('::warning no end', names)).toBeUndefined()
    expect(parseCommandLine('text ::warning::not at the start', names)).toBeUndefined()
  })

  test('every spoofed line is found; inside a stop-commands block, none is', () => {
    const spoofed = SPOOF_LINES.join('\r\n')
    const { findings } = auditCommands(
      `::add-mask::${KEY}\nDownloading x\n${spoofed}\n::debug::ok%0A::warning::escaped`,
      'stdout'
    )
    expect(findings).toHaveLength(SPOOF_LINES.length)
    const inert = auditCommands(`::stop-commands::${token}\n${spoofed}\n::${token}::\n::warning::ours`, 'stdout')
    expect(inert).toEqual({ commands: 2, blocks: 1, findings: [] })
  })

  test('commands the action never writes, guessable or unclosed blocks, are found', () => {
    const { findings } = auditCommands(
      [
        '::set-env name=A::b',
        '::error file=x::y',
        '::stop-commands::short',
        '::short::',
        `::stop-commands::${token}`,
        '::warning::ignored'
      ].join('\n'),
      'stdout'
    )
    expect(findings.map((f) => f.replace(/^stdout: /, '').replace(/: ".*$/, ''))).toEqual([
      'a ::set-env:: command the action never issues',
      'a ::error:: command with properties or indentation the action never writes',
      'stop-commands with a guessable or reused token',
      "stop-commands never closed: the runner ignores the step's later commands"
    ])
  })

  test('what a CLI prints on a failed login, in its log and with debug on, never acts as a command', async () => {
    const { env } = await standInCodex(runner.root, spoofingCodexScript())
    const main = await runner.main(
      { 'api-key': TEST_API_KEY, install: 'false', 'key-isolation': 'none' },
      { ...env, ACTIONS_STEP_DEBUG: 'true', RUNNER_DEBUG: '1' }
    )
    expect(main.exitCode).toBe(1)
    // The spoofs are shown, inertly, in the diagnostics group.
    expect(main.stdout).toContain(SPOOF_LINES[0])
    await runner.post()
  })

  test("a registry's tarball address and version are printed inertly", async () => {
    const registry = runners.stopAfter(await registryWithRelease('1.0.0'))
    const full = `1.0.0-${HOST_SUFFIX}`
    const { integrity } = registry.published.get(full)!
    // A fragment is never sent, and URL parsing drops its line breaks: the download works.
    const tarball = `${registry.url}${registry.tarballPath(full)}#\n${SPOOF_LINES.join('\n')}\n`
    registry.faults.set(`/@openai%2fcodex/${full}`, (_req, res) => {
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ name: '@openai/codex', version: full, dist: { integrity, tarball } }))
      return true
    })
    const main = await runner.main({
      'api-key': TEST_API_KEY,
      'registry-url': registry.url,
      'codex-version': '1.0.0'
    })
    expect(main.stdout).toContain('Downloading ')
    await runner.post()
  })
})

describe('the CLI environment', () => {
  test('the stand-in codex records its argv and environment; a secret in either is found', async () => {
    const { bin } = await standInCodex(runner.root)
    const records = path.join(runner.root, 'cli-records')
    await runProcess(path.join(bin, 'codex'), ['login', 'status', `--key=${KEY}`], {
      env: { PATH: process.env.PATH ?? '', 'INPUT_API-KEY': `${KEY}\nsk-other-0123456789`, CODEX_HOME: runner.root }
    })
    const names = await fs.readdir(records)
    const findings = await auditCliRecords(
      [path.join(records, names.find((n) => n.endsWith('.env'))!.slice(0, -'.env'.length))],
      [KEY]
    )
    expect(findings).toEqual(
      expect.arrayContaining([
        "raw form of a secret in the CLI's environment: INPUT_API-KEY",
        "raw form of a secret in the CLI's argv (codex login status --key=" + KEY + ')'
      ])
    )
    await fs.rm(records, { recursive: true })
  })
})

describe('processes and the audit itself', () => {
  test('a key proxy and guard left running are found, and ended', async () => {
    const codex = await standInCodex(runner.root)
    const main = await runner.main(
      {
        'api-key': TEST_API_KEY,
        'key-isolation': 'proxy',
        'api-base-url': 'http://127.0.0.1:9/v1',
        install: 'false',
        // The key proxy and its guard alone (the egress proxy's leftovers are egress-proxy.test's).
        'codex-network': 'open'
      },
      codex.env
    )
    expect(main.errors).toEqual([])
    // Main does not wait for the proxy's node: wait for the proxy and its guard.
    const started = await startedKeyProxy(runner.root)
    expect(started.map((p) => p.guard).sort()).toEqual([false, true])
    // No post step: what a test that forgets it leaves. Disposing runs this first, and fails on any finding.
    const findings = await auditProcesses(runner.root)
    expect(findings.sort()).toEqual(
      started
        .map(
          ({ pid, guard }) =>
            `dist/key-proxy${guard ? ' --guard' : ''} (pid ${pid}) still running at the end of the scenario`
        )
        .sort()
    )
    expect(started.filter((p) => alive(p.pid))).toEqual([])
  })

  test('outside the e2e global setup a scenario cannot be counted, and disposing it fails instead of skipping', async () => {
    const job = await Runner.create()
    const codex = await standInCodex(job.root)
    expect((await job.main({ 'api-key': TEST_API_KEY, install: 'false' }, codex.env)).errors).toEqual([])
    await job.post()
    const shared = process.env.CODEX_AUTH_TEST_SHARED
    delete process.env.CODEX_AUTH_TEST_SHARED
    try {
      await expect(job.dispose()).rejects.toThrow(/the e2e global setup did not run/)
    } finally {
      process.env.CODEX_AUTH_TEST_SHARED = shared
    }
  })
})
