import { platformFor } from '../../src/install/platform.js'
import { pickVersion, platformVersions, type Packument } from '../../src/install/registry.js'
import { MAX_UNPACKED, unpackLimit } from '../../src/install/unpack.js'

const linux = platformFor('linux', 'x64')
const doc = { dist: { integrity: 'sha512-x', tarball: 't' } }
const packument: Packument = {
  'dist-tags': { latest: '0.171.0', next: '0.172.0-alpha.1', old: '0.150.0' },
  versions: Object.fromEntries(
    [
      '0.170.0',
      '0.170.0-linux-x64',
      '0.171.0',
      '0.171.0-linux-x64',
      '0.171.0-darwin-arm64',
      '0.172.0-alpha.1',
      '0.172.0-alpha.1-linux-x64',
      '0.173.0',
      '0.150.0'
    ].map((v) => [v, doc])
  )
}

test('only plain versions with a build for this platform count, newest first', () => {
  expect(platformVersions(packument, linux)).toEqual(['0.171.0', '0.170.0'])
  expect(platformVersions(packument, platformFor('darwin', 'arm64'))).toEqual(['0.171.0'])
})

test('exact, range and tag', () => {
  expect(pickVersion(packument, { kind: 'exact', version: '0.170.0' }, linux)).toBe('0.170.0')
  expect(pickVersion(packument, { kind: 'range', range: '^0.170' }, linux)).toBe('0.170.0')
  expect(pickVersion(packument, { kind: 'range', range: '>=0.170' }, linux)).toBe('0.171.0')
  expect(pickVersion(packument, { kind: 'tag', tag: 'latest' }, linux)).toBe('0.171.0')
})

test('a version without a build for this platform is refused, naming what exists', () => {
  expect(() => pickVersion(packument, { kind: 'exact', version: '0.173.0' }, linux)).toThrow(
    'Newest available: 0.171.0, 0.170.0'
  )
  expect(() => pickVersion(packument, { kind: 'tag', tag: 'old' }, linux)).toThrow('dist-tag old matches no')
  expect(() => pickVersion({}, { kind: 'tag', tag: 'latest' }, linux)).toThrow('Newest available: none')
})

test('a tarball may unpack to its declared size with a margin, never past 2 GiB', () => {
  expect(unpackLimit(undefined)).toBe(MAX_UNPACKED)
  expect(MAX_UNPACKED).toBe(2 * 1024 ** 3)
  expect(unpackLimit(424_000_000)).toBe(466_400_000 + (16 << 20))
  expect(unpackLimit(5e12)).toBe(MAX_UNPACKED)
})
