import * as core from '@actions/core'
import { grouped, type Tally, type UsageReport } from '../helpers/key-proxy/usage.js'
import { CODEX_HOLDS_IT, type SpendCaps } from '../inputs/spend.js'
import { writeSummaryGrid } from '../job/summary.js'
import { inline } from '../secrets/inert-output.js'

const HEADING = 'Codex token usage'
const COLUMNS = ['Model', 'Requests', 'Input tokens', 'Cached input', 'Output tokens', 'Reasoning', 'Total tokens']

const cells = (tally: Tally): string[] =>
  [
    tally.requests,
    tally.input_tokens,
    tally.cached_input_tokens,
    tally.output_tokens,
    tally.reasoning_tokens,
    tally.total_tokens
  ].map(grouped)

const line = (tally: Tally): string =>
  `${grouped(tally.requests)} requests, ${grouped(tally.input_tokens)} input tokens (${grouped(tally.cached_input_tokens)} cached), ` +
  `${grouped(tally.output_tokens)} output (${grouped(tally.reasoning_tokens)} reasoning), ${grouped(tally.total_tokens)} total`

/** The caps as the log and the summary name them, or undefined without any. */
export function describeCaps({ maxTokens, maxRequests, allowedModels }: SpendCaps): string | undefined {
  const caps = [
    maxTokens !== undefined && `max-tokens ${grouped(maxTokens)}`,
    maxRequests !== undefined && `max-requests ${grouped(maxRequests)}`,
    allowedModels && `allowed-models ${allowedModels.join(', ')}`
  ].filter(Boolean)
  return caps.length ? caps.join('; ') : undefined
}

/** What the caps were and did, or undefined without any. */
function capsNote({ limits, refused_requests: refused }: UsageReport): string | undefined {
  const caps = describeCaps({
    maxTokens: limits.max_tokens,
    maxRequests: limits.max_requests,
    allowedModels: limits.allowed_models
  })
  if (!caps && !refused) return undefined
  return `Caps: ${caps ?? 'none'}; ${grouped(refused)} requests refused by them, never sent.`
}

/** The post step's report of the key proxy's usage file: in the log, and as a table in the job summary. */
export async function reportUsage(report: UsageReport): Promise<void> {
  const models = Object.entries(report.by_model).sort(([a], [b]) => a.localeCompare(b))
  core.info(`Token usage in this job, as the upstream reported it: ${line(report)}.`)
  // A model name is whatever a request said (any process of the job can send one): quoted and escaped, so no line of it is a command.
  for (const [model, tally] of models) core.info(`  ${inline(JSON.stringify(model))}: ${line(tally)}`)
  const caps = capsNote(report)
  // A cap that stopped Codex is worth an annotation: the job's own steps may not show why they failed.
  // core.warning escapes its own message; a plain line needs inline.
  if (caps) {
    if (report.refused_requests) core.warning(caps)
    else core.info(inline(caps))
  }
  const unreported = report.unreported_requests
    ? `${grouped(report.unreported_requests)} requests ended without a usage report (failed or cut off): their tokens are not in these figures.`
    : undefined
  if (unreported) core.info(unreported)
  // Fail closed (usage.ts): with max-tokens, a request whose usage is unknown counts the cap as reached.
  const unmetered = report.unmetered_requests
    ? `Of those, ${grouped(report.unmetered_requests)} may have been billed (the answer was cut off before its last event, or still running when the key proxy stopped reading it)` +
      (report.limits.max_tokens !== undefined
        ? ': max-tokens counted as reached from the first of them, so every later model request was refused.'
        : '.')
    : undefined
  if (unmetered) core.warning(unmetered)
  await writeSummaryGrid(
    HEADING,
    COLUMNS,
    [...models.map(([model, tally]) => [model, ...cells(tally)]), ['Total', ...cells(report)]],
    [caps, unreported, unmetered].filter(Boolean).join(' ') || undefined
  )
}

/** Without the key proxy nothing sees Codex's requests: the summary says so. */
export async function reportNoUsage(): Promise<void> {
  await writeSummaryGrid(
    HEADING,
    COLUMNS,
    [],
    `Not counted: token usage is counted by the key proxy, which did not hold this job's credential (${CODEX_HOLDS_IT}). To count and cap usage, set key-isolation: proxy (an error then names anything that stands in its way).`
  )
}
