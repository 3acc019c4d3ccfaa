/**
 * The extraction's scavenges (src/install/young-gc.ts): V8 runs a young-generation
 * collection each time another `every` bytes have passed, and `gc` stays out of sight.
 */
import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import * as vm from 'node:vm'
import { fetchCollector, youngCollector } from '../../src/install/young-gc.js'

const { NODE_PERFORMANCE_GC_MINOR: MINOR, NODE_PERFORMANCE_GC_MAJOR: MAJOR } = constants

/**
 * The young and full collections that began while each call ran (incremental-marking steps
 * are not counted): the calls are synchronous and allocate nothing, so a collection that
 * starts inside one's window is its own.
 */
async function collectionsDuring(calls: (() => void)[]): Promise<number[][]> {
  const seen: PerformanceEntry[] = []
  const observer = new PerformanceObserver((list) => seen.push(...list.getEntries()))
  observer.observe({ entryTypes: ['gc'] })
  const windows = calls.map((call) => {
    const start = performance.now()
    call()
    return [start, performance.now()]
  })
  const kinds = () =>
    windows.map(([start, end]) =>
      seen
        .filter((entry) => entry.startTime >= start && entry.startTime <= end)
        .map((entry) => (entry as { detail?: { kind?: number } }).detail?.kind ?? 0)
        .filter((kind) => kind & (MINOR | MAJOR))
    )
  // Entries arrive in order on later turns of the event loop, later still on a loaded machine:
  // wait until the last call's collection is in, polling every 20 ms, 250 times at the most.
  for (let polls = 0; kinds().at(-1)?.length === 0 && polls < 250; polls++) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  observer.disconnect()
  return kinds()
}

test('one scavenge each time another `every` bytes have passed, none before', async () => {
  // A full collection first ends any incremental marking and leaves the old generation
  // room, so that V8 need not carry out a requested scavenge as a full collection.
  fetchCollector()!({ type: 'major', execution: 'sync' })
  const collect = youngCollector(8)
  const collections = await collectionsDuring([
    () => collect(7),
    () => collect(1),
    () => collect(5),
    () => collect(3),
    () => collect(20)
  ])
  expect(collections.map((kinds) => kinds.length)).toEqual([0, 1, 0, 1, 1])
  // Young ones: should a loaded worker's V8 still turn one into a full collection, not all three.
  expect(collections.flat()).toContain(MINOR)
})

test('gc is lent to no other context, and not to this one', () => {
  youngCollector(1)
  expect(vm.runInNewContext('typeof gc')).toBe('undefined')
  expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined')
})
