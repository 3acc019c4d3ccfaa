import { createHash } from 'node:crypto'
import { UserError } from '../job/errors.js'
import { maskSecret, setSecretOnce } from '../secrets/mask.js'

/** The three tokens of a ChatGPT sign-in, as `codex login` stores them in auth.json. */
const TOKEN_NAMES = ['id_token', 'access_token', 'refresh_token'] as const
type TokenName = (typeof TOKEN_NAMES)[number]

/** Where the id_token and access_token keep the account's claims. */
export const AUTH_CLAIMS = 'https://api.openai.com/auth'
/** A real auth.json is about 4 KB; anything far larger is not one. */
const MAX_BYTES = 64 * 1024
/** JWT segments shorter than this (an unsigned token's `e30`) would mask ordinary text. */
const MIN_MASKED_SEGMENT = 16

/**
 * The mark of an access-only copy (shared-secret): a top-level key the CLI ignores, naming
 * where the copy came from. Its values are names, not secrets.
 */
export const ACCESS_ONLY_KEY = 'codex_auth_action_shared_copy'

/** What an access-only copy says about its refresher (shown inert: the secret's text is not the action's). */
export interface AccessOnlyMark {
  /** The workflow that wrote it (GITHUB_WORKFLOW of the refresher job). */
  workflow?: string
  /** The secret that holds the full file. */
  fullSecret?: string
}

/** A validated ChatGPT-mode auth.json: what the action logs and decides with, and the exact text it writes. */
export interface ChatgptAuth {
  /** The file's text, exactly as given (the CLI rewrites it when it refreshes). */
  text: string
  tokens: Record<TokenName, string>
  accountId: string
  planType?: string
  lastRefresh?: Date
  /** The access token's `exp`, when it is a JWT that has one. */
  accessExpiresAt?: Date
  /** Set for an access-only copy: no refresh token, never refreshed or written back. */
  accessOnly?: AccessOnlyMark
}

/** The SHA-256 of a file's content, to tell in the post step whether Codex rewrote it. */
export function contentHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/**
 * The JSON text of an `auth-json` secret, stored as it is or base64-encoded (people do
 * both). Never echoes the value.
 */
export function decodeAuthJson(raw: string): string {
  const value = raw.trim()
  if (Buffer.byteLength(value) > MAX_BYTES) {
    throw new UserError(
      `auth-json is larger than ${MAX_BYTES / 1024} KB, so it is not an auth.json. Store the content of the auth.json that \`codex login\` wrote.`
    )
  }
  if (value.startsWith('{')) return value
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(value.replace(/\s+/g, ''))) {
    const decoded = Buffer.from(value.replace(/\s+/g, ''), 'base64').toString('utf8').trim()
    if (decoded.startsWith('{')) return decoded
  }
  throw new UserError(
    'auth-json is neither JSON nor base64-encoded JSON. Store the content of the auth.json that `codex login` wrote on a trusted machine, ' +
      'as it is or base64-encoded (base64 -w0 ~/.codex/auth.json).'
  )
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A JWT's payload, read without verifying anything; undefined for anything else. */
export function jwtPayload(token: string): Record<string, unknown> | undefined {
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  try {
    const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'))
    return isObject(payload) ? payload : undefined
  } catch {
    return undefined
  }
}

/** A date that Date can represent, or undefined (an `exp` of 1e300 cannot be printed). */
function validDate(ms: number): Date | undefined {
  const date = new Date(ms)
  return Number.isNaN(date.getTime()) ? undefined : date
}

/**
 * Registers each token with the runner's masker, and each long segment of the JWTs, so
 * that no part of a token that some tool splits or decodes can be printed.
 */
function maskToken(token: string): void {
  maskSecret(token)
  for (const segment of token.split('.'))
    if (segment.length >= MIN_MASKED_SEGMENT && segment !== token) maskSecret(segment)
}

/** Every `"…token…": "value"` pair of the text as written: JSON.parse keeps only the last of repeated keys, the text keeps them all. */
const TOKEN_PAIR = /"[^"\\]*token[^"\\]*"\s*:\s*("(?:[^"\\]|\\.)*")/gi

