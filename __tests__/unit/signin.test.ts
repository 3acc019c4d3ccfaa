import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { SignIn, SIGNIN_FILE } from '../../src/helpers/key-proxy/signin.js'
import type { Fetch } from '../../src/helpers/key-proxy/upstreams/upstream.js'
import { chatgptAuth, chatgptTokens } from '../harness/chatgpt-auth.js'

const URL = 'https://127.0.0.1:1/oauth/token'
const FROM = {
  originator: 'codex_exec',
  'user-agent': 'codex_exec/0.171.0 (Debian 12.0.0; x86_64) unknown (codex_exec; 0.171.0)'
}
let dir: string

beforeEach(() => (dir = mkdtempSync(path.join(os.tmpdir(), 'signin-'))))
afterEach(() => rmSync(dir, { recursive: true, force: true }))

/** A token endpoint that answers after `delayMs`, recording each request. */
function endpoint(answer: (body: Record<string, string>) => { status: number; text: string }, delayMs = 50) {
  const calls: { headers: Record<string, string>; body: Record<string, string> }[] = []
  const post: Fetch = async (_url, method, headers, body) => {
    expect(method).toBe('POST')
    const parsed = JSON.parse(body ?? '') as Record<string, string>
    calls.push({ headers, body: parsed })
    await new Promise((resolve) => setTimeout(resolve, delayMs))
    return answer(parsed)
  }
  return { calls, post }
}

const fresh = chatgptTokens()
const accept = () => ({ status: 200, text: JSON.stringify(fresh) })

test('ten requests that meet a 401 at once make one refresh; all retry with the new token, kept 0600 in auth.json', async () => {
  const seed = chatgptAuth({ pretty: true })
  const { calls, post } = endpoint(accept)
  const signin = new SignIn(seed.text, URL, post, dir)
  const results = await Promise.all(Array.from({ length: 10 }, () => signin.recover(seed.tokens.access_token, FROM)))
  expect(results).toEqual(Array(10).fill(true))
  expect(calls).toHaveLength(1)
  expect(calls[0].body).toEqual({
    client_id: 'app_EMoamEEZ73f0CkXaXp7hrann',
    grant_type: 'refresh_token',
    refresh_reason: 'unauthorized_recovery',
    refresh_token: seed.tokens.refresh_token
  })
  // Codex's own token request carries no backend-client suffix on its user agent.
  expect(calls[0].headers).toEqual({
    'content-type': 'application/json',
    originator: 'codex_exec',
    'user-agent': 'codex_exec/0.171.0 (Debian 12.0.0; x86_64) unknown',
    accept: '*/*'
  })
  expect(await signin.accessToken(FROM)).toBe(fresh.access_token)
  const file = path.join(dir, SIGNIN_FILE)
  expect(statSync(file).mode & 0o777).toBe(0o600)
  const kept = JSON.parse(readFileSync(file, 'utf8')) as { tokens: Record<string, string>; last_refresh: string }
  expect(kept.tokens).toMatchObject({ ...fresh, account_id: seed.tokens.account_id })
  expect(Date.now() - Date.parse(kept.last_refresh)).toBeLessThan(5000)
  // A 401 to the token in use now is a new refresh; one to the old token is not.
  expect(await signin.recover(seed.tokens.access_token, FROM)).toBe(true)
  expect(calls).toHaveLength(1)
})

test('an access token within five minutes of its exp is refreshed before it is sent (proactive_expiry); a later one is not', async () => {
  const { calls, post } = endpoint(accept)
  const soon = new SignIn(chatgptAuth({ expiresIn: 240 }).text, URL, post, dir)
  expect(await soon.accessToken(FROM)).toBe(fresh.access_token)
  expect(calls.map((c) => c.body.refresh_reason)).toEqual(['proactive_expiry'])
  const later = chatgptAuth({ expiresIn: 600 })
  expect(await new SignIn(later.text, URL, post, dir).accessToken(FROM)).toBe(later.tokens.access_token)
  expect(calls).toHaveLength(1)
})

test('a refused refresh token is tried once, and says what to do; a 5xx is tried again at the next need', async () => {
  const seed = chatgptAuth({ expiresIn: -60 })
  const refused = endpoint(() => ({ status: 401, text: JSON.stringify({ error: { code: 'refresh_token_reused' } }) }))
  const signin = new SignIn(seed.text, URL, refused.post, dir)
  expect(await signin.recover(seed.tokens.access_token, FROM)).toBe(false)
  expect(await signin.recover(seed.tokens.access_token, FROM)).toBe(false)
  expect(await signin.accessToken(FROM)).toBe(seed.tokens.access_token)
  expect(refused.calls).toHaveLength(1)
  expect(signin.refused).toMatch(
    /^The key proxy could not refresh the ChatGPT sign-in: the token endpoint refused its refresh token \(refresh_token_reused: another job/
  )
  let status = 503
  const flaky = endpoint(() => (status === 503 ? { status, text: '' } : accept()))
  const again = new SignIn(seed.text, URL, flaky.post, dir)
  expect(await again.recover(seed.tokens.access_token, FROM)).toBe(false)
  expect(again.refused).toBeUndefined()
  status = 200
  expect(await again.recover(seed.tokens.access_token, FROM)).toBe(true)
  expect(flaky.calls).toHaveLength(2)
})

test('an access-only copy (no refresh token) is never refreshed', async () => {
  const seed = chatgptAuth({ expiresIn: -60 })
  const copy = JSON.parse(seed.text) as { tokens: Record<string, string> }
  copy.tokens.refresh_token = ''
  const { calls, post } = endpoint(accept)
  const signin = new SignIn(JSON.stringify(copy), URL, post, dir)
  expect(await signin.recover(seed.tokens.access_token, FROM)).toBe(false)
  expect(calls).toHaveLength(0)
  expect(signin.refused).toMatch(/access-only copy/)
})
