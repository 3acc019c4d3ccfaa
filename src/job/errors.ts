/**
 * A failure the user can fix. Its message is shown as it is, as the step's one
 * `::error::` line: it says what is wrong (naming the input) and what to do, and never
 * holds a secret.
 */
export class UserError extends Error {
  override name = 'UserError'
}

/** The one line a failure is reported with: ours as written, anything else as a bug. */
export function errorLine(error: unknown): string {
  if (error instanceof UserError) return error.message
  const message = error instanceof Error ? error.message : String(error)
  return `Unexpected failure: ${message}. This is a bug in codex-auth-action; please report it with the step's log.`
}
