import type { WrittenCa } from '../ca.js'
import type { CreatedPaths } from '../cleanup.js'
import type { CodexHome } from '../codex.js'
import type { HttpClient } from '../http.js'
import type { AuthMode, Inputs } from '../inputs.js'

/** What every source gets: the validated inputs, the installed CLI, its home and the job's network settings. */
export interface SourceContext {
  inputs: Inputs
  binary: string
  version: string
  home: CodexHome
  ca?: WrittenCa
  /** The certificates the action's own HTTPS trusts (see trustAnchors in ca.ts). */
  anchors?: string[]
  http: HttpClient
  created: CreatedPaths
}

/** What a source gets before CODEX_HOME's config.toml is written. */
export type ConfigContext = Pick<SourceContext, 'inputs' | 'anchors' | 'http' | 'created'>

/** How later steps are authenticated, whatever the source. Holds no secret but `secretEnv`. */
export interface Authenticated {
  mode: AuthMode
  fingerprint: string
  expiresAt?: Date
  verified: boolean
  /** Variables later steps need. */
  env: Record<string, string>
  /** The secret as a variable, exported only with export-env. */
  secretEnv?: [string, string]
  /** Whether a `codex login` ran, so that codex-login.log means something. */
  loggedIn: boolean
  /** Rows the source adds to the job summary (name, value); never a secret. */
  summary?: [string, string][]
}

/**
 * One way to authenticate Codex, behind the same three calls: which inputs select it,
 * the main step's stage, and the post step's part. `T` is the source's own validated
 * inputs. main.ts saves the chosen source's name for the post step; each source keeps
 * anything else it needs between the two in its own state keys.
 */
export interface CredentialSource<T = unknown> {
  readonly name: string
  /** This source's inputs, or undefined when the workflow chose another source. */
  select(inputs: Inputs): T | undefined
  /** The mode it authenticates with, known before anything runs (for the config checks). */
  mode(selected: T): AuthMode
  /**
   * Settings this source needs in config.toml (merged over the user's config), such as the
   * provider Codex talks to; it may start a helper whose address they name. Optional.
   */
  configFor?(ctx: ConfigContext, selected: T): Promise<Record<string, unknown>>
  /** The variable export-env puts the secret in, for a source that has one to export. */
  secretVariable?(selected: T): string
  /** Refusals that need neither the network nor the disk, before anything is written or downloaded. */
  check?(selected: T): void
  /** Makes later steps authenticated: a login, a helper process, … Throws a UserError for what the user can fix. */
  authenticate(ctx: SourceContext, selected: T): Promise<Authenticated>
  /**
   * Stops the helper process `authenticate` started, found through the source's own state,
   * and forgets it: main calls it when a later stage fails, the post step before `post`.
   */
  stop?(): Promise<void>
  /**
   * The post step's part, before the job's files are removed (keep a refreshed
   * credential). A UserError fails the post step; anything else is a warning.
   */
  post?(): Promise<void>
}
