import { HttpStatusError } from '../../src/net/failures.js'
import { isRetriable, parseRetryAfter, retryDelay } from '../../src/net/http.js'
import { isLoopback, proxyFor } from '../../src/net/proxy-rules.js'

const PROXY_VARS = [
  'https_proxy',
  'HTTPS_PROXY',
  'http_proxy',
  'HTTP_PROXY',
  'all_proxy',
  'ALL_PROXY',
  'no_proxy',
  'NO_PROXY'
]

/** proxyFor reads process.env (through proxy-from-env): `env` replaces every proxy variable for one call. */
function proxyWith(target: string, env: Record<string, string>): string | undefined {
  const saved = PROXY_VARS.map((name) => [name, process.env[name]] as const)
  for (const name of PROXY_VARS) delete process.env[name]
  Object.assign(process.env, env)
  try {
    return proxyFor(new URL(target))
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name]
      else process.env[name] = value
    }
  }
}

describe('proxyFor', () => {
  test.each([
    ['https://registry.example.com', { HTTPS_PROXY: 'http://proxy:3128' }, 'http://proxy:3128'],
    [
      'https://registry.example.com',
      { https_proxy: 'http://lower:3128', HTTPS_PROXY: 'http://upper:3128' },
      'http://lower:3128'
    ],
    ['https://registry.example.com', { HTTP_PROXY: 'http://plain:3128' }, undefined],
    ['https://registry.example.com', { ALL_PROXY: 'http://all:3128' }, 'http://all:3128'],
    ['http://registry.example.com', { HTTP_PROXY: 'http://plain:3128' }, 'http://plain:3128'],
    ['http://registry.example.com', { HTTPS_PROXY: 'http://proxy:3128' }, undefined],
    ['https://registry.example.com', {}, undefined]
  ])('%s with %o goes through %s, as curl picks it', (target, env, proxy) => {
    expect(proxyWith(target, env)).toBe(proxy)
  })

  // curl's rules (lib/noproxy.c); the library adds ports and a leading `*.`.
  test.each([
    ['https://registry.example.com', 'registry.example.com', true],
    ['https://registry.example.com', 'example.com', true],
    ['https://a.b.example.com', 'example.com', true],
    ['https://notexample.com', 'example.com', false],
    ['https://example.com', '.example.com', true],
    ['https://registry.example.com', '.example.com', true],
    ['https://registry.example.com', '*.example.com', true],
    ['https://registry.example.com', 'EXAMPLE.COM', true],
    ['https://registry.example.com', 'example.com.', true],
    ['https://registry.example.com.', 'example.com', true],
    ['https://registry.example.com', 'registry.example.com:443', true],
    ['https://registry.example.com', 'registry.example.com:8443', false],
    ['https://registry.example.com', 'other.com, example.com', true],
    ['https://registry.example.com', 'other.com example.com', true],
    ['https://registry.example.com', '*', true],
    ['https://registry.example.com', '', false],
    ['https://registry.example.com', 'com.example', false],
    ['http://10.1.2.3:4873', '10.0.0.0/8', true],
    ['http://11.1.2.3:4873', '10.0.0.0/8', false],
    ['http://192.168.1.5', '192.168.1.5', true],
    ['http://192.168.1.5', '192.168.1.0/24', true],
    ['http://192.168.2.5', '192.168.1.0/24', false],
    ['http://127.0.0.1', 'localhost', false],
    ['http://127.0.0.1', '127.0.0.0/8', true],
    ['http://[::1]:8080', '::1', true],
    ['http://[::1]:8080', '[::1]', true],
    ['http://[fd12::1]', 'fd00::/8', true],
    ['http://[fe80::1]', 'fd00::/8', false],
    ['http://[fd12::1]', '10.0.0.0/8', false],
    ['http://10.1.2.3', 'fd00::/8, 10.0.0.0/33', false]
  ])('%s with NO_PROXY=%s bypasses the proxy: %s', (target, noProxy, bypass) => {
    expect(
      proxyWith(target, { HTTP_PROXY: 'http://proxy:3128', HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy })
    ).toBe(bypass ? undefined : 'http://proxy:3128')
  })

  test('an empty no_proxy counts as unset, so NO_PROXY still applies (curl_getenv treats empty as unset)', () => {
    expect(
      proxyWith('https://registry.example.com', {
        HTTPS_PROXY: 'http://proxy:3128',
        no_proxy: '',
        NO_PROXY: 'example.com'
      })
    ).toBeUndefined()
  })

  test('a non-empty no_proxy hides NO_PROXY', () => {
    expect(
      proxyWith('https://registry.example.com', {
        HTTPS_PROXY: 'http://proxy:3128',
        no_proxy: 'other.com',
        NO_PROXY: 'example.com'
      })
    ).toBe('http://proxy:3128')
  })
})

describe('plain http', () => {
  test.each([
    ['http://127.0.0.1:4873', true],
    ['http://127.8.9.10', true],
    ['http://localhost:8080/v1', true],
    ['http://[::1]:8080', true],
    ['http://[::ffff:127.0.0.1]', true],
    ['http://128.0.0.1', false],
    ['http://10.0.0.1', false],
    ['http://localhost.example.com', false],
    ['http://[::2]', false]
  ])('%s is loopback: %s', (url, loopback) => {
    expect(isLoopback(new URL(url))).toBe(loopback)
  })
})

test('what is retried', () => {
  for (const status of [408, 429, 500, 502, 503, 504]) expect(isRetriable(new HttpStatusError('u', status))).toBe(true)
  for (const status of [400, 401, 403, 404]) expect(isRetriable(new HttpStatusError('u', status))).toBe(false)
  expect(isRetriable(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true)
  expect(isRetriable(Object.assign(new Error('stalled'), { code: 'UND_ERR_BODY_TIMEOUT' }))).toBe(true)
  expect(isRetriable(new Error('wrapper', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) }))).toBe(
    true
  )
  expect(isRetriable(Object.assign(new Error('tls'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))).toBe(false)
  expect(isRetriable(new Error('plain'))).toBe(false)
})

test('backoff grows, is jittered within [ceiling/2, ceiling], and honours Retry-After', () => {
  expect(retryDelay(1, new Error('x'), () => 0)).toBe(500)
  expect(retryDelay(1, new Error('x'), () => 1)).toBe(1000)
  expect(retryDelay(3, new Error('x'), () => 1)).toBe(4000)
  expect(retryDelay(10, new Error('x'), () => 1)).toBe(15000)
  expect(retryDelay(1, new HttpStatusError('u', 429, 2000))).toBe(2000)
  expect(retryDelay(1, new HttpStatusError('u', 429, 600_000))).toBe(15000)
})

test('Retry-After as seconds or a date', () => {
  expect(parseRetryAfter('3')).toBe(3000)
  expect(parseRetryAfter(undefined)).toBeUndefined()
  expect(parseRetryAfter('soon')).toBeUndefined()
  const now = Date.parse('2026-01-01T00:00:00Z')
  expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000)
})
