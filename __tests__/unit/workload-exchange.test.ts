/** The workload identity exchange as Codex 0.171.0 makes it (see src/net/workload-exchange.ts). */
import { exchangeRequest, parseExchange, renewAt, tokenUrlFor } from '../../src/net/workload-exchange.js'

const answer = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({
    access_token: 'eyJ.a.b',
    token_type: 'Bearer',
    expires_in: 600,
    chatgpt_account_id: 'acct',
    user_id: 'user',
    chatgpt_plan_type: 'enterprise',
    ...fields
  })

test('the endpoint follows the ChatGPT backend as Codex chooses it; others are refused', () => {
  expect(tokenUrlFor('https://chatgpt.com/backend-api/')).toBe('https://auth.openai.com/oauth/token')
  expect(tokenUrlFor('https://chat.openai.com/backend-api/codex')).toBe('https://auth.openai.com/oauth/token')
  expect(tokenUrlFor('https://chatgpt-staging.com/backend-api/')).toBe('https://auth.api.openai.org/oauth/token')
  expect(tokenUrlFor('https://127.0.0.1:8443/backend-api/')).toBeUndefined()
  expect(tokenUrlFor('http://chatgpt.com/backend-api/')).toBeUndefined()
  expect(tokenUrlFor('https://chatgpt.com/other/')).toBeUndefined()
})

test('the request is the form Codex posts: grant, assertion, rule, and the context only when set', () => {
  const plain = exchangeRequest('fr_1', 'a.b.c')
  expect(plain.headers).toEqual({ 'content-type': 'application/x-www-form-urlencoded', accept: '*/*' })
  expect(plain.body).toBe(
    'grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=a.b.c&federation_rule_id=fr_1'
  )
  expect(new URLSearchParams(exchangeRequest('fr_1', 'a.b.c', 'ctx').body).get('workload_identity_context')).toBe('ctx')
})

test('an answer is taken as Codex takes it, and a refusal names no text of the answer but a safe error code', () => {
  expect(parseExchange(200, answer(), 1000)).toEqual({
    accessToken: 'eyJ.a.b',
    accountId: 'acct',
    userId: 'user',
    planType: 'enterprise',
    expiresAt: 601_000
  })
  expect(parseExchange(400, '{"error":"invalid_grant"}')).toBe('HTTP 400 (invalid_grant)')
  expect(parseExchange(401, '{"error":{"code":"bad token eyJ.secret"}}')).toBe('HTTP 401')
  expect(parseExchange(200, 'not json')).toBe('an answer that is not JSON')
  expect(parseExchange(200, 'null')).toBe('an answer without an access token')
  expect(parseExchange(200, answer({ token_type: 'mac' }))).toBe('an answer whose token is not a bearer token')
  expect(parseExchange(200, answer({ expires_in: 0 }))).toBe('an answer without a usable lifetime')
  expect(parseExchange(200, answer({ expires_in: 3601 }))).toBe('an answer without a usable lifetime')
  expect(parseExchange(200, answer({ chatgpt_account_id: '' }))).toBe('an answer that names no ChatGPT account')
  expect(parseExchange(200, answer({ user_id: 7 }))).toBe('an answer that names no user')
})

test('renewal is due before the last 2 minutes of a token, or its last half when it is short', () => {
  const token = { accessToken: 'x', accountId: 'a', userId: 'u', expiresAt: 600_000 }
  expect(renewAt(token, 0)).toBe(480_000)
  expect(renewAt({ ...token, expiresAt: 6_000 }, 0)).toBe(3_000)
})
