import * as core from '@actions/core'
import { createHash } from 'node:crypto'

/**
 * Registers a secret with the runner's log masker: the whole value and each line of it
 * (the runner masks line by line, so a multi-line value needs both).
 */
export function maskSecret(value: string): void {
  if (!value) return
  setSecretOnce(value)
  for (const line of value.split(/\r?\n/)) {
    const trimmed = line.trim()
    if (trimmed && trimmed !== value) setSecretOnce(trimmed)
  }
}

/** Values this process has masked: a step that reads a secret twice (the proxy's stop, then the post step) masks it once, before its other output. */
const masked = new Set<string>()

/** core.setSecret, once per value. */
export function setSecretOnce(value: string): void {
  if (masked.has(value)) return
  masked.add(value)
  core.setSecret(value)
}

/**
 * A short, stable name for a credential: `sha256:` and the first 16 hex digits of the
 * SHA-256 of the exact value. A maintainer gets the same with
 * `printf %s "$SECRET" | sha256sum | cut -c1-16`.
 */
export function fingerprint(secret: string): string {
  return `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex').slice(0, 16)}`
}

/**
 * Removes every trace of the secrets from text the CLI printed before it reaches the
 * log: the value and its base64, URL and JSON encodings. Exact masking is not enough:
 * `codex login status` prints an API key as its first 8 and last 5 characters around
 * `***`, which the runner's masker does not recognise.
 */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text
  for (const secret of secrets) {
    if (!secret) continue
    // Encoded forms first, while the raw value inside them is still whole.
    const forms = [
      Buffer.from(secret).toString('base64'),
      Buffer.from(secret).toString('base64').replace(/=+$/, ''),
      Buffer.from(secret).toString('base64url'),
      encodeURIComponent(secret),
      JSON.stringify(secret).slice(1, -1),
      secret
    ]
    for (const form of forms) out = out.split(form).join('***')
    if (secret.length > 13) {
      out = out.split(`${secret.slice(0, 8)}***${secret.slice(-5)}`).join('***')
      out = out.split(secret.slice(-5)).join('***')
    }
  }
  return out
}
