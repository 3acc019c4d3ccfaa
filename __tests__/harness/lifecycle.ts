/**
 * One lifecycle for every black-box test file: runners made for a test are disposed after
 * it, and so audited (harness/audit.js: leaks, half states, the user's files, workflow
 * commands, the CLI's environment, processes left running); servers it started are
 * stopped once its runners are gone. Every disposal and stop runs even when one fails, and
 * the test then fails with all of them.
 */
import { Runner, type RunnerOptions } from './runner.js'

/** A loopback server, fake API or proxy of the harness: stopped after the test. */
interface Stoppable {
  stop(): Promise<unknown>
}

interface Server extends Stoppable {
  start(): Promise<unknown>
}

export interface TestRunners {
  /** A runner for the running test, disposed and audited after it. */
  create(options?: RunnerOptions): Promise<Runner>
  /** Starts `server` and stops it after the test. */
  serve<T extends Server>(server: T): Promise<T>
  /** Stops `server`, started already (registryWithRelease), after the test. */
  stopAfter<T extends Stoppable>(server: T): T
}

export interface Hooks {
  /** Secrets that exist only after the steps ran (tokens a fake issued): each runner's audit searches for them too. */
  canaries?: () => Iterable<string>
  /** After each test, once its runners are disposed: `afterAll` for runners and servers of a whole file. */
  scope?: 'each' | 'all'
}

export function useRunners(hooks: Hooks = {}): TestRunners {
  const runners: Runner[] = []
  const servers: Stoppable[] = []
  ;(hooks.scope === 'all' ? afterAll : afterEach)(async () => {
    const extra = [...(hooks.canaries?.() ?? [])]
    // One at a time, newest first: a later runner may use an earlier one's directories (its
    // tool cache), which that one's disposal deletes, so it must be audited before.
    const disposed: PromiseSettledResult<void>[] = []
    for (const runner of runners.splice(0).reverse()) {
      for (const secret of extra) runner.canaries.add(secret)
      disposed.push(...(await Promise.allSettled([runner.dispose()])))
    }
    const stopped = await Promise.allSettled(servers.splice(0).map((server) => server.stop()))
    const failed = [...disposed, ...stopped].flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []))
    if (failed.length === 1) throw failed[0]
    if (failed.length) throw new Error(failed.map((e) => e.message ?? String(e)).join('\n\n'))
  })
  return {
    async create(options = {}) {
      const runner = await Runner.create(options)
      runners.push(runner)
      return runner
    },
    async serve(server) {
      await server.start()
      servers.push(server)
      return server
    },
    stopAfter(server) {
      servers.push(server)
      return server
    }
  }
}
