import { createHash } from 'node:crypto'
import { fingerprint, redact } from '../../src/secrets/mask.js'

const KEY = 'sk-proj-abcdefghijklmnopqrstuvwxyz012345'

test('the fingerprint is sha256 of the exact value, 16 hex digits, holding no part of it', () => {
  const id = fingerprint(KEY)
  expect(id).toBe(`sha256:${createHash('sha256').update(KEY).digest('hex').slice(0, 16)}`)
  expect(id).not.toContain(KEY.slice(-5))
  expect(fingerprint(`${KEY}x`)).not.toBe(id)
})

test("redact hides the secret and the CLI's first-8/last-5 rendering of it", () => {
  const text = `API key configured - sk-proj-***12345\nkey=${KEY}\nunrelated text`
  const out = redact(text, [KEY])
  expect(out).not.toContain(KEY)
  expect(out).not.toContain('12345')
  expect(out).toContain('unrelated text')
  expect(redact('nothing here', [KEY, ''])).toBe('nothing here')
})

test('redact hides encoded forms too', () => {
  const text = [
    Buffer.from(KEY).toString('base64'),
    Buffer.from(KEY).toString('base64url'),
    encodeURIComponent(`${KEY}/x`),
    JSON.stringify(KEY)
  ].join(' ')
  const out = redact(text, [KEY])
  expect(out).not.toContain(KEY)
  expect(out).not.toContain(Buffer.from(KEY).toString('base64').slice(0, 20))
})
