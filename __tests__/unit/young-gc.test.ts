/**
 * The extraction's scavenges (src/install/young-gc.ts): V8 runs a young-generation
 * collection each time another `every` bytes have passed, and `gc` stays out of sight.
 */
import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import * as vm from 'node:vm'
import { youngCollector } from '../../src/install/young-gc.js'

/**
 * The minor collections that began while each call ran: the calls are synchronous, so a
 * collection that starts inside one's window is its own (V8 collects on its own at other times).
 */
async function minorCollectionsDuring(calls: (() => void)[]): Promise<number[]> {
  const seen: PerformanceEntry[] = []
  const observer = new PerformanceObserver((list) => seen.push(...list.getEntries()))
  observer.observe({ entryTypes: ['gc'] })
  const windows = calls.map((call) => {
    const start = performance.now()
    call()
    return [start, performance.now()]
  })
  // Entries are delivered on a later turn of the event loop.
  await new Promise((resolve) => setTimeout(resolve, 50))
  observer.disconnect()
  const minor = seen.filter(
    (entry) => (entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR
  )
  return windows.map(([start, end]) => minor.filter((e) => e.startTime >= start && e.startTime <= end).length)
}

test('one scavenge each time another `every` bytes have passed, none before', async () => {
  const collect = youngCollector(8)
  expect(
    await minorCollectionsDuring([
      () => collect(7),
      () => collect(1),
      () => collect(5),
      () => collect(3),
      () => collect(20)
    ])
  ).toEqual([0, 1, 0, 1, 1])
})

test('gc is lent to no other context, and not to this one', () => {
  youngCollector(1)
  expect(vm.runInNewContext('typeof gc')).toBe('undefined')
  expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined')
})
