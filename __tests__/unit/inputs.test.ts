import { jest } from '@jest/globals'
import {
  getInputs,
  parseBoolean,
  parseCodexHome,
  parseCredentials,
  parseHttpUrl,
  parseNumber,
  parseVersionSpec,
  resolveKeyIsolation
} from '../../src/inputs/inputs.js'
import { userErrorMessage as message } from '../harness/user-error.js'

const KEY = 'sk-proj-abcdefghijklmnopqrstuvwxyz012345'
const PAT = 'at-abcdefghijklmnopqrstuvwxyz012345'
const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQwMDAwMDAwMDB9.c2lnbmF0dXJlc2lnbmF0dXJl'

describe('credentials', () => {
  test('exactly one of api-key and access-token', () => {
    expect(parseCredentials(KEY, '')).toEqual({ mode: 'api-key', candidates: [KEY] })
    expect(parseCredentials('', PAT)).toEqual({ mode: 'access-token', candidates: [PAT] })
    expect(parseCredentials('', JWT)).toEqual({ mode: 'access-token', candidates: [JWT] })
    const neither = message(() => parseCredentials('', ''))
    expect(neither).toMatch(/api-key and access-token are both empty/)
    expect(neither).toMatch(/fork or by Dependabot/)
    expect(message(() => parseCredentials(KEY, PAT))).toMatch(/both set\. Set only one/)
  })

  test('a rotation list: one credential a line, newest first, each checked', () => {
    expect(parseCredentials(`${KEY}\n  ${KEY}2  \r\n${KEY}3`, '')).toEqual({
      mode: 'api-key',
      candidates: [KEY, `${KEY}2`, `${KEY}3`]
    })
    expect(parseCredentials('', `${PAT}\n${JWT}`).candidates).toEqual([PAT, JWT])
    expect(message(() => parseCredentials(`${KEY}\n\n${KEY}2`, ''))).toBe(
      'api-key line 2 is empty. Give one credential a line, newest first, with no empty lines between them.'
    )
    expect(message(() => parseCredentials(`${KEY}\n${KEY}`, ''))).toMatch(/^api-key line 2 repeats line 1/)
    expect(message(() => parseCredentials(`${KEY}\nsk-short`, ''))).toMatch(
      /^api-key line 2 does not look like an OpenAI API key/
    )
    expect(message(() => parseCredentials(Array.from({ length: 6 }, (_, i) => `${KEY}${i}`).join('\n'), ''))).toMatch(
      /holds 6 lines; a rotation needs at most 5/
    )
  })

  test.each([
    ['a control character', `${KEY}\u0007`, /control character/],
    ['a tab', `sk-proj-abc\tdefghijklmnopqrstuvwxyz`, /control character/],
    ['no sk- prefix', 'proj-abcdefghijklmnopqrstuvwxyz012345', /does not look like an OpenAI API key/],
    ['too short', 'sk-abc', /does not look like an OpenAI API key/],
    ['a space inside', 'sk-proj-abcdefghij klmnopqrstuvwxyz', /does not look like an OpenAI API key/],
    ['a JSON blob', '{"key":"sk-proj-abcdefghijklmnopqrstuvwxyz"}', /does not look like an OpenAI API key/],
    ['a token in api-key', PAT, /a Codex access token goes in access-token/]
  ])('api-key with %s is rejected without echoing it', (_what, value, pattern) => {
    const text = message(() => parseCredentials(value, ''))
    expect(text).toMatch(pattern)
    expect(text).not.toContain(value.slice(3, 20))
  })

  test.each([
    ['an API key', KEY],
    ['two segments', 'eyJhbGciOiJSUzI1NiJ9.eyJleHAiOjQwMDAwMDAwMDB9'],
    ['at- with spaces', 'at-abc def ghi jkl mno pqr'],
    ['a bare word', 'hunter2hunter2hunter2']
  ])('access-token that is %s is rejected', (_what, value) => {
    expect(message(() => parseCredentials('', value))).toMatch(/access-token does not look like a Codex access token/)
  })
})

describe('codex-version', () => {
  test.each([
    ['', { kind: 'tag', tag: 'latest' }],
    ['latest', { kind: 'tag', tag: 'latest' }],
    ['next', { kind: 'tag', tag: 'next' }],
    ['0.171.0', { kind: 'exact', version: '0.171.0' }],
    ['v0.171.0', { kind: 'exact', version: '0.171.0' }],
    ['^0.171', { kind: 'range', range: '^0.171' }],
    ['>=0.170 <0.172', { kind: 'range', range: '>=0.170 <0.172' }],
    ['0.x', { kind: 'range', range: '0.x' }]
  ])('%s', (raw, spec) => {
    expect(parseVersionSpec(raw)).toEqual(spec)
  })

  test.each(['1.2.3.4', '!!', '>=', '^^1', '0.17x', '-tag'])('%s is not a version, range or tag', (raw) => {
    expect(message(() => parseVersionSpec(raw))).toMatch(/is not a version, a semver range or a dist-tag/)
  })
})

