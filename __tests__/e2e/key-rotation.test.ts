/**
 * What a maintainer rotating secrets sees: live verification of rotation lists (which key
 * is used, which are named for removal) and expiry warnings for access tokens. A stand-in
 * codex on PATH keeps these fast; the real CLI is used where its own online check is the
 * point.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { fingerprint } from '../../src/secrets/mask.js'
import { FakeOpenAI, type KeyAnswer } from '../harness/fake-openai.js'
import { standInJobs } from '../harness/fake-package.js'
import { printed } from '../harness/audit.js'
import { CODEX_VERSION, sharedToolCache, TEST_PAT } from '../harness/real-cli.js'

const NEW = 'sk-proj-newKeyForTheRotation0123456789abc'
const OLD = 'sk-proj-oldKeyForTheRotation0123456789abc'
const OTHER = 'sk-proj-otherKeyForTheRotation012345678'

const job = standInJobs()
const { runners } = job
/** The fake API of the test that started one; none for the others. */
let openai: FakeOpenAI | undefined
beforeEach(() => {
  openai = undefined
})

async function api(keys: Record<string, KeyAnswer>): Promise<FakeOpenAI> {
  openai = await runners.serve(new FakeOpenAI({ apiKeys: keys }))
  return openai
}

/** The main step with the stand-in codex (`verify` against the fake API), then after a success its post step. */
async function main(inputs: Record<string, string>, env: Record<string, string> = {}) {
  const result = await job.runner.main(
    { install: 'false', ...(openai ? { 'api-base-url': `${openai.server.origin}/v1` } : {}), ...inputs },
    { ...job.codexEnv, ...env }
  )
  // A failed main step leaves nothing (asserted before any post step); a key proxy it started is the post step's to stop.
  if (result.state['key-proxy-dir']) await job.runner.post()
  return result
}

const modelChecks = () =>
  openai!.server.requests.filter((r) => r.url === '/v1/models').map((r) => r.headers.authorization)

describe('verify: true with a rotation list', () => {
  test('the first key is revoked: the second is used, and the warning says to finish the rotation', async () => {
    await api({ [NEW]: 401, [OLD]: 200 })
    // The key that lands in auth.json: key-isolation none (the proxy's choice is key-proxy.test.ts's).
    const result = await main({ 'api-key': `${NEW}\n${OLD}`, verify: 'true', 'key-isolation': 'none' })
    expect(result.errors).toEqual([])
    expect(result.outputs['credential-fingerprint']).toBe(fingerprint(OLD))
    expect(modelChecks()).toEqual([`Bearer ${NEW}`, `Bearer ${OLD}`])
    expect(result.stdout).toContain(
      `::warning::api-key ${fingerprint(OLD)} is in use; the secret also holds ${fingerprint(NEW)} (HTTP 401: the key is revoked, mistyped or was never valid). Finish the rotation: remove ${fingerprint(NEW)} from the secret.`
    )
    expect(await fs.readFile(path.join(result.outputs['codex-home'], 'auth.json'), 'utf8')).toContain(OLD)
    for (const key of [NEW, OLD]) expect(printed(result)).not.toContain(key)
    expect(result.summary).toContain('yes, live')
  })

  test('the first key is out of quota, the second accepted', async () => {
    await api({ [NEW]: 'quota', [OLD]: 200 })
    const result = await main({ 'api-key': `${NEW}\n${OLD}`, verify: 'true' })
    expect(result.errors).toEqual([])
    expect(result.outputs['credential-fingerprint']).toBe(fingerprint(OLD))
    expect(result.stdout).toMatch(/insufficient_quota: the account or project is out of quota/)
  })

  test('a rate-limited key is still a valid key: used, with a warning', async () => {
    await api({ [NEW]: 429 })
    const result = await main({ 'api-key': NEW, verify: 'true' })
    expect(result.errors).toEqual([])
    expect(result.stdout).toMatch(/::warning::api-key sha256:[0-9a-f]{16} is rate-limited right now/)
  })

  test('every key refused: one error naming each by fingerprint, and nothing left', async () => {
    await api({ [NEW]: 401, [OLD]: 403, [OTHER]: 'quota' })
    const result = await main({ 'api-key': `${NEW}\n${OLD}\n${OTHER}`, verify: 'true', 'key-isolation': 'none' })
    expect(result.exitCode).toBe(1)
    expect(result.errors).toEqual([
      `::error::No api-key was accepted: ${fingerprint(NEW)} (HTTP 401: the key is revoked, mistyped or was never valid); ${fingerprint(OLD)} (HTTP 403: the key may not be used here (wrong organisation or project, or a restricted key)); ${fingerprint(OTHER)} (HTTP 429 insufficient_quota: the account or project is out of quota; add credit or raise its limit). Put a current credential first in the api-key secret.`
    ])
    expect(await job.runner.tempFiles()).toEqual([])
    expect(result.stdout).toMatch(
      /::group::Codex login diagnostics\n(.*\n)*verify: GET http:\/\/127\.0\.0\.1:\d+\/v1\/models with api-key sha256:[0-9a-f]{16}:\n(.*\n)*Proxy variables set: /
    )
    expect(result.summary).toContain('❌ No api-key was accepted')
    for (const key of [NEW, OLD, OTHER]) expect(result.summary + printed(result)).not.toContain(key)
  })

  test('an unreachable API is its own error, pointing at the network and the CA', async () => {
    const result = await main({ 'api-key': NEW, verify: 'true', 'api-base-url': 'http://127.0.0.1:9/v1' })
    expect(result.errors).toEqual([
      expect.stringMatching(
        /^::error::Could not reach http:\/\/127\.0\.0\.1:9\/v1 to verify api-key: .*ECONNREFUSED.*HTTPS_PROXY/
      )
    ])
    expect(await job.runner.tempFiles()).toEqual([])
  }, 60_000)

  test('without verify the first key is used and nothing is checked online', async () => {
    await api({})
    const result = await main({ 'api-key': `${NEW}\n${OLD}` })
    expect(result.errors).toEqual([])
    expect(result.outputs['credential-fingerprint']).toBe(fingerprint(NEW))
    expect(modelChecks()).toEqual([])
    expect(result.summary).toContain('no (verify: false)')
  })
})

