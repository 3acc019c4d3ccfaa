/**
 * The key proxy's hold of a GitHub OIDC workload identity (upstreams/workload-identity.ts):
 * when it exchanges again, and that it never runs two exchanges at once. The runner's OIDC
 * endpoint and the token endpoint are loopback servers, reached through the Fetch the proxy
 * gives its upstreams; the clock is moved forward (Date.now) rather than waited for.
 */
import { jest } from '@jest/globals'
import type { WorkloadIdentityConfig } from '../../src/helpers/key-proxy/protocol.js'
import type { Fetch, Upstream } from '../../src/helpers/key-proxy/upstreams/upstream.js'
import { REFRESH_PATH, workloadIdentityUpstream } from '../../src/helpers/key-proxy/upstreams/workload-identity.js'
import { exchangeRequest } from '../../src/net/workload-exchange.js'
import { FakeOidc } from '../harness/fake-oidc.js'
import { LoopbackServer, sendJson } from '../harness/servers.js'

const RULE = 'fr_unitRenewal'
const AUDIENCE = 'https://api.openai.com/v1'
const ACCOUNT = 'account-renewal'
const USER = 'user-renewal'
const CAPABILITY = 'capability0123456789'
const SIGN_IN = {
  idToken: 'placeholder.id.token',
  accessToken: 'placeholder-access',
  refreshToken: 'rt_placeholder01234'
}
/** Codex's headers on a backend request, with its placeholder bearer. */
const CODEX: Record<string, string> = { authorization: `Bearer ${SIGN_IN.accessToken}`, 'chatgpt-account-id': ACCOUNT }
const FIRST = 'exchanged-token-0'

let oidc: FakeOidc
let endpoint: LoopbackServer
/** The token endpoint's state: how it answers, and how many exchanges it has under way at once. */
const tokens = { issued: 0, lifetimeS: 600, delayMs: 100, inFlight: 0, maxInFlight: 0, status: 200, account: ACCOUNT }
/** How far the clock has been moved forward. */
let skew = 0
const realNow = Date.now.bind(Date)

beforeAll(async () => {
  oidc = await new FakeOidc(300).start()
  endpoint = await new LoopbackServer(async (_req, res, body) => {
    tokens.inFlight++
    tokens.maxInFlight = Math.max(tokens.maxInFlight, tokens.inFlight)
    await new Promise((resolve) => setTimeout(resolve, tokens.delayMs))
    tokens.inFlight--
    const assertion = new URLSearchParams(body).get('assertion') ?? ''
    if (tokens.status !== 200 || !oidc.issued.includes(assertion))
      return sendJson(res, tokens.status === 200 ? 400 : tokens.status, { error: 'invalid_grant' })
    sendJson(res, 200, {
      access_token: `exchanged-token-${++tokens.issued}`,
      token_type: 'Bearer',
      expires_in: tokens.lifetimeS,
      chatgpt_account_id: tokens.account,
      chatgpt_plan_type: 'enterprise',
      user_id: USER
    })
  }).start()
})
afterAll(async () => {
  await oidc.stop()
  await endpoint.stop()
})
beforeEach(() => {
  Object.assign(tokens, {
    issued: 0,
    lifetimeS: 600,
    delayMs: 100,
    inFlight: 0,
    maxInFlight: 0,
    status: 200,
    account: ACCOUNT
  })
  oidc.issued.length = 0
  oidc.failNext = 0
  endpoint.requests.length = 0
  oidc.server.requests.length = 0
  skew = 0
  jest.spyOn(Date, 'now').mockImplementation(() => realNow() + skew)
})
afterEach(() => jest.restoreAllMocks())

/** The proxy's client for its own requests: whole answers. */
const fetchWhole: Fetch = async (url, method, headers, body) => {
  const answer = await fetch(url, { method, headers, body })
  return { status: answer.status, text: await answer.text() }
}

/** The proxy's upstream as main configures it: the first exchange made `ageS` ago, living `lifetimeS`. */
function held(ageS = 0, lifetimeS = 600): Upstream {
  const obtainedAt = Date.now() - ageS * 1000
  const config: WorkloadIdentityConfig = {
    request: { ...oidcRequest(), audience: AUDIENCE },
    ruleId: RULE,
    context: 'ctx-renewal',
    tokenUrl: `${endpoint.origin}/oauth/token`,
    backend: 'https://chatgpt.com/backend-api/',
    signIn: SIGN_IN,
    first: { accessToken: FIRST, accountId: ACCOUNT, userId: USER, expiresAt: obtainedAt + lifetimeS * 1000 },
    obtainedAt
  }
  return workloadIdentityUpstream(config, CAPABILITY, fetchWhole)
}

