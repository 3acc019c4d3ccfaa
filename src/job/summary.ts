import * as core from '@actions/core'

/**
 * One line of HTML text per cell: a line break could end the table's HTML block and let
 * text from a registry or an API render as markdown (a heading, a link).
 */
function escape(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/[\r\n]+/g, ' ')
}

/** Appends a table of name, value rows to the job summary; without GITHUB_STEP_SUMMARY, nothing. A failure is a warning. */
export async function writeSummaryTable(heading: string, rows: [string, string][]): Promise<void> {
  await writeSummary(heading, (summary) =>
    summary.addTable(rows.map(([name, value]) => [{ data: name, header: true }, escape(value)]))
  )
}

/** Appends a table with a header row, then `note` as a paragraph (either may be left out). */
export async function writeSummaryGrid(
  heading: string,
  header: string[],
  rows: string[][],
  note?: string
): Promise<void> {
  await writeSummary(heading, (summary) => {
    if (rows.length)
      summary.addTable([header.map((data) => ({ data, header: true })), ...rows.map((row) => row.map(escape))])
    return note ? summary.addRaw(`<p>${escape(note)}</p>`, true) : summary
  })
}

async function writeSummary(
  heading: string,
  body: (summary: typeof core.summary) => typeof core.summary
): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  try {
    await body(core.summary.addHeading(heading, 3)).write()
  } catch (error) {
    core.warning(`Could not write the job summary: ${(error as Error).message}`)
  }
}
