/**
 * Runs one job of a documented workflow on the stand-in runner (runner.js), step by step, as
 * GitHub would: `${{ }}` and `if:` evaluated (expressions.ts), the action's main step with
 * fake secrets against loopback servers, `run:` steps executed by bash with the pinned real
 * CLI on PATH, and the steps of other actions played by the stand-ins in STAND_INS. What
 * cannot run here is never skipped: it throws, naming the step and what to add. Each job
 * returns the lines of what ran, for the test's report. A job with a `codex exec --sandbox
 * workspace-write` gets a model that edits the checkout through Codex (and should run as a
 * job user with sudo, wantsJobUser), so that the steps after it commit and push a change.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { AttackerModel } from './attacker.js'
import { chatgptAuth } from './chatgpt-auth.js'
import { type ChatgptBackend } from './chatgpt-backend.js'
import { readPlaceholder, type Job, type Step, type Workflow } from './doc-workflows.js'
import { condition, interpolate, type Contexts } from './expressions.js'
import { BEDROCK_REGION, type FakeBedrock, TEST_AWS_KEYS } from './fake-bedrock.js'
import { type FakeGitHub, OWNER, REPO } from './fake-github.js'
import { type FakeOidc } from './fake-oidc.js'
import { type FakeOpenAI } from './fake-openai.js'
import { type FakeRegistry } from './fake-registry.js'
import { type ForwardProxy } from './proxy.js'
import { CODEX_VERSION, TEST_API_KEY, TEST_PAT } from './real-cli.js'
import { actionYml, runProcess, type Runner } from './runner.js'

export interface JobServers {
  openai: FakeOpenAI
  azure: FakeOpenAI
  oidc: FakeOidc
  chatgpt: ChatgptBackend
  github: FakeGitHub
  proxy: ForwardProxy
  registry: FakeRegistry
  /** Amazon Bedrock, which knows TEST_AWS_KEYS (what the configure-aws-credentials stand-in exports). */
  bedrock: FakeBedrock
  /** A root CA's PEM, for placeholders of an organisation's CA. */
  ca: string
}

/** An Azure-shaped key (32 hex digits) and the older key of a rotation, which the fake API refuses. */
export const AZURE_KEY = '0123456789abcdef0123456789abcdef'
export const OLD_KEY = 'sk-proj-rotatedAwayOldKey0123456789abcdefXYZ'
export const GITHUB_WRITE_TOKEN = 'github_pat_docExamplesSecretsWriter0123456789'
/** The job's GITHUB_TOKEN (`github.token`), which only stand-ins see. */
const JOB_TOKEN = 'ghs_standInJobToken0123456789abcdefABCDEF'

/** Placeholder values (lines marked `# placeholder`) by key: what stands for them here. */
const PLACEHOLDERS: Record<string, (servers: JobServers, original: string, runner: Runner) => string> = {
  HTTPS_PROXY: (s) => s.proxy.url,
  NO_PROXY: () => 'localhost,127.0.0.1',
  'api-base-url': (s, original) => (/azure/i.test(original) ? s.azure.apiBaseUrl : s.openai.apiBaseUrl),
  'registry-url': (s) => s.registry.url,
  'ca-certificate': (s) => s.ca,
  'federation-rule-id': () => 'idpm_0123456789abcdef',
  'codex-home': (_s, _o, runner) => path.join(runner.root, 'self-hosted', 'codex-ci-home')
}

