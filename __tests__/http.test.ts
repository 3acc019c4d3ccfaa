import { HttpStatusError, isRetriable, parseRetryAfter, proxyFor, retryDelay } from '../src/http.js'

describe('proxyFor', () => {
  const target = new URL('https://registry.example.com/pkg')
  test('HTTPS_PROXY in either case, HTTP_PROXY as the fallback', () => {
    expect(proxyFor(target, { HTTPS_PROXY: 'http://proxy:3128' })).toBe('http://proxy:3128')
    expect(proxyFor(target, { https_proxy: 'http://lower:3128', HTTPS_PROXY: 'http://upper:3128' })).toBe('http://lower:3128')
    expect(proxyFor(target, { HTTP_PROXY: 'http://plain:3128' })).toBe('http://plain:3128')
    expect(proxyFor(new URL('http://registry.example.com'), { HTTPS_PROXY: 'http://proxy:3128' })).toBeUndefined()
    expect(proxyFor(target, {})).toBeUndefined()
  })

  test.each([
    ['registry.example.com', true],
    ['.example.com', true],
    ['*.example.com', true],
    ['example.com', false],
    ['registry.example.com:443', true],
    ['registry.example.com:8443', false],
    ['other.com, registry.example.com', true],
    ['*', true],
    ['', false]
  ])('NO_PROXY=%s bypasses: %s', (noProxy, bypass) => {
    const proxy = proxyFor(target, { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy })
    expect(proxy === undefined).toBe(bypass)
  })
})

test('what is retried', () => {
  for (const status of [408, 429, 500, 502, 503, 504]) expect(isRetriable(new HttpStatusError('u', status))).toBe(true)
  for (const status of [400, 401, 403, 404]) expect(isRetriable(new HttpStatusError('u', status))).toBe(false)
  expect(isRetriable(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true)
  expect(isRetriable(Object.assign(new Error('stalled'), { code: 'UND_ERR_BODY_TIMEOUT' }))).toBe(true)
  expect(isRetriable(new Error('wrapper', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) }))).toBe(true)
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
