import { randomBytes } from 'node:crypto'
import { EOL } from 'node:os'

/**
 * Text the action did not write (CLI output, log files, registry and API answers) printed
 * so that the runner never reads it as a workflow command. The runner splits output into
 * lines at CR and LF and takes a line as a command when it starts with `::` (after white
 * space) or holds `##[` anywhere. core.debug/warning/error/notice already escape CR and LF
 * into their one line, which the runner parses as our command first: only plain output
 * (core.info) needs this.
 */

/**
 * Prints multi-line untrusted text inside `::stop-commands::<token>` … `::<token>::`, with
 * a fresh random token each time, so the text cannot know it and end the block early.
 * Written as core.info writes (no import of @actions/core: the helpers' bundles use
 * `inline` and would load it, and undici with it, for nothing).
 */
export function printUntrusted(text: string): void {
  const token = randomBytes(16).toString('hex')
  process.stdout.write(`::stop-commands::${token}${EOL}${text}${EOL}::${token}::${EOL}`)
}

/**
 * A short untrusted value made safe inside one of our own lines: CR and LF escaped the way
 * the runner escapes them, so it cannot start a line; `##[` broken, so it is no command.
 */
export function inline(value: string): string {
  return value.replace(/\r/g, '%0D').replace(/\n/g, '%0A').replace(/##\[/g, '##%5B')
}