function oidcRequest() {
  const env = oidc.env()
  return { url: env.ACTIONS_ID_TOKEN_REQUEST_URL, token: env.ACTIONS_ID_TOKEN_REQUEST_TOKEN }
}

/** The headers the proxy sends upstream for one of Codex's backend requests. */
const sent = (upstream: Upstream) => upstream.authorize({ method: 'GET', url: '', headers: { ...CODEX } }, CODEX)

/** The bearer the proxy puts on one of Codex's backend requests. */
async function bearer(upstream: Upstream): Promise<string> {
  return String((await sent(upstream)).authorization).replace(/^Bearer /, '')
}

/** Codex's refresh of its placeholder sign-in, as it sends it after a 401 (CODEX_REFRESH_TOKEN_URL_OVERRIDE). */
function codexRefresh(upstream: Upstream, refreshToken = SIGN_IN.refreshToken) {
  const body = JSON.stringify({
    client_id: 'app_EMoamEEZ73f0CkXaXp7hrann',
    grant_type: 'refresh_token',
    refresh_token: refreshToken
  })
  return upstream.answer?.('POST', REFRESH_PATH, {}, async () => Buffer.from(body))
}

const exchanges = () => endpoint.requests.filter((r) => r.method === 'POST' && r.url === '/oauth/token')

test('no exchange before the last 2 minutes of the held token; one in them, before it ends, with a new OIDC token; the new token is renewed on its own schedule', async () => {
  const upstream = held()
  skew = 479_000
  expect(await bearer(upstream)).toBe(FIRST)
  expect(exchanges()).toHaveLength(0)
  expect(oidc.server.requests).toHaveLength(0)
  // Due, and the held token still has a minute and more to live: renewed now, not at its end.
  skew = 481_000
  expect(await bearer(upstream)).toBe('exchanged-token-1')
  expect(exchanges()).toHaveLength(1)
  expect(oidc.issued).toHaveLength(1)
  // The request Codex makes, with the OIDC token the proxy fetched for it (the runner's request token stays in the proxy).
  const first = exchanges()[0]
  expect(first.body).toBe(exchangeRequest(RULE, oidc.issued[0], 'ctx-renewal').body)
  expect(first.headers['content-type']).toBe('application/x-www-form-urlencoded')
  expect(oidc.server.requests[0].url).toBe(`/oidc/token?api-version=2.0&audience=${encodeURIComponent(AUDIENCE)}`)
  // The renewed token (600 s from 481 s) is due at 961 s, not before.
  skew = 960_000
  expect(await bearer(upstream)).toBe('exchanged-token-1')
  expect(exchanges()).toHaveLength(1)
  skew = 962_000
  expect(await bearer(upstream)).toBe('exchanged-token-2')
  expect(exchanges()).toHaveLength(2)
  // Each exchange used an OIDC token of its own (they are single-use).
  const assertions = exchanges().map((r) => new URLSearchParams(r.body).get('assertion'))
  expect(assertions).toEqual(oidc.issued)
  expect(new Set(assertions).size).toBe(2)
})

test.each([
  ['due (in its last 2 minutes)', 500_000],
  ['past its end', 700_000]
])('twenty requests that meet a held token %s make one exchange, and all carry its result', async (_when, at) => {
  const upstream = held()
  tokens.delayMs = 300
  skew = at
  const bearers = await Promise.all(Array.from({ length: 20 }, () => bearer(upstream)))
  expect(bearers).toEqual(Array(20).fill('exchanged-token-1'))
  expect(exchanges()).toHaveLength(1)
  expect(oidc.issued).toHaveLength(1)
  expect(tokens.maxInFlight).toBe(1)
  // And the next request, after it: none again.
  expect(await bearer(upstream)).toBe('exchanged-token-1')
  expect(exchanges()).toHaveLength(1)
})

