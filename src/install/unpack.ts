import { createHash } from 'node:crypto'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createInflateRaw } from 'node:zlib'
import { youngCollector } from './young-gc.js'

/**
 * Sizes that keep inflate, on the thread pool and the one stage that cannot go faster, busy
 * (figures in BENCHMARK.md). The socket delivers 16 KiB pieces, and an inflate round trip
 * per piece costs more CPU than the sha512: GUNZIP_INPUT gathers them first. GUNZIP_CHUNK
 * is inflate's output buffer (Node's default, 16 KiB, is a round trip per 16 KiB of the
 * ~440 MB tree). WRITE_BUFFER lets inflate run on while a file write is under way, where
 * it would otherwise wait for the disk at every chunk. All of it holds about 4 MiB: larger
 * sizes save a little more CPU but leave more garbage buffers for the GC to find.
 */
const GUNZIP_INPUT = 1 << 18
const GUNZIP_CHUNK = 1 << 20
const WRITE_BUFFER = 1 << 20
/** How much inflated data may turn to garbage before a scavenge frees it (young-gc.ts). */
const COLLECT_EVERY = 8 << 20

/** The most any build may unpack to: the limit when the registry declares no size, or more. */
export const MAX_UNPACKED = 2 * 1024 ** 3

/**
 * The most a tarball may unpack to, counted as the tar stream (files and their headers):
 * the registry's `dist.unpackedSize` with a margin for the headers, within MAX_UNPACKED.
 * A rogue mirror then cannot fill the shared tool cache's disk.
 */
export function unpackLimit(declared: number | undefined): number {
  return declared === undefined
    ? MAX_UNPACKED
    : Math.min(MAX_UNPACKED, declared + Math.ceil(declared / 10) + (16 << 20))
}

/** The tarball unpacked to more than its limit; extraction stopped there. */
export class UnpackLimitError extends Error {
  constructor(readonly limit: number) {
    super(`the tarball unpacks to more than ${limit} bytes`)
  }
}

/** The sha512 digest (base64) an npm `dist.integrity` string promises. */
export function expectedSha512(integrity: string): string | undefined {
  const entry = integrity.split(/\s+/).find((part) => part.startsWith('sha512-'))
  return entry?.slice('sha512-'.length).split('?')[0]
}

/** A gzip stream that is not one well-formed member; reported as zlib reports corrupt data. */
function corrupt(what: string): Error {
  return Object.assign(new Error(`the tarball is not a valid gzip file: ${what}`), { code: 'Z_DATA_ERROR' })
}

const FEXTRA = 4
const FNAME = 8
const FCOMMENT = 16
const FHCRC = 2

/** The length of the gzip member header (RFC 1952) that `data` starts with. */
export function gzipHeaderLength(data: Buffer): number {
  if (data.length < 10 || data[0] !== 0x1f || data[1] !== 0x8b || data[2] !== 8 || data[3] & 0xe0)
    throw corrupt('no gzip header')
  const flags = data[3]
  let at = 10
  if (flags & FEXTRA) at = data.length < at + 2 ? Infinity : at + 2 + data.readUInt16LE(at)
  for (const field of [FNAME, FCOMMENT]) {
    if (!(flags & field)) continue
    const end = data.indexOf(0, at)
    at = end < 0 ? Infinity : end + 1
  }
  if (flags & FHCRC) at += 2
  if (at > data.length) throw corrupt('truncated header')
  return at
}

/**
 * One pass over the tarball as it arrives from `open`: every byte goes through sha512 and,
 * inflated on the thread pool, into the extraction of `package/vendor/<triple>/` into `dir`. Nothing
 * is held in memory beyond stream buffers, and no more than `limit` bytes of tar stream
 * reach the disk (UnpackLimitError past it). Returns the base64 sha512 of what was read;
 * the caller decides, before anything leaves `dir`, whether it matches.
 *
 * The gzip wrapper is read here and the deflate data inflated raw: gunzip would also
 * compute the CRC-32 of the whole tree, a tenth of the time of inflate, the stage that sets
 * the pace, where the sha512 of every byte read already proves more than a CRC can.
 */
export async function hashAndExtract(
  open: () => Promise<Readable>,
  triple: string,
  dir: string,
  limit: number
): Promise<string> {
  // Loaded here, not with the step: a job that finds the CLI in the tool cache never extracts.
  // Before the body is opened: an error it emitted while nothing listened would be thrown.
  const { Unpack } = await import('tar')
  // From here to the pipeline nothing waits, so no event of the body's can come first.
  const body = await open()
  const hash = createHash('sha512')
  let pending: Buffer[] = []
  let pendingBytes = 0
  let read = 0
  let header: number | undefined
  let tail = Buffer.alloc(0)
  // Hashes every byte as it passes, in pieces of GUNZIP_INPUT, and passes on the deflate data.
  const release = () => {
    const chunk = Buffer.concat(pending, pendingBytes)
    pending = []
    pendingBytes = 0
    hash.update(chunk)
    read += chunk.length
    tail = Buffer.concat([tail, chunk.subarray(-8)]).subarray(-8)
    if (header !== undefined) return chunk
    header = gzipHeaderLength(chunk)
    return chunk.subarray(header)
  }
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending.push(chunk)
      pendingBytes += chunk.length
      if (pendingBytes < GUNZIP_INPUT) return done()
      try {
        done(null, release())
      } catch (error) {
        done(error as Error)
      }
    },
    flush(done) {
      try {
        done(null, pendingBytes > 0 || header === undefined ? release() : undefined)
      } catch (error) {
        done(error as Error)
      }
    }
  })
  const inflate = createInflateRaw({ chunkSize: GUNZIP_CHUNK })
  let unpacked = 0
  const collect = youngCollector(COLLECT_EVERY)
  // Counts what reaches the extraction, and holds up to WRITE_BUFFER of it for a file write under way.
  const counter = new Transform({
    highWaterMark: WRITE_BUFFER,
    transform(chunk: Buffer, _encoding, done) {
      unpacked += chunk.length
      collect(chunk.length)
      done(unpacked > limit ? new UnpackLimitError(limit) : null, chunk)
    }
  })
  const prefix = `package/vendor/${triple}/`
  const unpack = new Unpack({
    cwd: dir,
    strict: true,
    strip: 3,
    preserveOwner: false,
    filter: (entryPath) => entryPath.startsWith(prefix) && entryPath.length > prefix.length
  })
  // Unpack reports the end of its last file write with 'close', after the stream ends.
  const written = new Promise<void>((resolve, reject) => {
    unpack.on('close', resolve)
    unpack.on('error', reject)
  })
  try {
    await Promise.all([pipeline(body, hasher, inflate, counter, unpack as unknown as NodeJS.WritableStream), written])
  } catch (error) {
    // pipeline cannot destroy tar's Unpack: stop it from writing the entries it still holds.
    unpack.abort(error as Error)
    throw error
  }
  // The deflate data ends the member; after it, only the trailer: CRC-32 and the size mod 2^32.
  if (read - header! - inflate.bytesWritten !== 8 || tail.readUInt32LE(4) !== unpacked % 2 ** 32)
    throw corrupt('data after the compressed tree, or a size that does not match')
  return hash.digest('base64')
}
