import * as core from '@actions/core'
import type { AuthMode, Inputs } from '../inputs.js'
import { readValue, saveValue, StateKey } from '../state.js'
import { federation } from './federation.js'
import type { Authenticated, CredentialSource, SourceContext } from './source.js'
import { storedSecret } from './stored-secret.js'

/** Every credential source; getInputs lets exactly one of them be selected. */
const SOURCES: readonly CredentialSource<never>[] = [storedSecret, federation] as CredentialSource<never>[]

/** The source the inputs chose, bound to its inputs: the main step's view of it. */
export interface ChosenSource {
  name: string
  mode: AuthMode
  authenticate(ctx: SourceContext): Promise<Authenticated>
}

export function chooseSource(inputs: Inputs): ChosenSource {
  for (const source of SOURCES as readonly CredentialSource<unknown>[]) {
    const selected = source.select(inputs)
    if (selected === undefined) continue
    // Saved before anything starts, so that the post step finds it after any failure.
    saveValue(StateKey.Source, source.name)
    return { name: source.name, mode: source.mode(selected), authenticate: (ctx) => source.authenticate(ctx, selected) }
  }
  // getInputs has already refused a run without a credential source.
  throw new Error('no credential source was selected')
}

/** The post step's part of the source the main step chose; a failure is a warning. */
export async function postForSavedSource(): Promise<void> {
  const name = readValue(StateKey.Source)
  const source = SOURCES.find((s) => s.name === name)
  try {
    await source?.post?.()
  } catch (error) {
    core.warning(`The post step of the ${name} credential source failed: ${(error as Error).message}`)
  }
}
