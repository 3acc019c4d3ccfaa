import { spawn, type ChildProcess } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

/** A hosted job lasts at most 6 hours; no helper process outlives that. */
export const MAX_LIFETIME_MS = 6 * 3600_000

/** What a helper process needs from the environment to reach the network: nothing secret. */
const HELPER_ENV = ['PATH', 'SystemRoot', 'TEMP', 'TMP', 'NODE_EXTRA_CA_CERTS', 'HTTPS_PROXY', 'https_proxy', 'HTTP_PROXY', 'http_proxy', 'NO_PROXY', 'no_proxy']

/**
 * Starts the bundled helper `dist/<entry>/index.js` as a detached process that outlives
 * the step, with only HELPER_ENV and its configuration (secrets included) on stdin: never
 * in argv, the environment or a file. `stdout: 'pipe'` lets it report that it is ready.
 */
export function startDetached(entry: 'refresher' | 'keyproxy', config: unknown, stdout: 'ignore' | 'pipe' = 'ignore'): ChildProcess & { pid: number } {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', entry, 'index.js')
  const env: Record<string, string> = {}
  for (const name of HELPER_ENV) {
    const value = process.env[name]
    if (value !== undefined) env[name] = value
  }
  const child = spawn(process.execPath, [script], { detached: true, stdio: ['pipe', stdout, 'ignore'], env, windowsHide: true })
  if (child.pid === undefined) throw new Error(`the ${entry} helper process did not start`)
  child.stdin?.end(JSON.stringify(config))
  return child as ChildProcess & { pid: number }
}
