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
  error?: string
}

/** Writes the job summary, on success and on failure alike; without GITHUB_STEP_SUMMARY, nothing. */
export async function writeSummary(report: RunReport): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  // One line of HTML text per cell: a line break could end the table's HTML block and let
  // text from a registry or an API render as markdown (a heading, a link).
  const escape = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/[\r\n]+/g, ' ')
  const row = (name: string, value: string) => [{ data: name, header: true }, escape(value)]
  const rows = [
    row('Result', report.error ? `❌ ${report.error}` : '✅ logged in'),
    row('Codex CLI', report.version ? `${report.version} (${report.source ?? ''})` : 'not installed'),
    row('Auth mode', report.mode ?? '—'),
    row('Credential fingerprint', report.fingerprint ?? '—'),
    row('Verified', report.verified ? 'yes, live' : 'no (verify: false)'),
    row('Expires', report.expiresAt ? report.expiresAt.toISOString() : '—'),
    row('CA certificates', report.caCertificates?.map((c) => `${c.subject} (expires ${c.validTo})`).join('; ') || 'none'),
    row('Exported', report.exported.join(', ') || 'nothing')
  ]
  try {
    await core.summary.addHeading('Codex CLI auth', 3).addTable(rows).write()
  } catch (error) {
    core.warning(`Could not write the job summary: ${(error as Error).message}`)
  }
}
