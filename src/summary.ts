import * as core from '@actions/core'
import type { CaCertificate } from './ca.js'

/** What a run did, gathered as it goes, for the job summary. Never a secret. */
export interface RunReport {
  version?: string
  source?: string
  mode?: string
  fingerprint?: string
  expiresAt?: Date
  verified?: boolean
  caCertificates?: CaCertificate[]
  exported: string[]
  /** Rows of the credential source's own (see Authenticated.summary). */
  details?: [string, string][]
  error?: string
}

/** Appends a table to the job summary; without GITHUB_STEP_SUMMARY, nothing. A failure is a warning. */
export async function writeSummaryTable(heading: string, rows: [string, string][]): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  // One line of HTML text per cell: a line break could end the table's HTML block and let
  // text from a registry or an API render as markdown (a heading, a link).
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/[\r\n]+/g, ' ')
  try {
    await core.summary.addHeading(heading, 3).addTable(rows.map(([name, value]) => [{ data: name, header: true }, escape(value)])).write()
  } catch (error) {
    core.warning(`Could not write the job summary: ${(error as Error).message}`)
  }
}

/** Writes the job summary, on success and on failure alike; without GITHUB_STEP_SUMMARY, nothing. */
export async function writeSummary(report: RunReport): Promise<void> {
  const row = (name: string, value: string): [string, string] => [name, value]
  await writeSummaryTable('Codex CLI auth', [
    row('Result', report.error ? `❌ ${report.error}` : '✅ logged in'),
    row('Codex CLI', report.version ? `${report.version} (${report.source ?? ''})` : 'not installed'),
    row('Auth mode', report.mode ?? '—'),
    row('Credential fingerprint', report.fingerprint ?? '—'),
    row('Verified', report.verified ? 'yes, live' : 'no (verify: false)'),
    row('Expires', report.expiresAt ? report.expiresAt.toISOString() : '—'),
    row('CA certificates', report.caCertificates?.map((c) => `${c.subject} (expires ${c.validTo})`).join('; ') || 'none'),
    row('Exported', report.exported.join(', ') || 'nothing'),
    ...(report.details ?? [])
  ])
}
