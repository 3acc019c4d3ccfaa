/**
 * The extraction's scavenges (src/install/young-gc.ts): V8 runs a young-generation
 * collection each time another `every` bytes have passed, and `gc` stays out of sight.
 */
import { constants, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks'
import * as vm from 'node:vm'
import { youngCollector } from '../../src/install/young-gc.js'

/**
 * Whether a collection began while each call ran: the calls are synchronous and allocate
 * nothing, so a collection that starts inside one's window is its own. V8 may carry out a
 * requested scavenge as a full collection when the old generation is under pressure (a loaded
 * jest worker), so any young or full collection counts; incremental-marking steps do not.
 */
async function collectedDuring(calls: (() => void)[]): Promise<boolean[]> {
  const seen: PerformanceEntry[] = []
  const observer = new PerformanceObserver((list) => seen.push(...list.getEntries()))
  observer.observe({ entryTypes: ['gc'] })
  const windows = calls.map((call) => {
    const start = performance.now()
    call()
    return [start, performance.now()]
  })
  const collections = constants.NODE_PERFORMANCE_GC_MINOR | constants.NODE_PERFORMANCE_GC_MAJOR
  const tally = () =>
    windows.map(([start, end]) =>
      seen.some(
        (entry) =>
          ((entry as { detail?: { kind?: number } }).detail?.kind ?? 0) & collections &&
          entry.startTime >= start &&
          entry.startTime <= end
      )
    )
  // Entries arrive on later turns of the event loop, later still on a loaded machine: wait
  // until the last call's collection is in (entries arrive in order), for at most 5 s.
  for (let waited = 0; !tally().at(-1) && waited < 5000; waited += 20) {
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  observer.disconnect()
  return tally()
}

test('one scavenge each time another `every` bytes have passed, none before', async () => {
  const collect = youngCollector(8)
  expect(
    await collectedDuring([() => collect(7), () => collect(1), () => collect(5), () => collect(3), () => collect(20)])
  ).toEqual([false, true, false, true, true])
})

test('gc is lent to no other context, and not to this one', () => {
  youngCollector(1)
  expect(vm.runInNewContext('typeof gc')).toBe('undefined')
  expect(typeof (globalThis as { gc?: unknown }).gc).toBe('undefined')
})