/** The job's secrets: fakes shaped like the real ones, each one a canary of the runner's audit. */
function secretsFor(servers: JobServers, runner: Runner): Record<string, string> {
  const full = chatgptAuth()
  const shared = chatgptAuth()
  servers.chatgpt.valid.add(full.tokens.refresh_token)
  for (const secret of [...full.secrets, ...shared.secrets]) runner.canaries.add(secret)
  const copy = JSON.parse(shared.text) as { tokens: Record<string, string> }
  copy.tokens.refresh_token = ''
  const values: Record<string, string> = {
    OPENAI_API_KEY: TEST_API_KEY,
    OPENAI_API_KEYS: `${TEST_API_KEY}\n${OLD_KEY}`,
    AZURE_OPENAI_API_KEY: AZURE_KEY,
    LLM_GATEWAY_KEY: TEST_API_KEY,
    CODEX_ACCESS_TOKEN: TEST_PAT,
    NPM_MIRROR_TOKEN: 'npm_docExamplesMirrorToken0123456789abcdef',
    CODEX_AUTH_JSON: full.text,
    CODEX_AUTH_JSON_SHARED: JSON.stringify({
      ...copy,
      codex_auth_action_shared_copy: {
        access_only: true,
        workflow: 'Refresh the Codex sign-in',
        full_secret: 'CODEX_AUTH_JSON'
      }
    }),
    CODEX_SECRETS_TOKEN: GITHUB_WRITE_TOKEN
  }
  for (const value of Object.values(values)) runner.canaries.add(value)
  return new Proxy(values, {
    get(target, name) {
      if (typeof name === 'string' && !(name in target))
        throw new Error(
          `secrets.${name}: the test has no fake for this secret (add one to secretsFor in workflow-job.ts)`
        )
      return target[name as string]
    },
    has: () => true
  })
}

const VARS: Record<string, string> = {}

/** The event that triggers the job: the first one `on:` names, with a payload of a trusted author. */
function eventOf(workflow: Workflow): { name: string; payload: Record<string, unknown> } {
  const on = workflow.on
  const name = typeof on === 'string' ? on : Array.isArray(on) ? String(on[0]) : Object.keys(on as object)[0]
  const repository = { full_name: `${OWNER}/${REPO}`, name: REPO, owner: { login: OWNER }, private: true }
  const payloads: Record<string, Record<string, unknown>> = {
    pull_request: {
      action: 'opened',
      number: 7,
      pull_request: {
        number: 7,
        author_association: 'MEMBER',
        head: { ref: 'feature', repo: { full_name: `${OWNER}/${REPO}`, fork: false } },
        base: { ref: 'main', repo: { full_name: `${OWNER}/${REPO}` } }
      }
    },
    issues: {
      action: 'opened',
      issue: {
        number: 12,
        title: 'The build fails on Windows',
        body: 'Since yesterday `npm test` fails with EPERM on Windows runners.',
        author_association: 'MEMBER',
        user: { login: 'octocat' }
      }
    },
    push: { ref: 'refs/heads/main' },
    workflow_dispatch: { inputs: {} },
    schedule: { schedule: '17 5 * * *' }
  }
  if (!(name in payloads))
    throw new Error(`on: ${name}: the stand-in runner has no event payload for it (add one to eventOf)`)
  return { name, payload: { ...payloads[name], repository, sender: { login: 'octocat' } } }
}

/** workflow_dispatch inputs: their defaults, or a sample task. */
function dispatchInputs(workflow: Workflow): Record<string, string> {
  const declared = ((workflow.on as Record<string, { inputs?: Record<string, { default?: string }> } | null>)
    ?.workflow_dispatch?.inputs ?? {}) as Record<string, { default?: string }>
  return Object.fromEntries(Object.entries(declared).map(([k, v]) => [k, v?.default ?? 'Make the failing test pass.']))
}

/** The permissions the job's token has: the job's, else the workflow's, else read-only contents. */
function permissionsOf(workflow: Workflow, job: Job): Record<string, string> {
  const given = job.permissions ?? workflow.permissions ?? { contents: 'read' }
  if (typeof given === 'string') throw new Error(`permissions: ${given}: name each permission the job needs`)
  return given
}

/** The first combination of a matrix (the stand-in runner is one Linux machine). */
function firstCombination(job: Job): Record<string, unknown> {
  const matrix = job.strategy?.matrix ?? {}
  return Object.fromEntries(
    Object.entries(matrix)
      .filter(([k]) => k !== 'include' && k !== 'exclude')
      .map(([k, v]) => [k, Array.isArray(v) ? v[0] : v])
  )
}

