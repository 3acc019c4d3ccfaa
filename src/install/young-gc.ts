import * as v8 from 'node:v8'
import * as vm from 'node:vm'

/** V8's own `gc`, as --expose-gc lends it. */
type Collect = (options: { type: 'minor' | 'major'; execution: 'sync' }) => void

/**
 * A young-generation collection on demand. Inflate hands out a fresh 1 MiB buffer for every
 * MiB of the ~440 MB tree, and each is garbage once written. Node 24's young generation is
 * large enough that V8 scavenges almost never during the extraction, so those buffers wait
 * for the full collections that external memory forces every ~64 MB: about 40 of them, and
 * 40 MB more resident memory than Node 20 (figures in BENCHMARK.md). A scavenge every few
 * MiB frees them young, for less CPU than the full collections it replaces.
 *
 * V8 only lends its `gc` to contexts made while --expose-gc is set, so the flag is set for
 * the one context that fetches it and cleared again. Undefined if this V8 does not oblige;
 * then nothing changes but the memory.
 */
export function fetchCollector(): Collect | undefined {
  try {
    v8.setFlagsFromString('--expose-gc')
    const gc: unknown = vm.runInNewContext('typeof gc === "function" ? gc : undefined')
    return typeof gc === 'function' ? (gc as Collect) : undefined
  } catch {
    return undefined
  } finally {
    v8.setFlagsFromString('--no-expose-gc')
  }
}

/** A counter that scavenges each time another `every` bytes have been handed to it. */
export function youngCollector(every: number): (bytes: number) => void {
  const collect = fetchCollector()
  let since = 0
  return (bytes) => {
    since += bytes
    if (!collect || since < every) return
    since = 0
    collect({ type: 'minor', execution: 'sync' })
  }
}