test("Codex's refresh after a 401 to the held token makes the next request exchange again, long before it is due; a refresh without that 401, or without the placeholder's refresh token, does not", async () => {
  const upstream = held()
  expect(await bearer(upstream)).toBe(FIRST)
  // Any process may post to the refresh path: without Codex's refresh token it is refused, and nothing is exchanged.
  expect(await codexRefresh(upstream, 'rt_placeholder0123X')).toEqual({
    status: 401,
    body: { error: { code: 'refresh_token_invalidated' } }
  })
  expect(await codexRefresh(upstream, 'rt_')).toMatchObject({ status: 401 })
  // Codex's refresh is answered with its placeholder sign-in again (never a real token); with no
  // 401 to the held token (Codex refreshing on its own), the token stays.
  expect(await codexRefresh(upstream)).toEqual({
    status: 200,
    body: { id_token: SIGN_IN.idToken, access_token: SIGN_IN.accessToken, refresh_token: SIGN_IN.refreshToken }
  })
  expect(await bearer(upstream)).toBe(FIRST)
  expect(exchanges()).toHaveLength(0)
  // The backend refuses the held token; Codex, answered 401, refreshes...
  upstream.refused?.(await sent(upstream))
  expect(await codexRefresh(upstream, 'rt_placeholder0123X')).toMatchObject({ status: 401 })
  expect(await codexRefresh(upstream)).toMatchObject({ status: 200 })
  expect(exchanges()).toHaveLength(0)
  // ...and the request it sends again carries a new exchange's token.
  expect(await bearer(upstream)).toBe('exchanged-token-1')
  expect(exchanges()).toHaveLength(1)
  expect(await bearer(upstream)).toBe('exchanged-token-1')
  expect(exchanges()).toHaveLength(1)
})

test('ten requests refused (401) together, their answers, refreshes and requests again spread over the exchange and after it, make one exchange, never two at once', async () => {
  const upstream = held()
  tokens.delayMs = 300
  // All ten went out with the first token; the backend answers them 401 one every 60 ms, so the
  // last ones come back after the proxy holds the new token.
  const outgoing = await Promise.all(Array.from({ length: 10 }, () => sent(upstream)))
  const again = await Promise.all(
    outgoing.map(async (headers, i) => {
      await new Promise((resolve) => setTimeout(resolve, i * 60))
      upstream.refused?.(headers)
      expect(await codexRefresh(upstream)).toMatchObject({ status: 200 })
      return bearer(upstream)
    })
  )
  expect(again).toEqual(Array(10).fill('exchanged-token-1'))
  expect(exchanges()).toHaveLength(1)
  expect(tokens.maxInFlight).toBe(1)
  // A 401 to the new token is a new refusal: the next refresh exchanges again.
  upstream.refused?.(await sent(upstream))
  await codexRefresh(upstream)
  expect(await bearer(upstream)).toBe('exchanged-token-2')
  expect(exchanges()).toHaveLength(2)
})

test('a renewal that fails while the held token lives: the held token serves, and the next try waits 30 s', async () => {
  const upstream = held()
  tokens.status = 503
  skew = 500_000
  const first = await Promise.all(Array.from({ length: 5 }, () => bearer(upstream)))
  expect(first).toEqual(Array(5).fill(FIRST))
  expect(exchanges()).toHaveLength(1)
  skew = 520_000
  expect(await bearer(upstream)).toBe(FIRST)
  expect(exchanges()).toHaveLength(1)
  skew = 531_000
  expect(await bearer(upstream)).toBe(FIRST)
  expect(exchanges()).toHaveLength(2)
  expect(tokens.maxInFlight).toBe(1)
  tokens.status = 200
  skew = 562_000
  expect(await bearer(upstream)).toBe('exchanged-token-1')
})

test('a renewal that names another account than the first exchange is not taken: the held token serves while it lives', async () => {
  const upstream = held()
  tokens.account = 'account-other'
  skew = 500_000
  expect(await bearer(upstream)).toBe(FIRST)
  expect(exchanges()).toHaveLength(1)
  skew = 700_000
  await expect(bearer(upstream)).rejects.toThrow('the token endpoint named another account than the first exchange')
})

test("after a renewal failed past the held token's end, no request goes out with the ended token: each is told why until the next try, 30 s on", async () => {
  const upstream = held()
  tokens.status = 503
  skew = 700_000
  const ended = await Promise.allSettled(Array.from({ length: 5 }, () => bearer(upstream)))
  expect(ended.map((r) => r.status)).toEqual(Array(5).fill('rejected'))
  expect(String((ended[0] as PromiseRejectedResult).reason)).toContain('the token endpoint answered HTTP 503')
  expect(exchanges()).toHaveLength(1)
  // Within the 30 s: refused again from the same try, not sent with the ended token, not tried again.
  tokens.status = 200
  skew = 720_000
  await expect(bearer(upstream)).rejects.toThrow('the token endpoint answered HTTP 503')
  expect(exchanges()).toHaveLength(1)
  skew = 731_000
  expect(await bearer(upstream)).toBe('exchanged-token-1')
  expect(exchanges()).toHaveLength(2)
  expect(tokens.maxInFlight).toBe(1)
})