/** The placeholders replaced so far, for the report. */
const substituted = new Set<string>()

/** Replaces placeholder tokens and evaluates `${{ }}` in each value of a `with:` or `env:` map. */
function values(
  map: Record<string, unknown> | undefined,
  ctx: Contexts,
  servers: JobServers,
  runner: Runner
): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, raw] of Object.entries(map ?? {})) {
    const value = String(raw)
    const placeholder = readPlaceholder(value)
    if (placeholder) {
      const stand = PLACEHOLDERS[placeholder.key]
      if (!stand) throw new Error(`${key}: a placeholder the test cannot stand in for (add it to PLACEHOLDERS)`)
      out[key] = stand(servers, placeholder.value, runner)
      substituted.add(`${key} (placeholder "${placeholder.value}")`)
    } else out[key] = interpolate(value, ctx)
  }
  return out
}

/** actions/checkout: a Git repository in the workspace, as the checkout of `with:` would leave it. */
async function checkout(
  runner: Runner,
  withs: Record<string, string>,
  event: string,
  label: string,
  log: string[],
  asUser: string[]
): Promise<void> {
  if (withs['persist-credentials'] !== 'false')
    throw new Error(
      `${label}: actions/checkout without persist-credentials: false leaves the job's token in .git/config, where the commands Codex runs can read it`
    )
  const depth = Number(withs['fetch-depth'] ?? '1')
  const git = async (...args: string[]) => {
    const [command, ...rest] = [...asUser, 'git', ...args]
    const result = await runProcess(command, rest, {
      cwd: runner.workspace,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: runner.home,
        GIT_AUTHOR_NAME: 'Dev',
        GIT_AUTHOR_EMAIL: 'dev@example.com',
        GIT_COMMITTER_NAME: 'Dev',
        GIT_COMMITTER_EMAIL: 'dev@example.com'
      }
    })
    if (result.exitCode !== 0) throw new Error(`stand-in checkout: git ${args.join(' ')}: ${result.stderr}`)
  }
  const remote = path.join(runner.root, 'remote.git')
  await git('init', '-q', '--bare', '-b', 'main', remote)
  await git('init', '-q', '-b', 'main')
  await fs.mkdir(path.join(runner.workspace, 'src'), { recursive: true })
  await fs.writeFile(path.join(runner.workspace, 'src', 'add.js'), 'export const add = (a, b) => a + b\n')
  await git('add', '-A')
  await git('commit', '-qm', 'The base branch')
  await git('remote', 'add', 'origin', remote)
  await git('push', '-q', 'origin', 'main')
  if (event === 'pull_request') {
    await git('checkout', '-qb', 'feature')
    await fs.writeFile(path.join(runner.workspace, 'src', 'add.js'), 'export const add = (a, b) => a - b\n')
    await git('commit', '-qam', "The pull request's change")
  }
  if (depth === 1) {
    // One commit, no other branch: what a depth-1 checkout has.
    await fs.rm(path.join(runner.workspace, '.git'), { recursive: true })
    await git('init', '-q', '-b', 'main')
    await git('add', '-A')
    await git('commit', '-qm', 'The one commit a depth-1 checkout fetches')
    await git('remote', 'add', 'origin', remote)
  }
  log.push(
    `${label}: checkout (stand-in): a Git repository, ${depth === 1 ? 'one commit (fetch-depth 1)' : 'full history with origin/main'}${event === 'pull_request' ? ", the pull request's commit checked out" : ''}`
  )
}

