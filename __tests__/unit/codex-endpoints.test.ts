import { parse } from 'smol-toml'
import { checkEndpoints, configEndpoints, loginEndpoint } from '../../src/codex/config.js'
import { OPENAI_API_BASE_URL } from '../../src/net/endpoint.js'

const toml = (text: string) => parse(text) as Record<string, unknown>

test('every key ending in base_url is an endpoint, at any depth', () => {
  const config = toml(
    'openai_base_url = "https://a/v1"\nchatgpt_base_url = "https://b"\nmodel = "m"\n' +
      '[model_providers.gw]\nbase_url = "https://c/v1"\n[profiles.ci]\nopenai_base_url = "https://d/v1"\n'
  )
  expect(configEndpoints(config)).toEqual([
    { key: 'openai_base_url', url: 'https://a/v1' },
    { key: 'chatgpt_base_url', url: 'https://b' },
    { key: 'model_providers.gw.base_url', url: 'https://c/v1' },
    { key: 'profiles.ci.openai_base_url', url: 'https://d/v1' }
  ])
})

test.each([
  ['nothing set: the default API', '', OPENAI_API_BASE_URL],
  ['openai_base_url', 'openai_base_url = "https://gw.example.com/v1/"', 'https://gw.example.com/v1'],
  [
    'a selected provider that uses the login',
    'model_provider = "gw"\n[model_providers.gw]\nbase_url = "https://gw/v1"\nrequires_openai_auth = true',
    'https://gw/v1'
  ],
  [
    'a selected provider that does not use the login: nowhere',
    'model_provider = "gw"\n[model_providers.gw]\nbase_url = "https://gw/v1"',
    undefined
  ],
  [
    'a provider defined but not selected: the built-in one',
    'openai_base_url = "https://a/v1"\n[model_providers.gw]\nbase_url = "https://gw/v1"\nrequires_openai_auth = true',
    'https://a/v1'
  ],
  ['a built-in provider without a table (oss): nowhere', 'model_provider = "oss"', undefined]
])('loginEndpoint: %s', (_case, text, expected) => {
  expect(loginEndpoint(toml(text), OPENAI_API_BASE_URL)).toBe(expected)
})

test.each([
  ['http://127.0.0.1:8080/v1', true],
  ['http://[::1]/v1', true],
  ['http://localhost/v1', true],
  ['https://gw.example.com/v1', true],
  ['http://gw.example.com/v1', false],
  ['http://10.0.0.1/v1', false]
])('checkEndpoints: %s allowed: %s', (url, allowed) => {
  const check = () => checkEndpoints(toml(`[model_providers.gw]\nbase_url = "${url}"`), 'api-key', 'config')
  if (allowed) expect(check).not.toThrow()
  else expect(check).toThrow(/config's model_providers\.gw\.base_url .* so api-key would travel in cleartext/)
})