function maskTokens(tokens: Record<string, unknown>, text: string): void {
  for (const token of Object.values(tokens)) if (typeof token === 'string') maskToken(token)
  for (const [, literal] of text.matchAll(TOKEN_PAIR)) {
    try {
      const token: unknown = JSON.parse(literal)
      if (typeof token === 'string') maskToken(token)
    } catch {
      // Not a JSON string after all: nothing to mask.
    }
  }
}

/**
 * Parses and validates a ChatGPT-mode auth.json, masking the text and every token in it
 * before any check can fail. `where` names it in errors ("auth-json", "codex-home's auth.json"); no error holds
 * any part of the value.
 */
export function parseChatgptAuth(text: string, where: string): ChatgptAuth {
  // The whole text, not line by line: a line without a token ("tokens": {) is no secret.
  setSecretOnce(text)
  const redo = 'Sign in with `codex login` on a trusted machine and store the auth.json it writes.'
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    throw new UserError(`${where} is not valid JSON. ${redo}`)
  }
  if (!isObject(parsed)) throw new UserError(`${where} is not a JSON object. ${redo}`)
  const tokens = parsed.tokens
  if (isObject(tokens)) maskTokens(tokens, text)
  if (parsed.OPENAI_API_KEY !== undefined && parsed.OPENAI_API_KEY !== null) {
    throw new UserError(
      `${where} holds an API key (OPENAI_API_KEY), not a ChatGPT sign-in. Put an API key in api-key instead, or store the auth.json of a ChatGPT sign-in.`
    )
  }
  if (parsed.personal_access_token !== undefined && parsed.personal_access_token !== null) {
    throw new UserError(
      `${where} holds a Codex access token, not a ChatGPT sign-in. Put the token in access-token instead.`
    )
  }
  if (parsed.auth_mode !== undefined && parsed.auth_mode !== 'chatgpt') {
    throw new UserError(
      `${where} has an auth_mode other than "chatgpt". Only a ChatGPT sign-in's auth.json can be used here. ${redo}`
    )
  }
  if (!isObject(tokens)) throw new UserError(`${where} has no "tokens" object, so it holds no ChatGPT sign-in. ${redo}`)
  const accessOnly = readMark(parsed[ACCESS_ONLY_KEY], where)
  if (accessOnly && tokens.refresh_token !== '')
    throw new UserError(
      `${where} is marked as an access-only copy (${ACCESS_ONLY_KEY}) but holds a refresh token. Store the copy the refresher's shared-secret wrote, or the full auth.json without that mark.`
    )
  for (const name of TOKEN_NAMES) {
    const token = tokens[name]
    // The CLI wants the key; an access-only copy keeps it empty.
    if (accessOnly && name === 'refresh_token') continue
    if (typeof token !== 'string' || !token) throw new UserError(`${where} has no tokens.${name}. ${redo}`)
    // eslint-disable-next-line no-control-regex
    if (/[\s\u0000-\u001f\u007f]/.test(token))
      throw new UserError(`${where}: tokens.${name} contains white space or a control character. ${redo}`)
  }
  const checked = tokens as Record<TokenName, string>
  const idClaims = jwtPayload(checked.id_token)
  if (!idClaims)
    throw new UserError(`${where}: tokens.id_token is not a JWT, so Codex cannot read the account from it. ${redo}`)
  const auth = isObject(idClaims[AUTH_CLAIMS]) ? idClaims[AUTH_CLAIMS] : {}
  const accountId =
    typeof tokens.account_id === 'string' && tokens.account_id ? tokens.account_id : auth.chatgpt_account_id
  if (typeof accountId !== 'string' || !accountId)
    throw new UserError(
      `${where} names no ChatGPT account (tokens.account_id, or chatgpt_account_id in the id_token). ${redo}`
    )
  let lastRefresh: Date | undefined
  if (parsed.last_refresh !== undefined && parsed.last_refresh !== null) {
    lastRefresh = typeof parsed.last_refresh === 'string' ? validDate(Date.parse(parsed.last_refresh)) : undefined
    if (!lastRefresh) throw new UserError(`${where}: last_refresh is not a timestamp. ${redo}`)
  }
  const exp = jwtPayload(checked.access_token)?.exp
  const accessExpiresAt = typeof exp === 'number' ? validDate(exp * 1000) : undefined
  if (typeof exp === 'number' && !accessExpiresAt)
    throw new UserError(`${where}: the access token's exp is not a date. ${redo}`)
  const planType =
    typeof auth.chatgpt_plan_type === 'string' && /^[\w.-]{1,40}$/.test(auth.chatgpt_plan_type)
      ? auth.chatgpt_plan_type
      : undefined
  return {
    text,
    tokens: { id_token: checked.id_token, access_token: checked.access_token, refresh_token: checked.refresh_token },
    accountId,
    planType,
    lastRefresh,
    accessExpiresAt,
    accessOnly
  }
}