/** The GitHub CLI's stand-in: records each call; fails as gh would without a token, and on a missing --body-file. */
const GH = `#!/bin/bash
echo "gh $*" >> "$GH_STAND_IN_LOG"
[ -n "$GH_TOKEN$GITHUB_TOKEN" ] || { echo "gh (stand-in): no GH_TOKEN in this step's env" >&2; exit 4; }
prev=""
for arg in "$@"; do
  if [ "$prev" = --body-file ] && [ ! -s "$arg" ]; then echo "gh (stand-in): --body-file $arg is missing or empty" >&2; exit 1; fi
  prev="$arg"
done
case "$1 $2" in
  "pr comment"|"pr create") need=pull-requests ;;
  "issue comment"|"issue edit") need=issues ;;
  "auth setup-git") exit 0 ;;
  *) echo "gh (stand-in): $1 $2 is not stood in for" >&2; exit 1 ;;
esac
case " $GH_STAND_IN_PERMISSIONS " in *" $need=write "*) ;; *) echo "gh (stand-in): the job's token lacks $need: write" >&2; exit 1 ;; esac
`

/**
 * A `codex exec --sandbox workspace-write` is a command meant to change the checkout: its
 * model edits a file (through Codex's own tool, in its sandbox), so that the steps after it
 * have a change to commit and push.
 */
const EDITS = /\bcodex\s+exec\b[^\n]*--sandbox[ =]workspace-write/
const EDIT: [string, string] = ['edit', 'echo "fixed by codex" > FIXED.md']

/** A job that edits the checkout runs as a job user with passwordless sudo, as on a hosted runner: in a root job's jail Codex's own sandbox cannot start. */
export function wantsJobUser(job: Job): boolean {
  return job.steps.some((step) => EDITS.test(step.run ?? ''))
}

/** How many model requests the loopback servers have answered. */
function modelRequests(s: JobServers, editor?: AttackerModel): number {
  return (
    (editor?.server.requests.filter((r) => r.method === 'POST').length ?? 0) +
    s.openai.responsesRequests().length +
    s.openai.websocketMessages.length +
    s.azure.responsesRequests().length +
    s.azure.websocketMessages.length +
    s.chatgpt.turns() +
    s.bedrock.server.requests.filter((r) => r.method === 'POST').length
  )
}

const CREDENTIALS = ['api-key', 'access-token', 'federation-rule-id', 'auth-json'] as const

/**
 * Runs job `name` of `workflow` on `runner`. Returns what ran, one line a step; throws at
 * the first step that fails, with what it printed.
 */
