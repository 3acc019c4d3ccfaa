import { createHash } from 'node:crypto'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { Unpack } from 'tar'

/**
 * Output buffer of the gunzip stream. Node's default (16 KiB) makes a thread-pool round
 * trip per 16 KiB of the ~400 MB tree; 1 MiB makes the whole extraction about 2.5 times
 * faster (measured: 1.25 s against 3.3 s for codex 0.171.0 linux-x64).
 */
const GUNZIP_CHUNK = 1 << 20

/** The sha512 digest (base64) an npm `dist.integrity` string promises. */
export function expectedSha512(integrity: string): string | undefined {
  const entry = integrity.split(/\s+/).find((part) => part.startsWith('sha512-'))
  return entry?.slice('sha512-'.length).split('?')[0]
}

/**
 * One pass over the tarball as it arrives: every byte goes through sha512 and, gunzipped
 * on the thread pool, into the extraction of `package/vendor/<triple>/` into `dir`. Nothing
 * is held in memory beyond stream buffers. Returns the base64 sha512 of what was read;
 * the caller decides, before anything leaves `dir`, whether it matches.
 */
export async function hashAndExtract(body: Readable, triple: string, dir: string): Promise<string> {
  const hash = createHash('sha512')
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk)
      done(null, chunk)
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
  await Promise.all([pipeline(body, hasher, createGunzip({ chunkSize: GUNZIP_CHUNK }), unpack as unknown as NodeJS.WritableStream), written])
  return hash.digest('base64')
}
