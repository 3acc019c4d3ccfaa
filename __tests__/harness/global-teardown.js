import { rmSync } from 'node:fs'

export default function globalTeardown() {
  const shared = process.env.CODEX_AUTH_TEST_SHARED
  if (shared) rmSync(shared, { recursive: true, force: true })
}
