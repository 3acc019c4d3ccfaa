/**
 * One memory budget for everything the key proxy holds whole: a request body it reads whole
 * (allowed-models' check of a JSON or zstd body and its decompressed text, a body Bedrock
 * signs, a request the proxy answers itself). Each is bounded on its own (MAX_MESSAGE), but a
 * command of the model's can open many at once; past the budget, a request is refused at once
 * (503, a text saying why) instead of the proxy running out of memory for the job's later steps.
 * A request's bytes are released when its answer closes: finished, aborted or errored.
 */

/**
 * 128 MB in all: Codex's own requests are a few MB at most, so this leaves room for dozens of
 * them at once, and for two of the largest a request may be (64 MB, MAX_MESSAGE), while the
 * proxy stays far from what a runner needs for Codex and the job's other steps.
 */
export const HELD_MAX = 128 * 1024 * 1024

/** Why a request was refused for want of room. */
export const NO_ROOM = `codex-auth-action key proxy: it already holds ${HELD_MAX / 1024 / 1024} MB of request bodies at once, the most it holds; this request was not sent. Try it again once the large requests in progress have ended.`

/** Thrown by a body reader when the bytes it would keep do not fit in the budget. */
export class NoRoom extends Error {}

let held = 0
/** Each request's bytes held, by the stream its body is read from. */
const holdings = new WeakMap<object, { bytes: number }>()

/** Starts counting what the proxy keeps of `body`, until `done` (the request's answer) closes. */
export function holdUntil(body: object, done: { once(event: 'close', listener: () => void): unknown }): void {
  const holding = { bytes: 0 }
  holdings.set(body, holding)
  done.once('close', () => {
    held -= holding.bytes
    holding.bytes = 0
  })
}

/** Counts `bytes` more kept of `body` (nothing for a stream holdUntil was not given); throws NoRoom past the budget. */
export function keep(body: object, bytes: number): void {
  const holding = holdings.get(body)
  if (!holding) return
  if (held + bytes > HELD_MAX) throw new NoRoom(NO_ROOM)
  held += bytes
  holding.bytes += bytes
}
