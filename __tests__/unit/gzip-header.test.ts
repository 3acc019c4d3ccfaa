import { gzipSync, inflateRawSync } from 'node:zlib'
import { gzipHeaderLength } from '../../src/install/unpack.js'

const payload = Buffer.from('the tree, as tar would write it\n'.repeat(100))
const plain = gzipSync(payload)

/** `plain` with optional header fields set, as RFC 1952 lays them out. */
function withFields(fields: { extra?: Buffer; name?: string; comment?: string; headerCrc?: boolean }): Buffer {
  const flags = (fields.headerCrc ? 2 : 0) | (fields.extra ? 4 : 0) | (fields.name ? 8 : 0) | (fields.comment ? 16 : 0)
  const parts: Buffer[] = [Buffer.from([...plain.subarray(0, 3), flags, ...plain.subarray(4, 10)])]
  if (fields.extra) parts.push(Buffer.from([fields.extra.length & 0xff, fields.extra.length >> 8]), fields.extra)
  if (fields.name) parts.push(Buffer.from(`${fields.name}\0`, 'latin1'))
  if (fields.comment) parts.push(Buffer.from(`${fields.comment}\0`, 'latin1'))
  if (fields.headerCrc) parts.push(Buffer.from([0x12, 0x34]))
  return Buffer.concat([...parts, plain.subarray(10)])
}

test('the plain 10-byte header npm writes', () => {
  expect(gzipHeaderLength(plain)).toBe(10)
  expect(inflateRawSync(plain.subarray(10))).toEqual(payload)
})

test.each([
  [{ name: 'codex-0.171.0-linux-x64.tar' }, 10 + 28],
  [{ comment: 'built by CI' }, 10 + 12],
  [{ extra: Buffer.from('AP\x02\x00hi', 'latin1') }, 10 + 2 + 6],
  [{ headerCrc: true }, 10 + 2],
  [{ extra: Buffer.alloc(300, 1), name: 'a', comment: 'b', headerCrc: true }, 10 + 302 + 2 + 2 + 2]
])('optional fields %# are skipped, and what follows is the deflate data', (fields, length) => {
  const gz = withFields(fields)
  expect(gzipHeaderLength(gz)).toBe(length)
  expect(inflateRawSync(gz.subarray(length))).toEqual(payload)
})

test.each([
  ['empty', Buffer.alloc(0)],
  ['shorter than a header', plain.subarray(0, 9)],
  ['not gzip', Buffer.from('PK\x03\x04 a zip file, not a tarball')],
  ['another compression method', Buffer.from([0x1f, 0x8b, 7, 0, 0, 0, 0, 0, 0, 3, 1, 2])],
  ['reserved flag bits', Buffer.from([0x1f, 0x8b, 8, 0x20, 0, 0, 0, 0, 0, 3, 1, 2])],
  ['a name that never ends', withFields({ name: 'x' }).subarray(0, 11)],
  ['an extra field longer than the data', withFields({ extra: Buffer.alloc(300) }).subarray(0, 100)],
  ['a header CRC cut off', withFields({ headerCrc: true }).subarray(0, 11)]
])('%s: reported as corrupt gzip data', (_what, data) => {
  expect(() => gzipHeaderLength(data)).toThrow(expect.objectContaining({ code: 'Z_DATA_ERROR' }))
})
