import * as core from '@actions/core'
import type { AuthMode, Inputs } from '../inputs/inputs.js'
import { UserError } from '../job/errors.js'
import { readValue, saveValue, StateKey } from '../job/state.js'
import { amazonBedrock } from './bedrock.js'
import { accessTokenProxy } from './access-token-proxy.js'
import { chatgpt, chatgptProxy } from './chatgpt/source.js'
import { keyProxy } from './key-proxy.js'
import type { Authenticated, ConfigContext, SourceContext, SourceKind } from './source.js'
import { storedSecret } from './stored-secret.js'
import { reportNoUsage } from './usage-report.js'
import { workloadIdentity, workloadIdentityProxy } from './workload-identity.js'

/**
 * Every credential source, in the order they are asked: the first whose inputs are set is
 * chosen (an api-key with key-isolation: proxy, before the plain login).
 */
const SOURCES: readonly SourceKind[] = [
  amazonBedrock,
  keyProxy,
  accessTokenProxy,
  storedSecret,
  workloadIdentityProxy,
  workloadIdentity,
  chatgptProxy,
  chatgpt
]

/** The source the inputs chose, bound to its inputs: the main step's view of it. */
export interface ChosenSource {
  name: string
  mode: AuthMode
  /** The variable export-env puts the secret in, if any. */
  secretVariable?: string
  configFor(ctx: ConfigContext): Promise<Record<string, unknown>>
  authenticate(ctx: SourceContext): Promise<Authenticated>
  /** Stops what it started, when a later stage of the main step fails. */
  stop(): Promise<void>
}

export function chooseSource(inputs: Inputs): ChosenSource {
  for (const kind of SOURCES) {
    const source = kind.select(inputs)
    if (!source) continue
    // Saved before anything starts, so that the post step finds it after any failure.
    saveValue(StateKey.Source, kind.name)
    source.check?.()
    return {
      name: kind.name,
      mode: source.mode,
      secretVariable: source.secretVariable,
      configFor: async (ctx) => (source.configFor ? source.configFor(ctx) : {}),
      authenticate: (ctx) => source.authenticate(ctx),
      stop: async () => kind.stop?.()
    }
  }
  // getInputs has already refused a run without a credential source.
  throw new Error('no credential source was selected')
}

/**
 * The post step's part of the source the main step chose. A UserError (a refreshed
 * credential that could not be kept) fails the post step; any other failure is a warning.
 */
export async function postForSavedSource(): Promise<void> {
  const name = readValue(StateKey.Source)
  const source = SOURCES.find((s) => s.name === name)
  try {
    await source?.stop?.()
    // The key proxy reports the job's usage as it stops; no other source sees the requests.
    if (source && !source.metered) await reportNoUsage()
    await source?.post?.()
  } catch (error) {
    if (error instanceof UserError) core.setFailed(error.message)
    else core.warning(`The post step of the ${name} credential source failed: ${(error as Error).message}`)
  }
}