export async function runJob(
  workflow: Workflow,
  name: string,
  runner: Runner,
  servers: JobServers,
  asUser: string[] = []
): Promise<string[]> {
  const job = workflow.jobs[name]
  const log: string[] = []
  const event = eventOf(workflow)
  const eventPath = path.join(runner.root, 'event.json')
  await fs.writeFile(eventPath, JSON.stringify(event.payload))
  const permissions = permissionsOf(workflow, job)
  const matrix = firstCombination(job)
  if (Object.keys(matrix).length) log.push(`matrix: the first combination, ${JSON.stringify(matrix)}`)
  const steps: Record<string, { outputs: Record<string, string>; outcome: string; conclusion: string }> = {}
  const pr = event.name === 'pull_request'
  const ctx: Contexts = {
    github: {
      event_name: event.name,
      event: event.payload,
      repository: `${OWNER}/${REPO}`,
      repository_owner: OWNER,
      actor: 'octocat',
      token: JOB_TOKEN,
      run_id: '4242',
      ref: pr ? 'refs/pull/7/merge' : 'refs/heads/main',
      base_ref: pr ? 'main' : '',
      head_ref: pr ? 'feature' : '',
      workspace: runner.workspace
    },
    secrets: secretsFor(servers, runner),
    vars: new Proxy(VARS, {
      get(_t, key) {
        throw new Error(`vars.${String(key)} outside a line marked "# placeholder"`)
      }
    }),
    inputs: dispatchInputs(workflow),
    matrix,
    runner: { os: 'Linux', arch: 'X64', name: 'stand-in-runner', temp: runner.temp },
    steps,
    env: {},
    job: { status: 'success' }
  }
  const github: Record<string, string> = {
    GITHUB_EVENT_NAME: event.name,
    GITHUB_EVENT_PATH: eventPath,
    GITHUB_REPOSITORY: `${OWNER}/${REPO}`,
    GITHUB_REPOSITORY_OWNER: OWNER,
    GITHUB_ACTOR: 'octocat',
    GITHUB_WORKFLOW: workflow.name ?? 'workflow',
    GITHUB_RUN_ID: '4242',
    GITHUB_REF: String((ctx.github as Record<string, string>).ref),
    GITHUB_BASE_REF: pr ? 'main' : '',
    GITHUB_HEAD_REF: pr ? 'feature' : ''
  }
  const jobEnv = { ...values(workflow.env, ctx, servers, runner), ...values(job.env, ctx, servers, runner) }
  ctx.env = jobEnv
  if (!condition(job.if, ctx, { failed: false }))
    throw new Error(`job ${name}: its if: is false for a trusted ${event.name}, so it would never run: ${job.if}`)

  const bin = path.join(runner.root, 'stand-in-bin')
  await fs.mkdir(bin, { recursive: true })
  await fs.writeFile(path.join(bin, 'gh'), GH, { mode: 0o755 })
  const ghLog = path.join(runner.root, 'gh-calls.log')
  const status = { failed: false }
  const editor = job.steps.some((s) => EDITS.test(s.run ?? '')) ? new AttackerModel([EDIT]) : undefined
  if (editor) {
    // No WebSocket mode: refused at once, so Codex goes to HTTP without retrying.
    editor.server.onUpgrade = (_req, socket) =>
      void socket.end('HTTP/1.1 426 Upgrade Required\r\ncontent-length: 0\r\nconnection: close\r\n\r\n')
    await editor.server.start()
  }

  try {
    for (const [index, step] of job.steps.entries()) await runStep(index, step)
  } finally {
    await editor?.server.stop()
  }
  if (substituted.size) log.push(`placeholders stood in for: ${[...substituted].join(', ')}`)
  substituted.clear()
  return log

  async function runStep(index: number, step: Step): Promise<void> {
    const label = `step ${index + 1} (${step.name ?? step.uses ?? step.run?.split('\n')[0]})`
    const known = ['name', 'id', 'if', 'uses', 'with', 'run', 'env', 'shell', 'working-directory', 'timeout-minutes']
    const unknown = Object.keys(step).filter((k) => !known.includes(k))
    if (unknown.length) throw new Error(`${label}: the stand-in runner does not know ${unknown.join(', ')}`)
    const stepEnv = { ...jobEnv, ...values(step.env, ctx, servers, runner) }
    ctx.env = stepEnv
    if (!condition(step.if, ctx, status)) {
      log.push(`${label}: not run, its if: is false (${step.if ?? 'an earlier step failed'})`)
      return
    }
    try {
      if (step.uses) await uses(step, label)
      else if (step.run !== undefined) await run(step, label)
      else throw new Error(`${label}: neither uses: nor run:`)
    } catch (error) {
      status.failed = true
      throw error
    }
  }

  async function uses(step: Step, label: string): Promise<void> {
    const action = String(step.uses)
    const withs = values(step.with, ctx, servers, runner)
    if (/codex-auth-action@/.test(action)) return theAction(step, withs, label)
    if (/^actions\/checkout@/.test(action)) return checkout(runner, withs, event.name, label, log, asUser)
    if (/^aws-actions\/configure-aws-credentials@/.test(action)) {
      // As the real one: a role through GitHub OIDC needs id-token: write; its credentials go to GITHUB_ENV.
      if (withs['role-to-assume'] && permissions['id-token'] !== 'write')
        throw new Error(`${label}: role-to-assume through OIDC needs permissions id-token: write`)
      const region = withs['aws-region'] || BEDROCK_REGION
      Object.assign(runner.exported, { ...TEST_AWS_KEYS, AWS_REGION: region, AWS_DEFAULT_REGION: region })
      for (const secret of [TEST_AWS_KEYS.AWS_SECRET_ACCESS_KEY, TEST_AWS_KEYS.AWS_SESSION_TOKEN])
        runner.canaries.add(secret)
      log.push(`${label}: configure-aws-credentials (stand-in): a role session's keys in GITHUB_ENV, region ${region}`)
      return
    }
    if (/^actions\/upload-artifact@/.test(action)) {
      await fs.access(withs.path ?? '')
      log.push(`${label}: upload-artifact (stand-in): ${withs.name} from a path that exists`)
      return
    }
    throw new Error(`${label}: uses ${action}, for which the test has no stand-in (add one in workflow-job.ts)`)
  }

  async function theAction(step: Step, inputs: Record<string, string>, label: string): Promise<void> {
    for (const input of Object.keys(inputs))
      if (!(input in actionYml.inputs)) throw new Error(`${label}: the action has no input ${input}`)
    const env: Record<string, string> = { ...github, ...(ctx.env as Record<string, string>) }
    const added: string[] = []
    const add = (key: string, value: string, why: string) => {
      if (key in inputs) throw new Error(`${label}: sets ${key}, which the test needs for ${why}`)
      inputs[key] = value
      added.push(`${key} (${why})`)
    }
    if (!inputs['codex-version'] && !inputs['registry-url'])
      add('registry-url', servers.registry.url, `a loopback registry whose latest is ${CODEX_VERSION}`)
    const kind = CREDENTIALS.find((c) => inputs[c])
    if (kind === 'api-key' && !inputs['api-base-url'])
      add(
        'api-base-url',
        (editor ?? servers.openai).apiBaseUrl,
        editor
          ? 'a loopback model that writes FIXED.md through Codex, for --sandbox workspace-write'
          : 'the loopback model'
      )
    if (inputs.provider === 'amazon-bedrock' && !inputs['api-base-url'])
      add('api-base-url', servers.bedrock.apiBaseUrl, 'the loopback Bedrock')
    if (kind === 'access-token') Object.assign(env, servers.openai.authEnv())
    if (kind === 'federation-rule-id' && permissions['id-token'] === 'write') Object.assign(env, servers.oidc.env())
    // By default the action itself exchanges the OIDC token at OpenAI's token endpoint, which
    // no loopback server here plays by its name (workload-identity-proxy.test.ts does, behind a proxy).
    if (kind === 'federation-rule-id' && !inputs['key-isolation'])
      add('key-isolation', 'none', "Codex exchanges a token file itself: OpenAI's token endpoint has no stand-in here")
    if (kind === 'auth-json') {
      Object.assign(env, servers.github.env(), servers.chatgpt.env())
      for (const [key, value] of Object.entries(servers.chatgpt.inputs()))
        add(key, value, 'the loopback ChatGPT backend')
      // Codex holds the sign-in and reaches that backend itself: on loopback, which the jail's own network does not share.
      if (!inputs['codex-network']) add('codex-network', 'open', 'Codex reaches the loopback ChatGPT backend itself')
      for (const secret of ['CODEX_AUTH_JSON', 'CODEX_AUTH_JSON_SHARED'])
        if (!servers.github.secret(secret)) servers.github.addSecret(secret)
    }
    // A named codex-home keeps a ChatGPT sign-in's auth.json after the job: the documented exception.
    if (kind === 'auth-json' && inputs['codex-home'])
      runner.keptCredentials.add(path.join(inputs['codex-home'], 'auth.json'))
    let main = await runner.main(inputs, env)
    if (main.exitCode !== 0) throw new Error(`${label}: the action's main step failed:\n${main.stdout}${main.stderr}`)
    log.push(
      `${label}: the action, ${kind ?? 'no credential'}${added.length ? `; the test added ${added.join(', ')}` : ''}`
    )
    const callsCodex = job.steps.some((s) => /\bcodex\s+exec\b/.test(s.run ?? ''))
    if ((kind === 'access-token' || kind === 'federation-rule-id') && callsCodex) {
      // Its model turn needs OpenAI's own services (the ChatGPT backend's managed config, the
      // OIDC token exchange), which no loopback server here plays: the job's codex steps run
      // against the loopback model with an API key instead, said in the report.
      const swapped = Object.fromEntries(
        Object.entries(inputs).filter(
          ([k]) =>
            !['access-token', 'federation-rule-id', 'oidc-audience'].includes(k) &&
            // The key-isolation the test chose for the exchange is not the API key's.
            !(k === 'key-isolation' && added.some((a) => a.startsWith('key-isolation ')))
        )
      )
      const first = main.exported
      main = await runner.main({ ...swapped, 'api-key': TEST_API_KEY, 'api-base-url': servers.openai.apiBaseUrl }, env)
      // What the first main step exported is gone with its post step, as in a job of its own.
      for (const name of Object.keys(first)) if (!(name in main.exported)) delete runner.exported[name]
      if (main.exitCode !== 0) throw new Error(`${label}: the API-key stand-in failed:\n${main.stdout}${main.stderr}`)
      log.push(
        `${label}: then again with an API key, for the codex steps (an ${kind} turn needs OpenAI's own services)`
      )
    }
    if (step.id) steps[step.id] = { outputs: main.outputs, outcome: 'success', conclusion: 'success' }
  }

  async function run(step: Step, label: string): Promise<void> {
    const script = interpolate(String(step.run), ctx)
    const file = path.join(runner.root, `run-${Object.keys(steps).length}-${Date.now()}.sh`)
    await fs.writeFile(file, script)
    const shell = step.shell ?? 'bash -e'
    if (shell !== 'bash' && shell !== 'bash -e') throw new Error(`${label}: shell ${shell} is not stood in for`)
    const args = shell === 'bash' ? ['--noprofile', '--norc', '-eo', 'pipefail', file] : ['-e', file]
    const before = modelRequests(servers, editor)
    const calls = await fs.readFile(ghLog, 'utf8').catch(() => '')
    const env = runner.stepEnv({
      ...github,
      ...(ctx.env as Record<string, string>),
      PATH: `${bin}${path.delimiter}${process.env.PATH}`,
      GH_STAND_IN_LOG: ghLog,
      GH_STAND_IN_PERMISSIONS: Object.entries(permissions)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')
    })
    const [command, ...rest] = [...asUser, 'bash', ...args]
    const result = await runner.userStep(() =>
      runProcess(command, rest, {
        env,
        cwd: path.resolve(runner.workspace, step['working-directory'] ?? '.'),
        timeoutMs: 150_000
      })
    )
    const output = `${result.stdout}${result.stderr}`
    if (result.exitCode !== 0 || result.timedOut)
      throw new Error(
        `${label}: exit ${result.exitCode}${result.timedOut ? ' (timed out)' : ''}:\n${script}\n--- output:\n${output}`
      )
    const answered = modelRequests(servers, editor) - before
    if (/\bcodex\s+exec\b/.test(script) && answered === 0)
      throw new Error(`${label}: runs codex exec, but no model request reached the loopback model:\n${output}`)
    let edit = ''
    if (editor && EDITS.test(script)) {
      const landed = await fs.access(path.join(runner.workspace, 'FIXED.md')).then(
        () => true,
        () => false
      )
      const why = editor.outputs.at(-1)?.output ?? 'no command ran'
      // A model whose tools lack code mode's exec (one the workflow names in config) cannot be
      // played this way, and the report says so; any other failed edit fails the test.
      if (!landed && !why.includes('unsupported custom tool call'))
        throw new Error(`${label}: the model's edit through Codex failed: ${why}\n${output}`)
      edit = landed ? "; the model's edit landed (FIXED.md)" : `; no edit: the model cannot be played (${why})`
    }
    const gh = (await fs.readFile(ghLog, 'utf8').catch(() => '')).slice(calls.length).trim()
    log.push(
      `${label}: bash, exit 0${answered ? `, ${answered} model request(s)` : ''}${edit}${gh ? `; ${gh.split('\n').join('; ')} (stand-in)` : ''}`
    )
  }
}
