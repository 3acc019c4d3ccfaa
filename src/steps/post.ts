import * as core from '@actions/core'
import { stopEgressProxy } from '../helpers/egress/control.js'
import { CreatedPaths } from '../job/created-paths.js'
import { readList, StateKey } from '../job/state.js'
import { postForSavedSource } from '../sources/choose.js'

/** The post step: removes what the main step created. Never fails the job. */
export async function run(): Promise<void> {
  try {
    const created = new CreatedPaths(readList(StateKey.CreatedPaths), readList(StateKey.DiagnosticPaths))
    // The credential source first: what it started must stop before its files go.
    await postForSavedSource()
    // The egress proxy's report goes into the job summary before its directory goes.
    await stopEgressProxy()
    const failures = await created.removeAll({ diagnostics: true })
    if (failures === 0 && created.count > 0)
      core.info(`Removed the ${created.count} paths the main step created (credentials included).`)
  } catch (error) {
    core.warning(`Cleanup failed: ${(error as Error).message}`)
  }
}