describe('access token expiry (JWTs made by the test)', () => {
  function jwt(secondsFromNow: number): string {
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
    return `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64({ exp: Math.floor(Date.now() / 1000) + secondsFromNow, sub: 'agent' })}.${Buffer.from('signature-bytes').toString('base64url')}`
  }

  test('expired: an error before any login', async () => {
    const token = jwt(-3600)
    const result = await main({ 'access-token': token })
    expect(result.errors).toEqual([
      expect.stringMatching(
        new RegExp(`^::error::The access-token expired: ${fingerprint(token)} \\(expired .+\\)\\. Mint a new token`)
      )
    ])
    expect(result.stdout).not.toContain('Logging in')
    expect(await job.runner.tempFiles()).toEqual([])
  })

  test('expiring in two days: a warning, and credential-expires-at', async () => {
    const token = jwt(2 * 86400 + 600)
    const result = await main({ 'access-token': token })
    expect(result.errors).toEqual([])
    expect(result.stdout).toMatch(/::warning::access-token sha256:[0-9a-f]{16} expires in 2 days/)
    expect(Date.parse(result.outputs['credential-expires-at'])).toBeGreaterThan(Date.now() + 2 * 86400_000)
    expect(result.summary).toContain(result.outputs['credential-expires-at'])
  })

  test('expiring in 30 days: no warning; expiry-warning-days: 60 warns', async () => {
    const token = jwt(30 * 86400)
    const quiet = await main({ 'access-token': token })
    expect(quiet.stdout).not.toContain('::warning::')
    const warned = await main({ 'access-token': token, 'expiry-warning-days': '60' })
    expect(warned.stdout).toMatch(/expires in 29 days|expires in 30 days/)
  })

  test('an expired token first in a rotation list is skipped for the next one', async () => {
    const [old, fresh] = [jwt(-60), jwt(30 * 86400)]
    const result = await main({ 'access-token': `${old}\n${fresh}` })
    expect(result.errors).toEqual([])
    expect(result.outputs['credential-fingerprint']).toBe(fingerprint(fresh))
    expect(result.stdout).toContain(`Finish the rotation: remove ${fingerprint(old)} from the secret.`)
  })
})

describe('access tokens through the real CLI', () => {
  test('verify with a rotation list: the rejected token is named, the accepted one used', async () => {
    openai = await runners.serve(new FakeOpenAI({ acceptedTokens: [TEST_PAT] }))
    const real = await runners.create({ toolCache: sharedToolCache() })
    const revoked = 'at-revokedTokenOfTheRotation0123456789'
    const result = await real.main(
      { 'access-token': `${revoked}\n${TEST_PAT}`, verify: 'true', 'codex-version': CODEX_VERSION },
      openai.authEnv()
    )
    expect(result.errors).toEqual([])
    expect(result.outputs['credential-fingerprint']).toBe(fingerprint(TEST_PAT))
    expect(result.stdout).toMatch(
      new RegExp(
        `::warning::access-token ${fingerprint(TEST_PAT)} is in use; the secret also holds ${fingerprint(revoked)} \\(.*401.*\\)\\. Finish the rotation`
      )
    )
    // The token is held by the key proxy: Codex asks the AuthAPI the action exported (the proxy's).
    const status = await real.run('codex', ['login', 'status'])
    expect(status.exitCode).toBe(0)
    for (const token of [revoked, TEST_PAT]) expect(printed(result)).not.toContain(token)
    await real.post()
  })
})
