/**
 * Canary secrets through every path: success and failure, each auth mode, with and
 * without export-env, with debug logging. The harness audits each scenario when its runner
 * is disposed (see harness/audit.js): a canary or a derived form anywhere but the allowed
 * places fails the test, and so does a half state.
 */
import { FakeOpenAI } from '../harness/fake-openai.js'
import { rejectingCodexScript, standInCodex } from '../harness/fake-package.js'
import { useRunners } from '../harness/lifecycle.js'
import type { Runner } from '../harness/runner.js'

const unique = () => Math.random().toString(36).slice(2, 12)
const canaryKey = () => `sk-canary-${unique()}${unique()}`
const canaryToken = () => `at-canary${unique()}${unique()}`

const runners = useRunners()
const servers = useRunners({ scope: 'all' })
let runner: Runner
let codexEnv: Record<string, string>
let openai: FakeOpenAI

beforeAll(async () => {
  openai = await servers.serve(new FakeOpenAI())
})

beforeEach(async () => {
  runner = await runners.create()
  codexEnv = (await standInCodex(runner.root)).env
})

const debug = { ACTIONS_STEP_DEBUG: 'true', RUNNER_DEBUG: '1' }

/** Main then post, with the stand-in codex; the audit runs at dispose. */
async function job(inputs: Record<string, string>, env: Record<string, string> = {}) {
  const main = await runner.main({ install: 'false', ...inputs }, { ...codexEnv, ...env })
  const post = await runner.post()
  expect(post.exitCode).toBe(0)
  expect(await runner.tempFiles()).toEqual([])
  return main
}

describe('success paths', () => {
  test.each([
    ['api-key', false, false],
    ['api-key', true, false],
    ['api-key', false, true],
    ['api-key', true, true],
    ['access-token', false, false],
    ['access-token', true, true]
  ] as const)('%s, export-env %s, debug %s', async (mode, exportEnv, withDebug) => {
    const secret = mode === 'api-key' ? canaryKey() : canaryToken()
    // An access token the key proxy holds is checked at AuthAPI's whoami first: a loopback one that accepts it.
    const authapi =
      mode === 'access-token' && !exportEnv
        ? (await runners.serve(new FakeOpenAI({ acceptedTokens: [secret] }))).authEnv()
        : {}
    const main = await job(
      { [mode]: secret, 'export-env': String(exportEnv) },
      { ...authapi, ...(withDebug ? debug : {}) }
    )
    expect(main.errors).toEqual([])
    expect(Object.values(main.exported).includes(secret)).toBe(exportEnv)
  })

  test('a rotation list verified against the API, with a registry token and debug on', async () => {
    const [fresh, old] = [canaryKey(), canaryKey()]
    const api = await runners.serve(new FakeOpenAI({ apiKeys: { [fresh]: 401, [old]: 200 } }))
    const main = await job(
      {
        'api-key': `${fresh}\n${old}`,
        verify: 'true',
        'api-base-url': `${api.server.origin}/v1`,
        'registry-token': `npm_${unique()}${unique()}`
      },
      debug
    )
    expect(main.errors).toEqual([])
  })
})

describe('failure paths with canaries that break naive handling', () => {
  const odd = [
    ['a percent sign', `sk-canary-%${unique()}%25%0A`],
    ['colons', `sk-canary:${unique()}::value`],
    ['a workflow command', `::set-output name=x::${unique()}`],
    ['quotes', `sk-canary-"${unique()}'`],
    ['a dollar and backslashes', `sk-canary-$HOME\\${unique()}\\n`],
    ['a trailing newline', `sk-canary-${unique()}!\n`],
    ['a 10 KB value', `sk-canary-${unique()}-${'x'.repeat(10_240)}`],
    ['a multi-line value', `sk-canary-${unique()}${unique()}\n\nsk-canary-${unique()}${unique()}`]
  ]

  /** Why each is refused: an empty line in a list, or not the shape of the credential. */
  const refusal = (input: string, secret: string) =>
    `::error::${input} ${secret.includes('\n\n') ? 'line 2 is empty' : 'does not look like'}`

  test.each(odd)('api-key with %s', async (_name, secret) => {
    const main = await job({ 'api-key': secret }, debug)
    expect(main.exitCode).toBe(1)
    expect(main.errors).toHaveLength(1)
    expect(main.errors).toEqual([expect.stringContaining(refusal('api-key', secret))])
  })

  test.each(odd)('access-token with %s', async (_name, secret) => {
    const main = await job({ 'access-token': secret.replace(/^sk-/, 'at-') })
    expect(main.exitCode).toBe(1)
    expect(main.errors).toHaveLength(1)
    expect(main.errors).toEqual([expect.stringContaining(refusal('access-token', secret))])
  })

  test('registry-token with white space, next to a valid key', async () => {
    const main = await job({ 'api-key': canaryKey(), 'registry-token': `tok ${unique()}${unique()}` })
    expect(main.errors).toEqual([expect.stringMatching(/registry-token contains white space/)])
  })

  test('a login the CLI rejects, which prints the key back', async () => {
    codexEnv = (await standInCodex(runner.root, rejectingCodexScript())).env
    const main = await job({ 'api-key': canaryKey(), 'key-isolation': 'none' }, debug)
    expect(main.errors).toEqual([expect.stringMatching(/codex login rejected the api-key/)])
  })

  test('verify with every key refused', async () => {
    const main = await job({
      'api-key': `${canaryKey()}\n${canaryKey()}`,
      verify: 'true',
      'api-base-url': `${openai.server.origin}/v1`
    })
    expect(main.errors).toEqual([expect.stringMatching(/No api-key was accepted/)])
  })
})
