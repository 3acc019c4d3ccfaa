import type { CodexHome } from '../codex/home.js'
import type { AuthMode, Inputs } from '../inputs/inputs.js'
import { type CreatedPaths } from '../job/created-paths.js'
import type { WrittenCa } from '../net/ca-bundle.js'
import type { HttpClient } from '../net/http.js'

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
  /** Step outputs of the source's own (name, value); never a secret. */
  outputs?: Record<string, string>
}

/**
 * One run's credential source, bound to the inputs that chose it: whatever it learns
 * between its stages (the key it chose, say) lives in the object, never in a module.
 */
export interface CredentialSource {
  /** The mode it authenticates with, known before anything runs (for the config checks). */
  readonly mode: AuthMode
  /** The variable export-env puts the secret in, for a source that has one to export. */
  readonly secretVariable?: string
  /** Refusals that need neither the network nor the disk, before anything is written or downloaded. */
  check?(): void
  /**
   * Settings this source needs in config.toml (merged over the user's config), such as the
   * provider Codex talks to; it may start a helper whose address they name.
   */
  configFor?(ctx: ConfigContext): Promise<Record<string, unknown>>
  /** Makes later steps authenticated: a login, a helper process, … Throws a UserError for what the user can fix. */
  authenticate(ctx: SourceContext): Promise<Authenticated>
}

/**
 * A kind of credential source: which inputs choose it, and what outlives the main step.
 * main saves the chosen kind's name for the post step; `stop` and `post` find anything
 * else they need in the kind's own state keys.
 */
export interface SourceKind {
  readonly name: string
  /** Its requests go through the key proxy, which reports their usage as it stops. */
  readonly metered?: boolean
  /** This run's source, or undefined when the workflow chose another kind. */
  select(inputs: Inputs): CredentialSource | undefined
  /**
   * Stops the helper process `authenticate` started, found through state, and forgets it:
   * main calls it when a later stage fails, the post step before `post`.
   */
  stop?(): Promise<void>
  /**
   * The post step's part, before the job's files are removed (keep a refreshed
   * credential). A UserError fails the post step; anything else is a warning.
   */
  post?(): Promise<void>
}
