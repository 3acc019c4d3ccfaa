import { jest } from '@jest/globals'
import { X509Certificate } from 'node:crypto'
import { userErrorMessage } from '../harness/user-error.js'
import { bundlePem, parseCaBundle } from '../../src/net/ca-bundle.js'
import { makeTestCa } from '../harness/test-ca.js'

const test1 = makeTestCa('Corp Root CA 1')
const test2 = makeTestCa('Corp Root CA 2')
const KEY_BLOCK = test1.caKey

const failure = (text: string): string => userErrorMessage(() => parseCaBundle(text, 'ca-certificate'))

/** An OpenSSL TRUSTED CERTIFICATE: the certificate's DER followed by trust settings. */
function trusted(pem: string): string {
  const der = new X509Certificate(pem).raw
  const aux = Buffer.from([0x30, 0x0c, 0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01])
  const body = Buffer.concat([der, aux])
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
  return `-----BEGIN TRUSTED CERTIFICATE-----\n${body}\n-----END TRUSTED CERTIFICATE-----\n`
}

test('several certificates with comments, CRLF and a CRL: all parsed, the CRL skipped', () => {
  const crl = '-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n'
  const text = `# Corp roots\r\n${test1.ca.replace(/\n/g, '\r\n')}\r\nsubject=whatever\n${crl}${test2.ca}`
  const bundle = parseCaBundle(text, 'ca-certificate')
  expect(bundle.certificates.map((c) => c.subject)).toEqual([
    expect.stringContaining('CN=Corp Root CA 1'),
    expect.stringContaining('CN=Corp Root CA 2')
  ])
  expect(bundle.notes).toEqual(['block 2 is a certificate revocation list; skipped'])
  expect(bundle.warnings).toEqual([])
  expect(bundle.certificates[0].fingerprint256).toBe(new X509Certificate(test1.ca).fingerprint256)
  expect(bundlePem(bundle)).toBe(
    `${new X509Certificate(test1.ca).toString().trimEnd()}\n${new X509Certificate(test2.ca).toString().trimEnd()}\n`
  )
})

test('a TRUSTED CERTIFICATE block is normalised to a CERTIFICATE', () => {
  const bundle = parseCaBundle(trusted(test1.ca), 'ca-certificate-file')
  expect(bundle.certificates).toHaveLength(1)
  expect(bundlePem(bundle)).toMatch(/^-----BEGIN CERTIFICATE-----\n[\s\S]+-----END CERTIFICATE-----\n$/)
  expect(bundle.certificates[0].fingerprint256).toBe(new X509Certificate(test1.ca).fingerprint256)
})

test('warnings: expired, not a CA, a duplicate', () => {
  const bundle = parseCaBundle(`${test1.ca}${test1.expiredCa()}${test1.leaf()}${test1.ca}`, 'ca-certificate')
  expect(bundle.certificates).toHaveLength(3)
  expect(bundle.warnings).toEqual([
    expect.stringMatching(/^ca-certificate block 2 \(.*expired\).* expired on .+\. Replace it/),
    expect.stringMatching(/^ca-certificate block 3 \(.*not-a-ca\.example\.com.*\) is not a CA certificate/),
    expect.stringMatching(/^ca-certificate block 4 .* repeats an earlier certificate/)
  ])
})

test('a private key is refused, masked and never echoed', () => {
  const writes: string[] = []
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk))
    return true
  })
  let text: string
  try {
    text = failure(`${test1.ca}${KEY_BLOCK}`)
  } finally {
    spy.mockRestore()
  }
  expect(text).toBe(
    'ca-certificate block 2 is a private key. A CA bundle holds only public certificates: remove the key (and replace it if it was ever shared).'
  )
  const keyLine = KEY_BLOCK.split(/\r?\n/)[1]
  expect(writes.join('')).toContain(`::add-mask::${keyLine}`)
})

test.each([
  ['nothing', '', /ca-certificate holds no certificate/],
  ['prose', 'please trust our proxy', /ca-certificate holds no certificate/],
  ['only a CRL', '-----BEGIN X509 CRL-----\nMIIB\n-----END X509 CRL-----\n', /holds no certificate/],
  [
    'garbage in a block',
    '-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n',
    /ca-certificate block 1 does not parse as an X\.509 certificate/
  ],
  [
    'valid base64 that is no certificate',
    '-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n',
    /block 1 does not parse/
  ],
  ['a truncated block', test1.ca.slice(0, 200), /block 1 has no matching -----END----- line/],
  ['a second block truncated', test1.ca + test2.ca.slice(0, 300), /block 2 has no matching -----END----- line/],
  [
    'mismatched markers',
    '-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n',
    /block 1 begins as CERTIFICATE but ends as X509 CRL/
  ],
  [
    'a public key',
    '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n',
    /block 1 is a PUBLIC KEY, not a certificate/
  ],
  [
    'a certificate request',
    `${test1.ca}-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n`,
    /block 2 is a CERTIFICATE REQUEST/
  ]
])('%s is refused', (_what, text, pattern) => {
  expect(failure(text)).toMatch(pattern)
})
