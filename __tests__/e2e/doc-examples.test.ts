/**
 * Every workflow the documentation shows runs: each file in examples/ and each ```yaml block
 * of README.md and docs/ (new ones are picked up by themselves) goes through the stand-in
 * runner: the action with fake secrets against loopback servers, its `run:` steps as bash
 * with the pinned real Codex CLI against the loopback model, other actions' steps played by
 * stand-ins (workflow-job.ts). A flag the CLI refuses, a missing checkout or history, a wrong
 * input name, an unknown secret or placeholder fails here. Blocks marked as fragments are
 * checked for their inputs only, and counted; the last test says how many of each ran.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { ChatgptBackend } from '../harness/chatgpt-backend.js'
import { docWorkflows, workflowOf, type DocWorkflow } from '../harness/doc-workflows.js'
import { BEDROCK_REGION, FakeBedrock, TEST_AWS_KEYS } from '../harness/fake-bedrock.js'
import { FakeGitHub } from '../harness/fake-github.js'
import { FakeOidc } from '../harness/fake-oidc.js'
import { FakeOpenAI } from '../harness/fake-openai.js'
import { FakeRegistry } from '../harness/fake-registry.js'
import { useRunners } from '../harness/lifecycle.js'
import { ForwardProxy } from '../harness/proxy.js'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY, TEST_PAT } from '../harness/real-cli.js'
import { actionYml } from '../harness/runner.js'
import { makeTestCa } from '../harness/test-ca.js'
import {
  AZURE_KEY,
  GITHUB_WRITE_TOKEN,
  type JobServers,
  OLD_KEY,
  runJob,
  wantsJobUser
} from '../harness/workflow-job.js'

const all = docWorkflows()
const runnable = all.filter((doc) => doc.kind !== 'fragment')
const fragments = all.filter((doc) => doc.kind === 'fragment')
const ran: string[] = []

const runners = useRunners()
const servers = useRunners({ scope: 'all' })
let jobServers: JobServers

beforeAll(async () => {
  const registry = new FakeRegistry()
  // Never downloaded: the pinned CLI is in the shared tool cache; this only names `latest`.
  registry.publish(CODEX_VERSION, `${process.platform}-${process.arch}`, Buffer.from('not a tarball'))
  registry.distTags = { latest: CODEX_VERSION }
  const keys = { [TEST_API_KEY]: 200, [OLD_KEY]: 401, [AZURE_KEY]: 200 } as const
  jobServers = {
    openai: await servers.serve(new FakeOpenAI({ apiKeys: { ...keys }, acceptedTokens: [TEST_PAT] })),
    azure: await servers.serve(new FakeOpenAI({ apiKeys: { ...keys }, azure: true })),
    oidc: await servers.serve(new FakeOidc(600)),
    chatgpt: await servers.serve(new ChatgptBackend()),
    github: await servers.serve(new FakeGitHub(GITHUB_WRITE_TOKEN)),
    proxy: await servers.serve(new ForwardProxy()),
    registry: await servers.serve(registry),
    bedrock: await servers.serve(
      new FakeBedrock({
        region: BEDROCK_REGION,
        keys: {
          [TEST_AWS_KEYS.AWS_ACCESS_KEY_ID]: {
            secretAccessKey: TEST_AWS_KEYS.AWS_SECRET_ACCESS_KEY,
            sessionToken: TEST_AWS_KEYS.AWS_SESSION_TOKEN
          }
        }
      })
    ),
    ca: makeTestCa('Example Organisation Root CA').ca
  }
})

const users: string[] = []
afterAll(async () => {
  for (const user of users) {
    execFileSync('userdel', ['-f', '-r', user], { stdio: 'ignore' })
    await fs.rm(`/etc/sudoers.d/${user}`, { force: true })
  }
})

/**
 * A runner whose steps run as a job user with passwordless sudo, as a GitHub-hosted runner's
 * do (`runner`), for the jobs that need Codex's own sandbox: it cannot start in a root job's jail.
 */
async function hostedRunner(): Promise<{ runner: Awaited<ReturnType<typeof runners.create>>; asUser: string[] }> {
  const user = `cadoc${randomBytes(3).toString('hex')}`
  users.push(user)
  execFileSync('useradd', ['-m', '-s', '/bin/bash', user])
  await fs.writeFile(`/etc/sudoers.d/${user}`, `${user} ALL=(ALL) NOPASSWD:ALL\n`, { mode: 0o440 })
  const id = (flag: string) => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }))
  const asUser = ['setpriv', `--reuid=${id('-u')}`, `--regid=${id('-g')}`, '--init-groups', '--']
  // The shared tool cache holds the real CLI; the job's user reads it, as a hosted runner's.
  await fs.chmod(path.dirname(sharedToolCache()), 0o755)
  const runner = await runners.create({
    toolCache: sharedToolCache(),
    launcher: asUser,
    owner: { uid: id('-u'), gid: id('-g') }
  })
  await fs.chmod(runner.root, 0o755)
  execFileSync('chown', ['-R', `${user}:${user}`, runner.root])
  return { runner, asUser }
}

test('the documentation has workflows, and each block is a workflow, a marked example or a marked fragment', () => {
  expect(all.filter((doc) => doc.source.startsWith('examples/')).length).toBeGreaterThanOrEqual(4)
  expect(all.filter((doc) => doc.source.startsWith('README.md')).length).toBeGreaterThanOrEqual(1)
  expect(all.flatMap((doc) => doc.problems)).toEqual([])
})

test.each(runnable.map((doc): [string, DocWorkflow] => [doc.source, doc]))(
  '%s runs as written',
  async (_source, doc) => {
    const workflow = workflowOf(doc)
    const report: string[] = []
    for (const name of Object.keys(workflow.jobs)) {
      const hosted = wantsJobUser(workflow.jobs[name])
      const { runner, asUser } = hosted
        ? await hostedRunner()
        : { runner: await runners.create({ toolCache: sharedToolCache() }), asUser: [] }
      try {
        const lines = await runJob(workflow, name, runner, jobServers, asUser)
        report.push(
          `job ${name}${hosted ? ' (as a job user with passwordless sudo, as on a hosted runner)' : ''}:`,
          ...lines.map((line) => `  ${line}`)
        )
      } catch (error) {
        throw new Error(`${doc.source}, job ${name}:\n${report.join('\n')}\n${(error as Error).message}`)
      }
    }
    ran.push(
      `${doc.source} (${doc.kind === 'steps' ? 'steps in a job the test makes' : 'a whole workflow'})\n  ${report.join('\n  ')}`
    )
  },
  240_000
)

test.each(fragments.map((doc): [string, DocWorkflow] => [doc.source, doc]))(
  '%s, a marked fragment, uses only inputs the action has',
  (_source, doc) => {
    const steps = workflowOf({ ...doc, kind: 'steps', withAction: false }).jobs.example.steps
    for (const step of steps.filter((s) => /codex-auth-action@/.test(s.uses ?? '')))
      for (const name of Object.keys(step.with ?? {})) expect([name, name in actionYml.inputs]).toEqual([name, true])
  }
)

afterAll(() => {
  console.log(
    [
      `Documented workflows: ${ran.length} of ${runnable.length} ran on the stand-in runner; ${fragments.length} marked fragment(s) checked, not run (${fragments.map((f) => `${f.source}: ${f.why}`).join('; ')}).`,
      ...ran
    ].join('\n')
  )
})
