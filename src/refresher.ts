/**
 * The OIDC token refresher: a detached process the main step starts in workload-identity
 * mode. It reads its configuration (the request token included) from stdin, fetches a new
 * token half-way through the current one's life, and replaces the token file atomically.
 * It stops on SIGTERM (the post step), when the token's directory is gone, or at its
 * deadline; it prints nothing.
 */
import { existsSync, promises as fs } from 'node:fs'
import * as path from 'node:path'
import { describeFailure, HttpClient } from './http.js'
import { replaceFile, requestIdToken } from './oidc.js'
import { refreshDelay, type RefresherConfig, type RefresherStatus } from './workload-identity.js'

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const config = JSON.parse(await readStdin()) as RefresherConfig
const http = new HttpClient({ ca: config.ca, idleTimeoutMs: config.idleTimeoutMs })
const status: RefresherStatus = { pid: process.pid, state: 'running', refreshes: 0 }
let stopping = false
let wake: () => void = () => undefined
process.on('SIGTERM', () => {
  stopping = true
  wake()
})

const writeStatus = () => replaceFile(config.statusFile, JSON.stringify(status)).catch(() => undefined)
const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms)
    wake = () => {
      clearTimeout(timer)
      resolve()
    }
  })

let token = await fs.readFile(config.file, 'utf8')
let obtainedAt = Date.now()
let failures = 0
await writeStatus()
while (!stopping && Date.now() < config.deadline) {
  const delay = failures ? Math.min(30_000, 1000 * 2 ** (failures - 1)) : refreshDelay(token, obtainedAt, Date.now())
  await sleep(Math.min(delay, config.deadline - Date.now()))
  if (stopping || !existsSync(path.dirname(config.file))) break
  try {
    token = await requestIdToken(http, config.request)
    obtainedAt = Date.now()
    await replaceFile(config.file, token)
    failures = 0
    status.refreshes++
    status.lastRefresh = new Date(obtainedAt).toISOString()
  } catch (error) {
    failures++
    status.lastError = describeFailure(error)
  }
  await writeStatus()
}
status.state = 'stopped'
if (existsSync(path.dirname(config.file))) await writeStatus()
await http.close()
process.exit(0)
