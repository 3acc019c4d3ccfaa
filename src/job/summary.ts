import * as core from '@actions/core'

/** Appends a table to the job summary; without GITHUB_STEP_SUMMARY, nothing. A failure is a warning. */
export async function writeSummaryTable(heading: string, rows: [string, string][]): Promise<void> {
  if (!process.env.GITHUB_STEP_SUMMARY) return
  // One line of HTML text per cell: a line break could end the table's HTML block and let
  // text from a registry or an API render as markdown (a heading, a link).
  const escape = (text: string) =>
    text
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/[\r\n]+/g, ' ')
  try {
    await core.summary
      .addHeading(heading, 3)
      .addTable(rows.map(([name, value]) => [{ data: name, header: true }, escape(value)]))
      .write()
  } catch (error) {
    core.warning(`Could not write the job summary: ${(error as Error).message}`)
  }
}
