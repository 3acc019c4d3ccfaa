/**
 * The OIDC token refresher: a detached process the main step starts in workload-identity
 * mode. It reads its configuration (the request token included) from stdin, fetches a new
 * token half-way through the current one's life, and replaces the token file atomically.
 * It stops when the post step leaves a stop file in its directory, when that directory
 * is gone, or at its deadline; it prints nothing, and no one signals it.
 */
import { existsSync, promises as fs } from 'node:fs'
import * as path from 'node:path'
import { replaceFile } from '../../job/files.js'
import { describeFailure } from '../../net/failures.js'
import { requestIdToken } from '../../net/github-oidc.js'
import { HttpClient } from '../../net/http.js'
import { STOP_POLL_MS, stopRequested } from '../stop-file.js'
import { refreshDelay, type RefresherConfig, type RefresherStatus } from './protocol.js'

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

/** Runs until a stop request, the directory's removal or the deadline; then exits. */
export async function run(): Promise<void> {
  const config = JSON.parse(await readStdin()) as RefresherConfig
  const http = new HttpClient({ ca: config.ca, idleTimeoutMs: config.idleTimeoutMs })
  const status: RefresherStatus = { pid: process.pid, state: 'running', refreshes: 0 }
  const dir = path.dirname(config.file)
  const writeStatus = () => replaceFile(config.statusFile, JSON.stringify(status)).catch(() => undefined)
  const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

  let token = await fs.readFile(config.file, 'utf8')
  let obtainedAt = Date.now()
  let failures = 0
  let due = Date.now() + refreshDelay(token, obtainedAt, Date.now())
  await writeStatus()
  while (!stopRequested(dir, config.deadline)) {
    if (Date.now() < due) {
      await sleep(Math.min(STOP_POLL_MS, due - Date.now()))
      continue
    }
    try {
      token = await requestIdToken(http, config.request)
      obtainedAt = Date.now()
      await replaceFile(config.file, token)
      failures = 0
      status.refreshes++
      status.lastRefresh = new Date(obtainedAt).toISOString()
      due = Date.now() + refreshDelay(token, obtainedAt, Date.now())
    } catch (error) {
      failures++
      status.lastError = describeFailure(error)
      due = Date.now() + Math.min(30_000, 1000 * 2 ** (failures - 1))
    }
    await writeStatus()
  }
  status.state = 'stopped'
  if (existsSync(dir)) await writeStatus()
  await http.close()
  process.exit(0)
}
