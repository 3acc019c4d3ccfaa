/**
 * Model requests Codex compresses: in ChatGPT mode it sends their bodies zstd-compressed
 * (`content-encoding: zstd`). The meter and allowed-models read the model from the body
 * decompressed within bounds; the compressed bytes go upstream unchanged, so the backend
 * reads exactly what was checked. Node ≥ 22.15 decompresses zstd itself (with a bound on
 * its output); Node 20 has no zstd, and fzstd (pure JS) does it there, only for a frame
 * whose declared window is within the bound (fzstd allocates what a frame declares).
 */
import type { IncomingMessage } from 'node:http'
import * as zlib from 'node:zlib'
import { Decompress } from 'fzstd'
import { keep } from './held.js'
import { type Admitted, MAX_MESSAGE, type Meter, readRequest } from './usage.js'

/** The most of a compressed body the proxy reads, and the most it decompresses it to. */
export const MAX_COMPRESSED = 16 * 1024 * 1024
export const MAX_DECOMPRESSED = MAX_MESSAGE

type NativeZstd = (buffer: Buffer, options: { maxOutputLength: number }) => Buffer
const nativeZstd = (zlib as unknown as { zstdDecompressSync?: NativeZstd }).zstdDecompressSync

export function isZstd(req: IncomingMessage): boolean {
  return req.headers['content-encoding'] === 'zstd'
}

/**
 * The window each frame of a zstd stream declares (RFC 8878 3.1.1), walked through its block
 * headers without decompressing; undefined when it is not zstd. Skippable frames count 0.
 */
export function zstdWindows(data: Buffer): number[] | undefined {
  const windows: number[] = []
  let at = 0
  while (at < data.length) {
    if (at + 8 > data.length) return undefined
    const magic = data.readUInt32LE(at)
    if ((magic & 0xfffffff0) === 0x184d2a50) {
      windows.push(0)
      at += 8 + data.readUInt32LE(at + 4)
      continue
    }
    if (magic !== 0xfd2fb528) return undefined
    const descriptor = data[at + 4]
    const singleSegment = (descriptor >> 5) & 1
    const dictionaryBytes = [0, 1, 2, 4][descriptor & 3]
    const sizeBytes = [singleSegment, 2, 4, 8][descriptor >> 6]
    let header = at + 5
    let window = 0
    if (!singleSegment) {
      const base = 2 ** (10 + (data[header] >> 3))
      window = base + (base / 8) * (data[header] & 7)
      header++
    }
    header += dictionaryBytes
    if (header + sizeBytes > data.length) return undefined
    if (singleSegment) {
      const size = sizeBytes === 8 ? Number(data.readBigUInt64LE(header)) : data.readUIntLE(header, sizeBytes)
      window = sizeBytes === 2 ? size + 256 : size
    }
    at = header + sizeBytes
    for (let last = false; !last;) {
      if (at + 3 > data.length) return undefined
      const block = data.readUIntLE(at, 3)
      last = (block & 1) === 1
      const type = (block >> 1) & 3
      if (type === 3) return undefined
      at += 3 + (type === 1 ? 1 : block >>> 3)
    }
    // The content checksum, when the descriptor says there is one.
    if (descriptor & 4) at += 4
    windows.push(window)
  }
  return at === data.length ? windows : undefined
}

/** The body decompressed, or why it cannot be read within the bounds. */
export function decompressZstd(data: Buffer): Buffer | string {
  try {
    if (nativeZstd) return nativeZstd(data, { maxOutputLength: MAX_DECOMPRESSED })
    // fzstd allocates what each frame declares: every frame is checked before it starts.
    const windows = zstdWindows(data)
    if (!windows) return 'it is not valid zstd'
    if (windows.some((window) => window > MAX_DECOMPRESSED))
      return `a zstd frame declares more than ${MAX_DECOMPRESSED / 1024 / 1024} MiB`
    const chunks: Uint8Array[] = []
    let length = 0
    const stream = new Decompress((chunk) => {
      length += chunk.length
      if (length > MAX_DECOMPRESSED) throw new Error('too large')
      chunks.push(chunk)
    })
    stream.push(data, true)
    return Buffer.concat(chunks, length)
  } catch (error) {
    return (error as Error).message === 'too large' || (error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
      ? `it decompresses to more than ${MAX_DECOMPRESSED / 1024 / 1024} MiB`
      : 'it is not valid zstd'
  }
}

/** The body, read whole up to MAX_COMPRESSED; undefined when larger. Throws NoRoom as wholeBody (usage.ts) does. */
async function readBounded(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of req.iterator({ destroyOnReturn: false })) {
    length += (chunk as Buffer).length
    if (length > MAX_COMPRESSED) return void req.destroy()
    keep(req, (chunk as Buffer).length)
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks, length)
}

/**
 * admitRequest's counterpart for a zstd body: read whole (bounded), its model read from it
 * decompressed, admitted or refused as any other; the compressed bytes are what is sent.
 */
export async function admitCompressed(
  meter: Meter,
  req: IncomingMessage,
  headers: Record<string, string | string[]>
): Promise<Admitted | string> {
  const session = typeof req.headers['session-id'] === 'string' ? req.headers['session-id'] : undefined
  // The answer is scanned for its usage: it must come uncompressed.
  headers['accept-encoding'] = 'identity'
  const raw = await readBounded(req)
  if (!raw)
    return `The request body is larger than the key proxy reads (${MAX_COMPRESSED / 1024 / 1024} MiB compressed).`
  const text = decompressZstd(raw)
  if (typeof text !== 'string') keep(req, text.length)
  // Read as any other request (a model named twice is not trusted), once decompressed.
  const read =
    typeof text === 'string'
      ? `The request body is zstd-compressed and ${text}, so its model cannot be read`
      : readRequest(text, ['model'])
  const admitted = meter.admit(
    typeof read === 'string' ? { session, unreadable: read } : { model: read.single('model'), session }
  )
  return typeof admitted === 'string' ? admitted : { ticket: admitted, body: raw }
}
