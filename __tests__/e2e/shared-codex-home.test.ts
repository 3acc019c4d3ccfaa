/**
 * Two jobs on one machine with the same named codex-home: while this job logs in, the
 * other writes its auth.json there. The action checks the home first and creates every
 * file exclusively, so it never overwrites the other job's file; it must then stop with
 * one error that names codex-home and says what to do, not "Unexpected failure: EEXIST".
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { fakeCodexScript, standInCodex } from '../harness/fake-package.js'
import { Runner } from '../harness/runner.js'

const KEY = `sk-test-${'s'.repeat(40)}`
const OTHER_JOB = '{"auth_mode":"apikey","OPENAI_API_KEY":"the other job"}'

let runner: Runner
beforeEach(async () => {
  runner = await Runner.create()
})
afterEach(async () => {
  await runner.dispose()
})

/** A stand-in codex during whose login "the other job" writes `home`/auth.json. */
async function racingCodex(home: string): Promise<Record<string, string>> {
  const script = fakeCodexScript('1.0.0').replace(
    '        umask 077\n',
    `        umask 077\n        printf '%s' '${OTHER_JOB}' > '${path.join(home, 'auth.json')}'\n`
  )
  return (await standInCodex(runner.root, script)).env
}

test.each([
  ['with its own config.toml', 'model = "o4-mini"\n'],
  ['without a config.toml', undefined]
])(
  'api-key into a shared codex-home %s: one error naming codex-home, the other job untouched',
  async (_how, config) => {
    const home = path.join(runner.root, 'shared-home')
    await fs.mkdir(home)
    if (config) await fs.writeFile(path.join(home, 'config.toml'), config)
    // The login writes auth.json: key-isolation none (the proxy writes none).
    const main = await runner.main(
      { install: 'false', 'api-key': KEY, 'codex-home': home, 'key-isolation': 'none' },
      await racingCodex(home)
    )
    expect(main.exitCode).toBe(1)
    expect(main.errors).toEqual([
      `::error::codex-home ${home}: another job created auth.json there while this one was writing it, so two jobs are using this codex-home at the same time. Give each runner its own codex-home, or run the jobs that share one one at a time (concurrency:); the other job's file was not touched.`
    ])
    expect(main.stdout).not.toMatch(/Unexpected failure|This is a bug/)
    expect(await fs.readFile(path.join(home, 'auth.json'), 'utf8')).toBe(OTHER_JOB)
    const post = await runner.post()
    expect(post.exitCode).toBe(0)
    expect(await fs.readFile(path.join(home, 'auth.json'), 'utf8')).toBe(OTHER_JOB)
    // The other job's post step removes its login; what remains must be as this job found it.
    await fs.rm(path.join(home, 'auth.json'))
  }
)
