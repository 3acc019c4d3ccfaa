import { spawn } from 'node:child_process'
import { redact } from '../secrets/mask.js'

/** How long the CLI may take to start, refresh through the token endpoint and answer. */
const REFRESH_TIMEOUT_MS = 90_000

/** What `account/read` with a refresh said: the account it read, or why there is none (redacted). */
export interface RefreshAnswer {
  /** The account the CLI reads after the refresh; undefined when it has none (a refused refresh). */
  account?: unknown
  /** The JSON-RPC error, a timeout or the CLI's exit, redacted. */
  error?: string
  /** The CLI's last line on stderr, redacted: the token endpoint's refusal, when there was one. */
  stderr?: string
}

/**
 * Refreshes a ChatGPT sign-in through the CLI itself, with no model request: `codex
 * app-server` (JSON-RPC over stdio) is initialized, then asked `account/read` with
 * `refreshToken: true`, which makes it refresh through the token endpoint and rewrite
 * auth.json. Whether the file changed is for the caller to check: the answer's
 * account part also needs the ChatGPT backend (workspace routing), which may fail on its own.
 */
export function refreshThroughCli(
  binary: string,
  env: Record<string, string>,
  secrets: string[]
): Promise<RefreshAnswer> {
  return new Promise((resolve) => {
    const child = spawn(binary, ['app-server'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let answered: RefreshAnswer | undefined
    // The answer is handed back once the server has exited: no CLI outlives the step.
    const finish = (answer: RefreshAnswer) => {
      if (answered) return
      answered = answer
      clearTimeout(timer)
      child.stdin.end()
      // The server ends when its stdin closes; a hung one is killed.
      killer = setTimeout(() => child.kill('SIGKILL'), 5000)
    }
    let killer: NodeJS.Timeout | undefined
    const settle = () => {
      clearTimeout(killer)
      const answer = answered ?? { error: 'the CLI exited before it answered' }
      const lastLine = redact(stderr, secrets)
        // eslint-disable-next-line no-control-regex
        .replace(/\u001b\[[0-9;]*m/g, '')
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter((line) => line && !line.startsWith('WARNING: proceeding') && !/bubblewrap/.test(line))
        .pop()
      resolve({ ...answer, error: answer.error && redact(answer.error, secrets), stderr: lastLine })
    }
    const timer = setTimeout(() => {
      finish({ error: `no answer within ${REFRESH_TIMEOUT_MS / 1000} s` })
      child.kill('SIGKILL')
    }, REFRESH_TIMEOUT_MS)
    const send = (message: object) => child.stdin.write(`${JSON.stringify(message)}\n`)
    child.on('error', (error) => {
      finish({ error: `the CLI could not be started: ${error.message}` })
      settle()
    })
    child.on('close', settle)
    child.stdin.on('error', () => undefined)
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-16_384)
    })
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString()
      for (let end = stdout.indexOf('\n'); end >= 0; end = stdout.indexOf('\n')) {
        const line = stdout.slice(0, end)
        stdout = stdout.slice(end + 1)
        let message: { id?: unknown; result?: { account?: unknown }; error?: { message?: unknown } }
        try {
          message = JSON.parse(line) as typeof message
        } catch {
          continue
        }
        if (message.id === 1) {
          send({ method: 'initialized' })
          send({ id: 2, method: 'account/read', params: { refreshToken: true } })
        } else if (message.id === 2) {
          finish(
            message.error
              ? { error: String(message.error.message ?? 'unknown JSON-RPC error') }
              : { account: message.result?.account ?? undefined }
          )
        }
      }
    })
    send({ id: 1, method: 'initialize', params: { clientInfo: { name: 'codex-auth-action', version: '1' } } })
  })
}