/** The access-only mark, when there is one; only plain names are kept from it. */
function readMark(mark: unknown, where: string): AccessOnlyMark | undefined {
  if (mark === undefined) return undefined
  if (!isObject(mark) || mark.access_only !== true)
    throw new UserError(
      `${where} has a ${ACCESS_ONLY_KEY} key that is not the action's mark of an access-only copy. Store the copy the refresher's shared-secret wrote, unchanged.`
    )
  const name = (value: unknown) => (typeof value === 'string' && /^[\w .()/:-]{1,200}$/.test(value) ? value : undefined)
  return { workflow: name(mark.workflow), fullSecret: name(mark.full_secret) }
}

/**
 * The access-only copy of a full sign-in (shared-secret): the same file with an empty
 * refresh token (the CLI needs the key), marked so that the action recognises it.
 */
export function accessOnlyCopy(fullText: string, mark: AccessOnlyMark): string {
  const file = JSON.parse(fullText) as Record<string, unknown> & { tokens: Record<string, unknown> }
  // Only the fields a sign-in needs: whatever else a later step wrote into the file stays out of the shared secret.
  const { id_token, access_token, account_id } = file.tokens
  const copy = {
    auth_mode: file.auth_mode,
    OPENAI_API_KEY: null,
    tokens: { id_token, access_token, refresh_token: '', account_id },
    last_refresh: file.last_refresh,
    [ACCESS_ONLY_KEY]: { access_only: true, workflow: mark.workflow, full_secret: mark.fullSecret }
  }
  return JSON.stringify(copy, null, 2)
}

/** Every secret of the file, for redacting what the CLI prints. */
export function authSecrets(auth: ChatgptAuth): string[] {
  return [auth.text, ...Object.values(auth.tokens).filter(Boolean)]
}

/** True when `a` was refreshed later than `b` (a file without last_refresh is the oldest). */
export function refreshedLater(a: ChatgptAuth, b: ChatgptAuth): boolean {
  return (a.lastRefresh?.getTime() ?? -Infinity) > (b.lastRefresh?.getTime() ?? -Infinity)
}

/** "3.2 days", "5 hours": how long ago (or ahead) a moment is, for the log and the summary. */
export function age(date: Date, now = new Date()): string {
  const hours = Math.abs(now.getTime() - date.getTime()) / 3_600_000
  return hours >= 48
    ? `${(hours / 24).toFixed(1)} days`
    : hours >= 1
      ? `${Math.round(hours)} hours`
      : `${Math.round(hours * 60)} minutes`
}

/** What the codes of a refused refresh mean, and what to do: for the post step's and the key proxy's messages alike. */
export const REFRESH_FAILURES: { code: string; pattern: RegExp; meaning: string }[] = [
  {
    code: 'refresh_token_reused',
    pattern: /refresh_token_reused|refresh token was already used/,
    meaning:
      'refresh_token_reused: another job or machine refreshed this sign-in first, so this copy of the refresh token is dead. Refresh tokens rotate: ' +
      'keep one copy per machine, serialize the jobs that share the secret with `concurrency:`, and re-seed'
  },
  {
    code: 'invalid_grant',
    pattern: /invalid_grant|refresh_token_expired|refresh_token_invalidated/,
    meaning:
      'invalid_grant: the refresh token expired or was revoked (a password change, a sign-out everywhere, a removed workspace seat). Re-seed'
  }
]

/** How to re-seed a sign-in. */
export const RESEED = 'sign in with `codex login` on a trusted machine'
