/** The access-only copy of a ChatGPT sign-in: its form, how it is recognised, and the roles around it. */
import { accessOnlyCopy, ACCESS_ONLY_KEY, parseChatgptAuth } from '../../src/inputs/auth-json.js'
import { parseChatgptRoles, type PersistInputs } from '../../src/inputs/persist.js'
import { userErrorMessage as message } from '../harness/user-error.js'
import { chatgptAuth } from '../harness/chatgpt-auth.js'

const persist: PersistInputs = { secret: 'CODEX_AUTH_JSON', token: 'github_pat_x' }

test('the copy is the full file without its refresh token, marked, and parses as access-only', () => {
  const full = chatgptAuth({ pretty: true })
  const copy = accessOnlyCopy(full.text, { workflow: 'Refresh', fullSecret: 'CODEX_AUTH_JSON' })
  expect(copy).not.toContain(full.tokens.refresh_token)
  const json = JSON.parse(copy) as Record<string, unknown> & { tokens: object }
  expect(json.tokens).toEqual({ ...full.tokens, refresh_token: '' })
  expect(json[ACCESS_ONLY_KEY]).toEqual({ access_only: true, workflow: 'Refresh', full_secret: 'CODEX_AUTH_JSON' })
  const parsed = parseChatgptAuth(copy, 'auth-json')
  expect(parsed.accessOnly).toEqual({ workflow: 'Refresh', fullSecret: 'CODEX_AUTH_JSON' })
  expect(parsed.tokens.access_token).toBe(full.tokens.access_token)
  expect(parseChatgptAuth(full.text, 'auth-json').accessOnly).toBeUndefined()
})

test('an empty refresh token needs the mark, the mark an empty refresh token', () => {
  const full = JSON.parse(chatgptAuth().text) as { tokens: Record<string, string> }
  expect(
    message(() =>
      parseChatgptAuth(JSON.stringify({ ...full, tokens: { ...full.tokens, refresh_token: '' } }), 'auth-json')
    )
  ).toMatch(/has no tokens\.refresh_token/)
  expect(
    message(() => parseChatgptAuth(JSON.stringify({ ...full, [ACCESS_ONLY_KEY]: { access_only: true } }), 'auth-json'))
  ).toMatch(/marked as an access-only copy .* but holds a refresh token/)
  expect(message(() => parseChatgptAuth(JSON.stringify({ ...full, [ACCESS_ONLY_KEY]: 'yes' }), 'auth-json'))).toMatch(
    /not the action's mark/
  )
})

test('names in the mark that are not plain names are dropped', () => {
  const copy = JSON.parse(accessOnlyCopy(chatgptAuth().text, {})) as Record<string, Record<string, unknown>>
  copy[ACCESS_ONLY_KEY].workflow = '::error::forged\nline'
  expect(parseChatgptAuth(JSON.stringify(copy), 'auth-json').accessOnly).toEqual({})
})

test('a shared copy takes no persistence, refresh, shared-secret or codex-home', () => {
  const copy = parseChatgptAuth(accessOnlyCopy(chatgptAuth().text, {}), 'auth-json')
  expect(parseChatgptRoles(copy, undefined, false, '', undefined)).toEqual({ refresh: false })
  const refused = message(() => parseChatgptRoles(copy, persist, true, 'X', '/srv/codex'))
  expect(refused).toMatch(/access-only copy .* persist-secret, refresh: true, shared-secret, codex-home cannot be used/)
})

test('the refresher: shared-secret needs persist-secret and another name; refresh needs somewhere to keep the file', () => {
  const full = parseChatgptAuth(chatgptAuth().text, 'auth-json')
  expect(parseChatgptRoles(full, persist, true, 'CODEX_AUTH_JSON_SHARED', undefined)).toEqual({
    persist: { ...persist, shared: 'CODEX_AUTH_JSON_SHARED' },
    refresh: true
  })
  expect(parseChatgptRoles(full, undefined, true, '', '/srv/codex')).toEqual({ refresh: true })
  expect(message(() => parseChatgptRoles(full, undefined, false, 'SHARED', undefined))).toMatch(
    /shared-secret needs persist-secret/
  )
  expect(message(() => parseChatgptRoles(full, persist, false, 'codex_auth_json', undefined))).toMatch(
    /names the same secret as persist-secret/
  )
  expect(message(() => parseChatgptRoles(full, persist, false, 'GITHUB_X', undefined))).toMatch(
    /not an Actions secret name/
  )
  expect(message(() => parseChatgptRoles(full, undefined, true, '', undefined))).toMatch(
    /refresh: true needs persist-secret/
  )
  expect(message(() => parseChatgptRoles(undefined, undefined, true, 'X', undefined))).toMatch(
    /refresh and shared-secret are set but auth-json is empty/
  )
})

test('the copy holds only what a sign-in needs: a key or a token a later step wrote into the file stays out', () => {
  const full = JSON.parse(chatgptAuth().text) as Record<string, unknown> & { tokens: Record<string, string> }
  const planted = {
    ...full,
    OPENAI_API_KEY: 'sk-planted-into-auth-json',
    extra: { refresh_token: 'rt-planted-elsewhere' },
    tokens: { ...full.tokens, spare_refresh_token: 'rt-planted-in-tokens' }
  }
  const copy = accessOnlyCopy(JSON.stringify(planted), { workflow: 'Refresh', fullSecret: 'CODEX_AUTH_JSON' })
  for (const secret of [
    'sk-planted-into-auth-json',
    'rt-planted-elsewhere',
    'rt-planted-in-tokens',
    full.tokens.refresh_token
  ])
    expect(copy).not.toContain(secret)
  expect(parseChatgptAuth(copy, 'auth-json').tokens.access_token).toBe(full.tokens.access_token)
})