describe('registry-url and api-base-url', () => {
  const parseRegistryUrl = (raw: string) => parseHttpUrl('registry-url', raw, 'https://registry.npmjs.org')
  test('normalised without a trailing slash', () => {
    expect(parseRegistryUrl('')).toBe('https://registry.npmjs.org')
    expect(parseRegistryUrl('https://npm.example.com/repository/npm/')).toBe('https://npm.example.com/repository/npm')
    expect(parseRegistryUrl('http://127.0.0.1:4873')).toBe('http://127.0.0.1:4873')
    expect(parseHttpUrl('api-base-url', '', 'https://api.openai.com/v1')).toBe('https://api.openai.com/v1')
  })

  test.each([
    ['not a url', /is not a URL/],
    ['ftp://mirror.example.com', /must be an http or https URL/],
    ['file:///etc/passwd', /must be an http or https URL/],
    ['https://user:pass@npm.example.com', /must not contain credentials/],
    ['https://npm.example.com/?token=x', /must not have a query/]
  ])('%s is rejected', (raw, pattern) => {
    expect(message(() => parseRegistryUrl(raw))).toMatch(pattern)
  })
})

test('codex-home must be absolute when set', () => {
  expect(parseCodexHome('')).toBeUndefined()
  expect(parseCodexHome('/var/tmp/codex/')).toBe('/var/tmp/codex')
  expect(message(() => parseCodexHome('relative/dir'))).toMatch(/is not an absolute path/)
})

test('numbers within their bounds', () => {
  expect(parseNumber('expiry-warning-days', '', 7, 0, 365)).toBe(7)
  expect(parseNumber('expiry-warning-days', '0', 7, 0, 365)).toBe(0)
  expect(parseNumber('network-idle-timeout', '2.5', 30, 1, 600)).toBe(2.5)
  for (const raw of ['-1', '366', 'seven', '1e3', ' 7'])
    expect(message(() => parseNumber('expiry-warning-days', raw, 7, 0, 365))).toMatch(
      /^expiry-warning-days must be a number from 0 to 365/
    )
})

test('booleans follow the YAML core schema, strictly', () => {
  for (const raw of ['true', 'True', 'TRUE']) expect(parseBoolean('install', raw, false)).toBe(true)
  for (const raw of ['false', 'False', 'FALSE']) expect(parseBoolean('install', raw, true)).toBe(false)
  expect(parseBoolean('install', '', true)).toBe(true)
  for (const raw of ['yes', '1', 'on', 'tru'])
    expect(message(() => parseBoolean('export-env', raw, false))).toBe(
      `export-env must be true or false, not "${raw}".`
    )
})

test('getInputs masks the secrets before it validates anything', () => {
  const writes: string[] = []
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk))
    return true
  })
  try {
    const values: Record<string, string> = { 'api-key': KEY, 'access-token': PAT }
    expect(() => getInputs((name) => values[name] ?? '')).toThrow(/both set/)
  } finally {
    spy.mockRestore()
  }
  expect(writes.join('')).toContain(`::add-mask::${KEY}`)
  expect(writes.join('')).toContain(`::add-mask::${PAT}`)
})

describe('a config that chooses the endpoint itself', () => {
  const apiKey = { credentials: { mode: 'api-key' as const, candidates: ['sk-test'] } }
  test.each([
    ['openai_base_url = "https://gateway.example/v1"', 'openai_base_url'],
    ['model_provider = "mine"', 'model_provider']
  ])('%s: auto keeps the login (the proxy would override it); proxy is refused naming it', (config, name) => {
    expect(resolveKeyIsolation('auto', apiKey, false, undefined, config)).toBe('none')
    expect(() => resolveKeyIsolation('proxy', apiKey, false, undefined, config)).toThrow(
      new RegExp(`key-isolation: proxy and config's ${name} contradict each other`)
    )
  })
  test('model_provider = "openai", other settings, or a config that is not TOML leave auto to the proxy', () => {
    for (const config of ['model_provider = "openai"', 'model = "o4-mini"', '', 'not [toml'])
      expect(resolveKeyIsolation('auto', apiKey, false, undefined, config)).toBe('proxy')
  })
})
