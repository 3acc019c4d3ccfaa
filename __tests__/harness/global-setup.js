import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CODEX_VERSION, sharedToolCache, TEST_API_KEY } from './real-cli.js'
import { Runner } from './runner.js'

/**
 * One directory per test run, shared by the workers, and the real CLI downloaded into its
 * tool cache once, through the action, before any test: tests that run side by side then
 * find it there, and none sees another's install half-way (its staging directory).
 */
export default async function globalSetup() {
  process.env.CODEX_AUTH_TEST_SHARED = mkdtempSync(join(tmpdir(), 'codex-auth-tests-'))
  const runner = await Runner.create({ toolCache: sharedToolCache() })
  try {
    const main = await runner.main({ 'api-key': TEST_API_KEY, 'codex-version': CODEX_VERSION })
    if (main.exitCode !== 0)
      throw new Error(
        `installing the real Codex CLI ${CODEX_VERSION} for the tests failed:\n${main.stdout}${main.stderr}`
      )
    await runner.post()
  } finally {
    await runner.dispose()
  }
}
