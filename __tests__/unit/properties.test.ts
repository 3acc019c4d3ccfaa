/** Property-based tests (fast-check) of the input parsers: they answer or refuse, never crash or echo. */
import { jest } from '@jest/globals'
import fc from 'fast-check'
import { parseUserConfig } from '../../src/codex/config.js'
import { parseBoolean, parseCredentials, parseHttpUrl, parseNumber, parseVersionSpec } from '../../src/inputs/inputs.js'
import { UserError } from '../../src/job/errors.js'
import { parseCaBundle } from '../../src/net/ca-bundle.js'
import { proxyFor } from '../../src/net/proxy-rules.js'
import { redact } from '../../src/secrets/mask.js'

/** Runs `fn`; a thrown error must be a UserError. Returns its message, or undefined. */
function refusal(fn: () => unknown): string | undefined {
  try {
    fn()
    return undefined
  } catch (error) {
    if (!(error instanceof UserError)) throw error
    return error.message
  }
}

const keyChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_')
const validKey = fc.string({ unit: keyChars, minLength: 20, maxLength: 200 }).map((s) => `sk-${s}`)

beforeAll(() => {
  // maskSecret prints ::add-mask:: lines; they are not what these properties are about.
  jest.spyOn(process.stdout, 'write').mockImplementation(() => true)
})

afterAll(() => {
  jest.restoreAllMocks()
})

test('valid keys, alone or as a rotation list, are accepted as given', () => {
  fc.assert(
    fc.property(fc.uniqueArray(validKey, { minLength: 1, maxLength: 5 }), (keys) => {
      expect(parseCredentials(keys.join('\n'), '')).toEqual({ mode: 'api-key', candidates: keys })
    })
  )
})

test('anything else is refused with a UserError that does not echo it', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), fc.string({ maxLength: 300 }), (apiKey, token) => {
      const message = refusal(() => parseCredentials(apiKey.trim(), token.trim()))
      if (message === undefined) return
      for (const line of [...apiKey.split('\n'), ...token.split('\n')]
        .map((l) => l.trim())
        .filter((l) => l.length >= 12)) {
        expect(message).not.toContain(line)
      }
    }),
    { numRuns: 500 }
  )
})

test('codex-version: a spec or a UserError, and every semver version is exact', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 40 }), (raw) => void refusal(() => parseVersionSpec(raw))),
    { numRuns: 500 }
  )
  fc.assert(
    fc.property(fc.nat(999), fc.nat(999), fc.nat(999), (a, b, c) => {
      expect(parseVersionSpec(`${a}.${b}.${c}`)).toEqual({ kind: 'exact', version: `${a}.${b}.${c}` })
    })
  )
})

test('URLs: refused, or http(s) without credentials and without a trailing slash', () => {
  fc.assert(
    fc.property(
      fc.oneof(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string({ maxLength: 60 })),
      (raw) => {
        const result = (() => {
          try {
            return parseHttpUrl('registry-url', raw, 'https://registry.npmjs.org')
          } catch (error) {
            if (!(error instanceof UserError)) throw error
            return undefined
          }
        })()
        if (result === undefined) return
        const url = new URL(result)
        expect(['http:', 'https:']).toContain(url.protocol)
        expect(url.username + url.password + url.search + url.hash).toBe('')
        expect(result.endsWith('/')).toBe(false)
      }
    ),
    { numRuns: 500 }
  )
})

test('booleans and numbers accept only what they document', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 10 }), (raw) => {
      const message = refusal(() => parseBoolean('verify', raw, false))
      expect(message === undefined).toBe(['', 'true', 'True', 'TRUE', 'false', 'False', 'FALSE'].includes(raw))
      const number = refusal(() => parseNumber('expiry-warning-days', raw, 7, 0, 365))
      if (number === undefined && raw !== '') expect(Number(raw)).toBeGreaterThanOrEqual(0)
    }),
    { numRuns: 500 }
  )
})

test('a CA bundle of any text is parsed or refused with a UserError', () => {
  const pemish = fc
    .tuple(
      fc.constantFrom('CERTIFICATE', 'TRUSTED CERTIFICATE', 'X509 CRL', 'PRIVATE KEY', 'FOO'),
      fc.base64String({ maxLength: 200 })
    )
    .map(([type, body]) => `-----BEGIN ${type}-----\n${body}\n-----END ${type}-----\n`)
  fc.assert(
    fc.property(
      fc.array(fc.oneof(pemish, fc.string({ maxLength: 80 })), { maxLength: 4 }),
      (parts) => void refusal(() => parseCaBundle(parts.join(''), 'ca-certificate'))
    ),
    { numRuns: 300 }
  )
})

test('config: TOML or a UserError', () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 80 }), (raw) => void refusal(() => parseUserConfig(raw))),
    { numRuns: 300 }
  )
})

test('redact leaves no copy of the secret in any text', () => {
  // Secrets as the inputs allow them: 8 characters or more, none of them the '*' that redaction writes.
  const secretArb = fc.string({ minLength: 8, maxLength: 40 }).filter((s) => !s.includes('*'))
  fc.assert(
    fc.property(secretArb, fc.string({ maxLength: 40 }), fc.string({ maxLength: 40 }), (secret, before, after) => {
      expect(redact(`${before}${secret}${after}${secret}`, [secret])).not.toContain(secret)
    }),
    { numRuns: 500 }
  )
})

test('proxy selection never throws, whatever NO_PROXY holds', () => {
  const hosts = fc.oneof(
    fc.domain(),
    fc.ipV4(),
    fc.ipV6().map((ip) => `[${ip}]`)
  )
  const entries = fc.oneof(
    fc.string({ maxLength: 60 }),
    fc.ipV4().map((ip) => `${ip}/${ip.length % 40}`),
    fc.ipV6().map((ip) => `${ip}/${ip.length * 3}`)
  )
  try {
    fc.assert(
      fc.property(fc.array(entries, { maxLength: 4 }), hosts, (noProxy, host) => {
        Object.assign(process.env, { HTTPS_PROXY: 'http://proxy:3128', NO_PROXY: noProxy.join(',') })
        const proxy = proxyFor(new URL(`https://${host}/x`))
        expect(proxy === undefined || proxy === 'http://proxy:3128').toBe(true)
      }),
      { numRuns: 500 }
    )
  } finally {
    delete process.env.HTTPS_PROXY
    delete process.env.NO_PROXY
  }
})
