import { decompressZstd, MAX_DECOMPRESSED, zstdWindows } from '../../src/helpers/key-proxy/compressed-body.js'

/** A zstd frame of raw blocks, made by hand (RFC 8878): no compressor needed. */
function rawFrame(content: Buffer, singleSegment = true): Buffer {
  const header = singleSegment
    ? Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20 | (content.length > 255 ? 0x40 : 0), ...sizeBytes(content.length)])
    : Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x00]) // a 1 KiB window
  const block = Buffer.alloc(3)
  block.writeUIntLE((content.length << 3) | 1, 0, 3)
  return Buffer.concat([header, block, content])
}
const sizeBytes = (n: number) => (n > 255 ? [(n - 256) & 0xff, (n - 256) >> 8] : [n])

/** A frame of RLE blocks (one byte each, 128 KiB of output each): a small body that decompresses to `blocks` × 128 KiB. */
function rleBomb(blocks: number): Buffer {
  const parts = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])] // 2^(10+7) = 128 KiB window
  for (let i = 0; i < blocks; i++) {
    const block = Buffer.alloc(4)
    block.writeUIntLE(((128 * 1024) << 3) | (1 << 1) | (i === blocks - 1 ? 1 : 0), 0, 3)
    block[3] = 0x20
    parts.push(block)
  }
  return Buffer.concat(parts)
}

test('a frame is decompressed, and its declared window read from its header', () => {
  const body = Buffer.from(JSON.stringify({ model: 'gpt-test', input: 'x'.repeat(300) }))
  expect(Buffer.from(decompressZstd(rawFrame(body)) as Buffer).toString()).toBe(body.toString())
  expect(zstdWindows(rawFrame(body))).toEqual([body.length])
  // Two frames: both are walked, and both decompressed.
  const two = Buffer.concat([rawFrame(Buffer.from('{"a":')), rawFrame(Buffer.from('1}'), false)])
  expect(zstdWindows(two)).toEqual([5, 1024])
  expect(Buffer.from(decompressZstd(two) as Buffer).toString()).toBe('{"a":1}')
})

test('a body that would decompress beyond the bound is refused, whether it says so or not', () => {
  const bomb = rleBomb(MAX_DECOMPRESSED / (128 * 1024) + 1)
  expect(bomb.length).toBeLessThan(4096)
  expect(decompressZstd(bomb)).toBe(`it decompresses to more than ${MAX_DECOMPRESSED / 1024 / 1024} MiB`)
  // A frame declaring a window larger than the bound: refused before anything is allocated (Node 20's fzstd).
  const huge = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x90]), Buffer.from([1, 0, 0])])
  expect(zstdWindows(huge)).toEqual([2 ** 28])
  expect(decompressZstd(huge)).toMatch(/more than 64 MiB|not valid zstd/)
})

test('what is not zstd, or is cut short, is unreadable, not an exception', () => {
  expect(decompressZstd(Buffer.from('{"model":"gpt-test"}'))).toBe('it is not valid zstd')
  expect(zstdWindows(rawFrame(Buffer.from('abc')).subarray(0, 9))).toBeUndefined()
  expect(typeof decompressZstd(rawFrame(Buffer.from('abcdef')).subarray(0, 10))).toBe('string')
})
