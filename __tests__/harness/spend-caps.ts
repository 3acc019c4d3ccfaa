/**
 * The spend caps of a source the key proxy serves on the ChatGPT backend (an access token, a
 * ChatGPT sign-in, GitHub OIDC), checked with the real CLI over either transport: one job
 * with allowed-models and max-requests, one with max-tokens, each ended by the proxy's
 * refusal as docs/spend-control.md writes it, counted in the usage file and the post step's
 * log and summary. The backend's model is a LoopingModel: Codex asks until it is refused.
 */
import { promises as fs } from 'node:fs'
import type { UsageReport } from '../../src/helpers/key-proxy/usage.js'
import { type ChatgptTokenBackend, LOOP_USAGE, LoopingModel } from './chatgpt-token-backend.js'
import { modelRequests } from './request-views.js'
import type { Runner, StepResult } from './runner.js'

const STOP = "codex-auth-action's key proxy refuses every further model request in this job."
const ALLOWED = 'gpt-caps-allowed'

/** A job of the source: its main step run with `caps` (inputs) added to the source's own. */
export type StartJob = (caps: Record<string, string>) => Promise<{ runner: Runner; main: StepResult }>

/** The usage file once `settled` (the proxy writes it within 100 ms of a change). */
async function usageAfter(file: string, settled: (report: UsageReport) => boolean): Promise<UsageReport> {
  let report = JSON.parse(await fs.readFile(file, 'utf8')) as UsageReport
  for (let i = 0; i < 40 && !settled(report); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    report = JSON.parse(await fs.readFile(file, 'utf8')) as UsageReport
  }
  return report
}

/**
 * Runs both jobs against `backend` (its model a LoopingModel); `env`: what the codex commands
 * need besides the job's own (a forwarding proxy).
 */
export async function expectSpendCaps(
  backend: ChatgptTokenBackend,
  websocket: boolean,
  start: StartJob,
  env: Record<string, string> = {}
): Promise<void> {
  expect(backend.options.model).toBeInstanceOf(LoopingModel)
  const codex = (runner: Runner, model: string) =>
    runner.run('codex', ['exec', '--skip-git-repo-check', '--ephemeral', '-c', `model="${model}"`, 'say hi'], {
      env,
      timeoutMs: 90_000
    })
  const n = (count: number) => count.toLocaleString('en-US')
  /** What `requests` answers of the model reported, under the usage file's names. */
  const used = (requests: number) => ({
    requests,
    input_tokens: LOOP_USAGE.input_tokens * requests,
    output_tokens: LOOP_USAGE.output_tokens * requests,
    total_tokens: LOOP_USAGE.total_tokens * requests
  })
  /** The post step's report of a job stopped by a cap after 3 requests; `caps` as it names them. */
  const expectReported = async (runner: Runner, caps: string, refused: number) => {
    const post = await runner.post()
    expect(post.errors).toEqual([])
    const t = used(3)
    expect(post.stdout).toContain(
      `Token usage in this job, as the upstream reported it: 3 requests, ${n(t.input_tokens)} input tokens (0 cached), ${n(t.output_tokens)} output (0 reasoning), ${n(t.total_tokens)} total.`
    )
    expect(post.stdout).toContain(`::warning::Caps: ${caps}; ${refused} requests refused by them, never sent.`)
    expect(post.summary).toContain(
      `<tr><td>${ALLOWED}</td><td>3</td><td>${n(t.input_tokens)}</td><td>0</td><td>${n(t.output_tokens)}</td><td>0</td><td>${n(t.total_tokens)}</td></tr>`
    )
    expect(post.summary).toContain(`Caps: ${caps}; ${refused} requests refused by them, never sent.`)
  }
  // Over the websocket a command refused from its start is refused twice: Codex's warm-up, then its turn.
  const refusedAtStart = websocket ? 2 : 1

  // Job 1: a model outside allowed-models never goes out; an allowed one loops until max-requests.
  const first = await start({ 'allowed-models': ALLOWED, 'max-requests': '3' })
  expect(first.main.errors).toEqual([])
  expect(first.main.summary).toMatch(
    /Spend caps<\/th><td>max-requests 3; allowed-models gpt-caps-allowed \(enforced by the key proxy\)/
  )
  const other = await codex(first.runner, 'gpt-caps-other')
  expect(other.exitCode).not.toBe(0)
  expect(other.stderr).toContain(
    `ERROR: Model "gpt-caps-other", and allowed-models is ${ALLOWED}: codex-auth-action's key proxy did not send it.`
  )
  expect(modelRequests(backend.requests)).toEqual([])
  const looped = await codex(first.runner, ALLOWED)
  expect(looped.timedOut).toBe(false)
  expect(looped.exitCode).not.toBe(0)
  expect(looped.stderr).toContain(`ERROR: max-requests 3 reached: 3 model requests sent in this job; ${STOP}`)
  // Over the websocket the first of them is Codex's warm-up (generate: false).
  const sent = modelRequests(backend.requests)
  expect(sent).toHaveLength(3)
  for (const request of sent) {
    expect(JSON.parse(request.body)).toMatchObject({ model: ALLOWED })
    // Over HTTP Codex sent each zstd-compressed, as natively; over the websocket each is a message.
    if (websocket) expect(request.websocket).toBe(true)
    else expect(request.headers['content-encoding']).toBe('zstd')
  }
  const firstFile = first.main.outputs['usage-file']
  // The proxy writes the file within 100 ms of a change: the last refusal may come a tick after Codex's end.
  const settled = (refused: number) => (r: UsageReport) =>
    r.total_tokens === used(3).total_tokens && r.refused_requests === refused
  expect(await usageAfter(firstFile, settled(refusedAtStart + 1))).toMatchObject({
    ...used(3),
    refused_requests: refusedAtStart + 1,
    unreported_requests: 0,
    by_model: { [ALLOWED]: expect.objectContaining(used(3)) },
    limits: { max_requests: 3, allowed_models: [ALLOWED] }
  })
  await expectReported(first.runner, `max-requests 3; allowed-models ${ALLOWED}`, refusedAtStart + 1)

  // Job 2: once the tokens counted from the answers pass max-tokens (10 a request, 25), the next request is refused.
  const from = backend.requests.length
  const second = await start({ 'max-tokens': '25' })
  expect(second.main.errors).toEqual([])
  expect(second.main.summary).toMatch(/Spend caps<\/th><td>max-tokens 25 \(enforced by the key proxy\)/)
  const capped = await codex(second.runner, ALLOWED)
  expect(capped.timedOut).toBe(false)
  expect(capped.exitCode).not.toBe(0)
  expect(capped.stderr).toContain(`ERROR: max-tokens 25 reached: 30 tokens used in this job; ${STOP}`)
  // 20 tokens after two answers, 30 after the third: no fourth request reached the backend.
  expect(modelRequests(backend.since(from))).toHaveLength(3)
  expect(await usageAfter(second.main.outputs['usage-file'], settled(1))).toMatchObject({
    ...used(3),
    refused_requests: 1,
    unreported_requests: 0,
    limits: { max_tokens: 25 }
  })
  await expectReported(second.runner, 'max-tokens 25', 1)
}
