import * as core from '@actions/core'

/** Everything the main step hands to the post step, by name, in one place. */
export enum StateKey {
  /** JSON array of paths the main step created, removed whole by the post step. */
  CreatedPaths = 'created-paths',
  /** JSON array of diagnostics (the login log of a failed login), kept for an upload step until the post step. */
  DiagnosticPaths = 'diagnostic-paths',
  /** The OIDC token refresher's private directory, where the post step asks it to stop; empty once it has. */
  RefresherDir = 'refresher-dir',
  /** The key proxy's private directory: the post step stops it through a file there and reads its report. */
  KeyProxyDir = 'key-proxy-dir',
  /** What the key proxy's stop file must hold, so that no other process of the job can stop it. */
  KeyProxyStopToken = 'key-proxy-stop-token',
  /** The egress proxy's private directory (codex-network): the post step stops it there and reads its report. */
  EgressDir = 'egress-dir',
  /** What the egress proxy's stop file must hold. */
  EgressStopToken = 'egress-stop-token',
  /** The name of the credential source the main step chose, whose post step part runs first. */
  Source = 'source',
  /** JSON: what the ChatGPT source's post step compares and where it persists (hashes and names, never a token). */
  Chatgpt = 'chatgpt'
}

/**
 * What this process saved: the runner hands state to the post step only, but the main
 * step's own failure path reads it too (to stop a helper it started).
 */
const savedHere = new Map<StateKey, string>()

export function saveValue(key: StateKey, value: string): void {
  savedHere.set(key, value)
  core.saveState(key, value)
}

/**
 * Saves every key, empty, before anything else. The runner sets STATE_* for the post step
 * only from keys the main step saved, over the job's environment: a key left unsaved
 * could come from a later step's GITHUB_ENV instead.
 */
export function claimState(): void {
  for (const key of Object.values(StateKey)) saveValue(key, '')
}

export function saveList(key: StateKey, values: readonly string[]): void {
  saveValue(key, JSON.stringify(values))
}

/** The list the main step saved; empty when it saved none or the value is unreadable. */
export function readList(key: StateKey): string[] {
  const raw = readValue(key)
  if (!raw) return []
  try {
    const parsed: unknown = JSON.parse(raw)
    return Array.isArray(parsed) ? parsed.filter((v): v is string => typeof v === 'string') : []
  } catch {
    return []
  }
}

/** A value saved by this process, or else by the main step for the post step. */
export function readValue(key: StateKey): string {
  return savedHere.get(key) ?? core.getState(key)
}
