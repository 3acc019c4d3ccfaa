import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** One directory per test run, shared by the workers: the real CLI is downloaded into its tool cache once. */
export default function globalSetup() {
  process.env.CODEX_AUTH_TEST_SHARED = mkdtempSync(join(tmpdir(), 'codex-auth-tests-'))
}
