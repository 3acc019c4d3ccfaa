import { writeSummaryTable } from '../job/summary.js'
import type { CaCertificate } from '../net/ca-bundle.js'

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
    row(
      'CA certificates',
      report.caCertificates?.map((c) => `${c.subject} (expires ${c.validTo})`).join('; ') || 'none'
    ),
    row('Exported', report.exported.join(', ') || 'nothing'),
    ...(report.details ?? [])
  ])
}
