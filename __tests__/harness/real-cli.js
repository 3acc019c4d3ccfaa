/** The real Codex CLI from the npm registry, downloaded through the action once per test run. */
import * as path from 'node:path'

/** The version the real-CLI tests pin, so that a new release cannot change what they test. */
export const CODEX_VERSION = '0.171.0'

/** Test credentials: shaped like the real ones, valid nowhere. */
export const TEST_API_KEY = 'sk-proj-codexAuthActionTest0123456789abcdefXYZ'
export const TEST_PAT = 'at-codexAuthActionTestToken0123456789'

/**
 * A tool cache shared by all tests of one run (a self-hosted runner's cache, in effect).
 * @returns {string}
 */
export function sharedToolCache() {
  const shared = process.env.CODEX_AUTH_TEST_SHARED
  if (!shared) throw new Error('test bug: CODEX_AUTH_TEST_SHARED is set by the jest global setup')
  return path.join(shared, 'tool-cache')
}
