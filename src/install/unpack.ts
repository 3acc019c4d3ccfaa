import { createHash } from 'node:crypto'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { Unpack } from 'tar'

/**
 * Sizes that keep inflate, on the thread pool and the one stage that cannot go faster, busy
 * (figures in BENCHMARK.md). The socket delivers 16 KiB pieces, and a gunzip round trip
 * per piece costs more CPU than the sha512: GUNZIP_INPUT gathers them first. GUNZIP_CHUNK
 * is gunzip's output buffer (Node's default, 16 KiB, is a round trip per 16 KiB of the
 * ~440 MB tree). WRITE_BUFFER lets inflate run on while a file write is under way, where
 * it would otherwise wait for the disk at every chunk. All of it holds about 10 MiB.
 */
const GUNZIP_INPUT = 1 << 20
const GUNZIP_CHUNK = 1 << 20
const WRITE_BUFFER = 4 << 20

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

/**
 * One pass over the tarball as it arrives: every byte goes through sha512 and, gunzipped
 * on the thread pool, into the extraction of `package/vendor/<triple>/` into `dir`. Nothing
 * is held in memory beyond stream buffers, and no more than `limit` bytes of tar stream
 * reach the disk (UnpackLimitError past it). Returns the base64 sha512 of what was read;
 * the caller decides, before anything leaves `dir`, whether it matches.
 */
export async function hashAndExtract(body: Readable, triple: string, dir: string, limit: number): Promise<string> {
  const hash = createHash('sha512')
  let pending: Buffer[] = []
  let pendingBytes = 0
  const release = () => {
    const chunk = Buffer.concat(pending, pendingBytes)
    hash.update(chunk)
    pending = []
    pendingBytes = 0
    return chunk
  }
  // Hashes every byte as it passes, in pieces of GUNZIP_INPUT.
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      pending.push(chunk)
      pendingBytes += chunk.length
      done(null, pendingBytes >= GUNZIP_INPUT ? release() : undefined)
    },
    flush(done) {
      done(null, pendingBytes > 0 ? release() : undefined)
    }
  })
  let unpacked = 0
  // Counts what reaches the extraction, and holds up to WRITE_BUFFER of it for a file write under way.
  const counter = new Transform({
    highWaterMark: WRITE_BUFFER,
    transform(chunk: Buffer, _encoding, done) {
      unpacked += chunk.length
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
    await Promise.all([
      pipeline(
        body,
        hasher,
        createGunzip({ chunkSize: GUNZIP_CHUNK }),
        counter,
        unpack as unknown as NodeJS.WritableStream
      ),
      written
    ])
  } catch (error) {
    // pipeline cannot destroy tar's Unpack: stop it from writing the entries it still holds.
    unpack.abort(error as Error)
    throw error
  }
  return hash.digest('base64')
}
