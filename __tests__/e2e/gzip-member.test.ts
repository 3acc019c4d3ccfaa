/**
 * The install reads the gzip wrapper itself and inflates the deflate data raw (no CRC-32
 * of the whole tree): a tarball must still be exactly one gzip member, whatever optional
 * header fields it carries, and its trailer must fit. The integrity matches in every case
 * here (the fake registry hashes what it serves), so only the gzip structure is tested.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { gzipSync } from 'node:zlib'
import { buildPackage, fakeCodexScript, HOST_SUFFIX } from '../harness/fake-package.js'
import { FakeRegistry } from '../harness/fake-registry.js'
import { TEST_API_KEY } from '../harness/real-cli.js'
import { listFiles, Runner } from '../harness/runner.js'

let registry: FakeRegistry
let runner: Runner

beforeEach(async () => {
  registry = await new FakeRegistry().start()
  runner = await Runner.create()
})

afterEach(async () => {
  await registry.stop()
  await runner.dispose()
})

// The install alone is the point: no key proxy to stop (key-isolation none).
const install = () =>
  runner.main({
    'api-key': TEST_API_KEY,
    'key-isolation': 'none',
    'registry-url': registry.url,
    'codex-version': '1.3.0'
  })

test('a header with a file name and a comment, as gzip(1) writes them: installed', async () => {
  const gz = await buildPackage({ version: '1.3.0' })
  const fields = Buffer.from('codex.tar\0from a mirror\0', 'latin1')
  const named = Buffer.concat([
    gz.subarray(0, 3),
    Buffer.from([gz[3] | 8 | 16]),
    gz.subarray(4, 10),
    fields,
    gz.subarray(10)
  ])
  registry.publish('1.3.0', HOST_SUFFIX, named)
  const main = await install()
  expect(main.errors).toEqual([])
  const binary = path.join(runner.toolCache, 'codex', '1.3.0', process.arch, 'bin', 'codex')
  expect(await fs.readFile(binary, 'utf8')).toBe(fakeCodexScript('1.3.0'))
})

test.each([
  ['a second gzip member after the tree', async (gz: Buffer) => Buffer.concat([gz, gzipSync(Buffer.alloc(1024))])],
  ['bytes after the trailer', async (gz: Buffer) => Buffer.concat([gz, Buffer.from('trailing')])],
  [
    'a trailer whose size does not match the tree',
    async (gz: Buffer) => {
      const copy = Buffer.from(gz)
      copy.writeUInt32LE((copy.readUInt32LE(copy.length - 4) + 512) % 2 ** 32, copy.length - 4)
      return copy
    }
  ],
  ['no trailer', async (gz: Buffer) => gz.subarray(0, gz.length - 8)],
  ['no gzip header', async (gz: Buffer) => Buffer.concat([Buffer.from('XX'), gz.subarray(2)])]
])('%s: refused as corrupt, nothing installed', async (_what, alter) => {
  registry.publish('1.3.0', HOST_SUFFIX, await alter(await buildPackage({ version: '1.3.0' })))
  const main = await install()
  expect(main.exitCode).toBe(1)
  expect(main.errors).toHaveLength(1)
  expect(main.errors[0]).toMatch(/tarball is corrupt or truncated \(Z_/)
  expect(await listFiles(runner.toolCache)).toEqual([])
  expect(await runner.tempFiles()).toEqual([])
})
