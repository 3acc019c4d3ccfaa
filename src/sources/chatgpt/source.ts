import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { cliEnv, runCli } from '../../codex/cli.js'
import { type CodexHome } from '../../codex/home.js'
import { refreshThroughCli } from '../../codex/refresh.js'
import {
  accessOnlyCopy,
  age,
  AUTH_CLAIMS,
  authSecrets,
  contentHash,
  jwtPayload,
  parseChatgptAuth,
  refreshedLater,
  REFRESH_FAILURES,
  RESEED,
  type AccessOnlyMark,
  type ChatgptAuth
} from '../../inputs/auth-json.js'
import { type PersistInputs } from '../../inputs/persist.js'
import { type CreatedPaths } from '../../job/created-paths.js'
import { UserError } from '../../job/errors.js'
import { readEvent } from '../../job/event.js'
import { lstatOrUndefined, replaceFile, unusableHome, writePrivateFile } from '../../job/files.js'
import { readValue, saveValue, StateKey } from '../../job/state.js'
import { writeSummaryTable } from '../../job/summary.js'
import { HttpClient } from '../../net/http.js'
import { restoreNetwork, saveNetwork, type SavedNetwork } from '../../net/saved-network.js'
import { inline } from '../../secrets/inert-output.js'
import { fingerprint, maskSecret } from '../../secrets/mask.js'
import { DEFAULT_REFRESH_URL, SIGNIN_FILE } from '../../helpers/key-proxy/signin.js'
import type { Inputs } from '../../inputs/inputs.js'
import { authapiBaseUrl } from '../../net/access-token-check.js'
import { type ChatgptProxy, chatgptProxyConfig, loginThroughProxy, startChatgptProxy } from '../chatgpt-proxy.js'
import { stopSavedKeyProxy } from '../key-proxy.js'
import type { Authenticated, ConfigContext, SourceContext, SourceKind } from '../source.js'
import { describeCaps } from '../usage-report.js'
import { describeLocation, reseedCommand, secretLocation, SecretStore, type SecretLocation } from './secret-store.js'
import { checkSharedCopy, describeRefresher, sharedCopyRefusals } from './shared-copy.js'

/** The ChatGPT source's inputs. */
interface ChatgptSelected {
  auth: ChatgptAuth
  persist?: PersistInputs
  /** refresh: true (the refresher job). */
  refresh: boolean
  allowPublicRepo: boolean
}

/** What the post step needs, in the state file (which the runner can read): paths, names, a hash, never a token. */
interface SavedChatgpt {
  home: string
  /** codex-home was named: its auth.json is the credential's home and stays. */
  named: boolean
  /** SHA-256 of the auth.json in effect when the job's Codex steps started. */
  seedHash: string
  startedAt: number
  persist?: SecretLocation & { updatedAt: string; shared?: string }
  /** The sign-in is an access-only copy: nothing is written back. */
  accessOnly?: AccessOnlyMark
  /** With persist: the proxy and certificates the main step's requests used, the only ones persist-token may travel by. */
  network?: SavedNetwork
  /** key-isolation: proxy: the key proxy's private directory, where it keeps the sign-in's auth.json current. */
  signin?: string
}

/** How the file Codex will use got there. */
type Placement = 'written' | 'seeded' | 'kept' | 'replaced'

/**
 * A ChatGPT sign-in: the auth.json of `codex login`. By default (key-isolation: proxy) the
 * key proxy holds it and refreshes it, Codex has a placeholder; with key-isolation: none it
 * is written into CODEX_HOME, and Codex refreshes it when its access token expires (or on a
 * 401) and rewrites the file. Either way the refreshed file is kept in a named codex-home
 * (a persistent runner: key-isolation none), or written back to the Actions secret it came
 * from by the post step (ephemeral runners).
 */
export const chatgpt = chatgptKind(false)
/** The same, held by the key proxy (key-isolation: proxy): metered, and its proxy stopped by the post step. */
export const chatgptProxy = chatgptKind(true)

function chatgptKind(proxied: boolean): SourceKind {
  return {
    name: proxied ? 'chatgpt-proxy' : 'chatgpt',
    metered: proxied,
    select(inputs) {
      if (!inputs.chatgpt || (inputs.keyIsolation === 'proxy') !== proxied) return undefined
      const selected: ChatgptSelected = {
        auth: inputs.chatgpt,
        persist: inputs.persist,
        refresh: inputs.refreshChatgpt,
        allowPublicRepo: inputs.allowAuthJsonOnPublicRepo
      }
      let started: ChatgptProxy | undefined
      return {
        mode: 'chatgpt',
        check: () => {
          checkRepository(selected.allowPublicRepo)
          if (selected.auth.accessOnly) checkSharedCopy(selected.auth)
        },
        async configFor(ctx) {
          if (!proxied) return {}
          started = await startSignInProxy(inputs, ctx, selected.auth)
          return chatgptProxyConfig(started.origin)
        },
        authenticate: (ctx) => authenticate(ctx, selected, started)
      }
    },
    stop: proxied ? stopSignInProxy : undefined,
    post
  }
}

/**
 * Stops the key proxy that held the sign-in; first masks what the post step may print
 * (persist-token, then, once the proxy stopped, the tokens of the file it kept: a refresh
 * under way at the stop writes it last), before the proxy's report.
 */
async function stopSignInProxy(): Promise<void> {
  maskSecret(core.getInput('persist-token'))
  const raw = readValue(StateKey.Chatgpt)
  const dir = raw ? (JSON.parse(raw) as SavedChatgpt).signin : undefined
  await stopSavedKeyProxy(async () => {
    const text = dir ? await fs.readFile(path.join(dir, SIGNIN_FILE), 'utf8').catch(() => '') : ''
    try {
      if (text) parseChatgptAuth(text, 'The auth.json the key proxy kept')
    } catch {
      // The post step reports a file that is no sign-in.
    }
  })
}

/** The post step: keep a refreshed sign-in (see afterJob). */
async function post(): Promise<void> {
  const raw = readValue(StateKey.Chatgpt)
  if (!raw) return
  // Before anything is printed (the runner keeps the main step's masks too).
  maskSecret(core.getInput('persist-token'))
  const saved = JSON.parse(raw) as SavedChatgpt
  const rows: [string, string][] = []
  try {
    await afterJob(saved, rows)
  } catch (error) {
    // With a secret to keep current, any failure may lose the refreshed sign-in: say so loudly.
    if (error instanceof UserError || !saved.persist) throw error
    throw new UserError(
      `The post step could not check or write back the refreshed auth.json: ${(error as Error).message}. If Codex refreshed it during this job, the secret's copy may no longer work. To re-seed, ${RESEED}, then: ${reseedCommand(saved.persist)}`
    )
  } finally {
    await writeSummaryTable('Codex CLI auth: the ChatGPT sign-in after the job', rows)
  }
}

/**
 * key-isolation: proxy: the key proxy holds the sign-in and refreshes it itself
 * (helpers/key-proxy/signin.ts), keeping auth.json current in its private directory; Codex
 * gets the placeholder of chatgpt-proxy.ts. The seed is written there first: the file the post step keeps.
 */
async function startSignInProxy(inputs: Inputs, ctx: ConfigContext, auth: ChatgptAuth): Promise<ChatgptProxy> {
  const claims = jwtPayload(auth.tokens.id_token) ?? {}
  const account = (claims[AUTH_CLAIMS] ?? {}) as Record<string, unknown>
  const started = await startChatgptProxy(inputs, ctx, {
    token: '',
    accountId: auth.accountId,
    fedramp: false,
    authapi: authapiBaseUrl(),
    signin: {
      auth: auth.text,
      refreshUrl: process.env.CODEX_REFRESH_TOKEN_URL_OVERRIDE || DEFAULT_REFRESH_URL,
      // What AuthAPI's whoami tells Codex of an access token's account, from the id_token.
      whoami: {
        email: typeof claims.email === 'string' ? claims.email : null,
        chatgpt_user_id: account.chatgpt_user_id ?? null,
        chatgpt_account_id: auth.accountId,
        chatgpt_plan_type: auth.planType ?? null,
        chatgpt_account_is_fedramp: false
      }
    }
  })
  await writePrivateFile(path.join(started.proxy.dir, SIGNIN_FILE), auth.text)
  return started
}

async function authenticate(
  ctx: SourceContext,
  selected: ChatgptSelected,
  started: ChatgptProxy | undefined
): Promise<Authenticated> {
  const { inputs, binary, home, ca, http, created } = ctx
  const now = new Date()
  let persist: SavedChatgpt['persist']
  let network: SavedNetwork | undefined
  if (selected.persist) {
    const exported: Record<string, string> = ca?.nodeCaPath ? { NODE_EXTRA_CA_CERTS: ca.nodeCaPath } : {}
    network = await saveNetwork(ctx.anchors, exported, inputs.networkIdleTimeoutMs, (dir) => created.add(dir))
    const where = secretLocation(selected.persist)
    const updatedAt = await new SecretStore(http, selected.persist.token, where).updatedAt()
    persist = { ...where, updatedAt, shared: selected.persist.shared }
    core.info(
      `persist-secret: the ${describeLocation(where)} was last written at ${updatedAt ? inline(updatedAt) : 'an unknown time'}; the post step writes a refreshed auth.json back to it` +
        (persist.shared
          ? `, then its access-only copy to the ${describeLocation({ ...where, secret: persist.shared })}.`
          : '.')
    )
  } else if (owned(home) && !selected.auth.accessOnly) {
    core.warning(
      "auth-json without persist-secret or codex-home: when Codex refreshes the sign-in during this job, the refreshed auth.json is removed with CODEX_HOME and the secret's refresh token is used up. " +
        'Set persist-secret (ephemeral runners) or codex-home (a persistent self-hosted runner); see docs/chatgpt-sign-in.md of codex-auth-action.'
    )
  }
  if (inputs.verify)
    core.info('verify: a ChatGPT sign-in has no check that spends nothing; Codex checks it at its first request.')
  if (started) return authenticateThroughProxy(ctx, selected, started, { persist, network, startedAt: now.getTime() })

  const placed = await placeAuthJson(home, selected.auth, created)
  const { placement, restore } = placed
  let auth = placed.auth
  core.info(`ChatGPT sign-in (auth.json ${placement}): ${describeAuth(auth, now)}`)
  // The CLI runs only in the action's own home (it leaves lock files and logs): a named home's sign-in is checked from a copy there.
  if (!owned(home)) await writePrivateFile(path.join(home.cliDir, 'auth.json'), auth.text)
  const failure = await runCli(binary, ['login', 'status'], cliEnv(home.cliDir, ca?.bundlePath), [
    ...authSecrets(auth),
    ...authSecrets(selected.auth)
  ])
  if (failure) {
    await restore?.()
    throw new UserError(
      `codex login status does not accept the auth.json: ${failure.reason}. Check that auth-json holds a current ChatGPT sign-in; ${RESEED} and store the auth.json it writes.`
    )
  }
  const seedHash = contentHash(auth.text)
  if (selected.refresh)
    auth = await refreshNow(binary, home, ca?.bundlePath, auth).catch(async (error: unknown) => {
      await restore?.()
      throw error
    })
  if (!owned(home)) {
    // The sign-in stays, and so does a home the action had to create for it.
    created.keep(path.join(home.dir, 'auth.json'))
    core.info(
      `auth.json in codex-home ${inline(home.dir)} is the credential's home: it stays after the job, and Codex keeps it current. Everything else in codex-home is left as it was.`
    )
  }
  const saved: SavedChatgpt = {
    home: home.dir,
    named: !owned(home),
    seedHash,
    startedAt: now.getTime(),
    persist,
    network,
    accessOnly: auth.accessOnly
  }
  saveValue(StateKey.Chatgpt, JSON.stringify(saved))
  return {
    mode: 'chatgpt',
    fingerprint: fingerprint(auth.accountId),
    expiresAt: auth.accessExpiresAt,
    verified: false,
    env: {},
    loggedIn: false,
    summary: [
      ['ChatGPT plan', auth.planType ?? 'unknown'],
      [
        'last_refresh',
        auth.lastRefresh ? `${auth.lastRefresh.toISOString()} (${age(auth.lastRefresh, now)} ago)` : 'not recorded'
      ],
      ['auth.json', placement],
      ['Persistence', persistence(saved)]
    ]
  }
}

/** key-isolation: proxy: Codex signs in with the placeholder; the sign-in stays in the proxy. */
async function authenticateThroughProxy(
  ctx: SourceContext,
  selected: ChatgptSelected,
  started: ChatgptProxy,
  saved: Pick<SavedChatgpt, 'persist' | 'network' | 'startedAt'>
): Promise<Authenticated> {
  const auth = selected.auth
  core.info(`ChatGPT sign-in (held by the key proxy): ${describeAuth(auth, new Date(saved.startedAt))}`)
  const env = await loginThroughProxy(
    ctx,
    started,
    authSecrets(auth),
    'The auth.json itself was read; the key proxy holds its tokens'
  )
  const state: SavedChatgpt = {
    ...saved,
    home: ctx.home.dir,
    named: false,
    seedHash: contentHash(auth.text),
    accessOnly: auth.accessOnly,
    signin: started.proxy.dir
  }
  saveValue(StateKey.Chatgpt, JSON.stringify(state))
  const caps = describeCaps(ctx.inputs.spend)
  return {
    mode: 'chatgpt',
    fingerprint: fingerprint(auth.accountId),
    expiresAt: auth.accessExpiresAt,
    verified: false,
    env,
    loggedIn: true,
    outputs: { 'usage-file': started.proxy.usageFile },
    summary: [
      ['ChatGPT plan', auth.planType ?? 'unknown'],
      [
        'last_refresh',
        auth.lastRefresh
          ? `${auth.lastRefresh.toISOString()} (${age(auth.lastRefresh, new Date(saved.startedAt))} ago)`
          : 'not recorded'
      ],
      ['auth.json', "held by the key proxy, which refreshes it; Codex's auth.json holds a placeholder"],
      ['Persistence', persistence(state)],
      ['Spend caps', caps ? `${caps} (enforced by the key proxy)` : 'none']
    ]
  }
}

/**
 * refresh: true. The CLI refreshes the sign-in through the token endpoint (the refresher
 * job's purpose): in the action's own home, whose auth.json a named codex-home then gets.
 * Fails when the file did not change, naming what the CLI said.
 */
async function refreshNow(binary: string, home: CodexHome, caPath: string | undefined, auth: ChatgptAuth) {
  const file = path.join(home.cliDir, 'auth.json')
  const answer = await refreshThroughCli(binary, cliEnv(home.cliDir, caPath), authSecrets(auth))
  const text = await fs.readFile(file, 'utf8').catch(() => '')
  if (!text || contentHash(text) === contentHash(auth.text)) {
    const said = [answer.error, answer.stderr].filter(Boolean).map((line) => inline(line!))
    const meanings = `${REFRESH_FAILURES.map((f) => f.meaning).join('; ')}: ${RESEED}.`
    throw new UserError(
      `refresh: true: the Codex CLI did not refresh the ChatGPT sign-in${said.length ? ` (${said.join('; ')})` : ''}` +
        (/\b401\b/.test(answer.stderr ?? '')
          ? `: the token endpoint refused the refresh token. ${meanings}`
          : `. If the token endpoint refused the refresh token, ${meanings} Otherwise check that the runner reaches auth.openai.com (proxy, ca-certificate).`)
    )
  }
  const refreshed = parseChatgptAuth(text, 'The auth.json the CLI refreshed')
  if (!owned(home)) await replaceFile(path.join(home.dir, 'auth.json'), text)
  core.info(`refresh: true: the Codex CLI refreshed the ChatGPT sign-in: ${describeAuth(refreshed, new Date())}`)
  // The answer's account part needs the ChatGPT backend as well; the refresh itself is done.
  if (answer.error) core.info(`(The CLI then said: ${inline(answer.error)}.)`)
  return refreshed
}

/** Whether CODEX_HOME is the action's own (no codex-home named). */
const owned = (home: CodexHome) => home.dir === home.cliDir

/** Refuses a public repository unless allowed: its logs are public and OpenAI's guide rules it out. */
function checkRepository(allow: boolean): void {
  const repository = readEvent(process.env.GITHUB_EVENT_PATH).repository
  if (repository?.private === undefined && repository?.visibility === undefined) {
    core.warning(
      'The event does not say whether this repository is public, so auth-json is used as if it were private. Never use auth-json on a public repository.'
    )
    return
  }
  if (repository.private !== false && repository.visibility !== 'public') return
  const name = repository.full_name ?? 'this repository'
  if (!allow) {
    throw new UserError(
      `auth-json is refused on the public repository ${name}: a ChatGPT sign-in acts as your account, anyone can read this repository's Actions logs, and OpenAI's guide says never to use it on public repositories. ` +
        'Use api-key or access-token here, or set allow-auth-json-on-public-repo: true if no untrusted code or text can reach this job.'
    )
  }
  core.warning(
    `allow-auth-json-on-public-repo: true — a ChatGPT sign-in is used on the public repository ${name}. Keep untrusted code and text away from this job.`
  )
}

function describeAuth(auth: ChatgptAuth, now: Date): string {
  if (auth.accessOnly) {
    const expiry = auth.accessExpiresAt ? `, the access token expires at ${auth.accessExpiresAt.toISOString()}` : ''
    return `an access-only copy written by ${describeRefresher(auth.accessOnly)}; plan ${inline(auth.planType ?? 'unknown')}, account ${fingerprint(auth.accountId)}${expiry}. It is never refreshed or written back.`
  }
  const refreshed = auth.lastRefresh
    ? `last_refresh ${auth.lastRefresh.toISOString()} (${age(auth.lastRefresh, now)} ago)`
    : 'no last_refresh'
  const expiry = auth.accessExpiresAt
    ? auth.accessExpiresAt > now
      ? `the access token expires at ${auth.accessExpiresAt.toISOString()}`
      : `the access token expired at ${auth.accessExpiresAt.toISOString()}; Codex refreshes it at its first request`
    : 'the access token has no readable expiry'
  return `plan ${inline(auth.planType ?? 'unknown')}, account ${fingerprint(auth.accountId)}, ${refreshed}, ${expiry}.`
}

function persistence(saved: SavedChatgpt): string {
  if (saved.accessOnly) return 'none: an access-only copy is never written back'
  if (saved.persist?.shared)
    return `the post step writes a refreshed auth.json to the ${describeLocation(saved.persist)} and its access-only copy to ${saved.persist.shared}`
  if (saved.persist) return `the post step writes a refreshed auth.json to the ${describeLocation(saved.persist)}`
  if (saved.named) return `kept in codex-home ${saved.home}`
  return 'none: a refreshed auth.json is removed with CODEX_HOME'
}

/**
 * Puts the sign-in Codex will use in CODEX_HOME. An action-owned home gets the secret's
 * copy. A named home keeps an auth.json of the same account that was refreshed at least
 * as recently as the secret's copy (Codex keeps it current there); otherwise the secret
 * seeds it. `restore` undoes a replacement.
 */
async function placeAuthJson(
  home: CodexHome,
  seed: ChatgptAuth,
  created: CreatedPaths
): Promise<{ auth: ChatgptAuth; placement: Placement; restore?: () => Promise<void> }> {
  const file = path.join(home.dir, 'auth.json')
  if (owned(home)) {
    await writePrivateFile(file, seed.text)
    return { auth: seed, placement: 'written' }
  }
  const stat = await lstatOrUndefined(file)
  if (!stat) {
    // Removed if the main step fails before the CLI accepts it; kept after that.
    await writePrivateFile(file, seed.text, (made) => created.add(made)).catch((error: unknown) =>
      Promise.reject(unusableHome(home.dir, error, 'auth.json'))
    )
    return { auth: seed, placement: 'seeded' }
  }
  const notUsable = `codex-home ${home.dir} already holds an auth.json that is not a ChatGPT sign-in the action can use, and the action does not replace another login. Remove that file, or name another codex-home.`
  if (!stat.isFile()) throw new UserError(notUsable)
  const text = await fs
    .readFile(file, 'utf8')
    .catch((error: unknown) => Promise.reject(unusableHome(home.dir, error, 'auth.json')))
  let existing: ChatgptAuth
  try {
    existing = parseChatgptAuth(text, "codex-home's auth.json")
  } catch {
    throw new UserError(notUsable)
  }
  if (existing.accountId === seed.accountId && !refreshedLater(seed, existing)) {
    core.info(
      `codex-home's auth.json was refreshed ${existing.lastRefresh?.toISOString() ?? '(never)'}, the secret's ${seed.lastRefresh?.toISOString() ?? '(never)'}: the newer one in codex-home is kept.`
    )
    return { auth: existing, placement: 'kept' }
  }
  core.info(
    existing.accountId === seed.accountId
      ? "auth-json was refreshed more recently than codex-home's auth.json: it replaces it."
      : "auth-json signs in another account than codex-home's auth.json: it replaces it."
  )
  await replaceFile(file, seed.text)
  return { auth: seed, placement: 'replaced', restore: () => replaceFile(file, text) }
}

/** The post step: did Codex refresh the sign-in, did a refresh fail, and (way 2) write a refreshed file back to its secret. */
async function afterJob(saved: SavedChatgpt, rows: [string, string][]): Promise<void> {
  const file = path.join(saved.signin ?? saved.home, 'auth.json')
  const stat = await lstatOrUndefined(file)
  if (!stat?.isFile()) {
    rows.push(['Refreshed during the job', 'no: auth.json is gone'])
    core.warning(
      `auth.json is gone from ${saved.home}: a Codex command logged out (for example because of forced_login_method), so there is nothing to keep.`
    )
    return
  }
  const text = await fs.readFile(file, 'utf8')
  const refreshed = contentHash(text) !== saved.seedHash
  let current: ChatgptAuth
  try {
    current = parseChatgptAuth(text, 'The auth.json Codex left')
  } catch (error) {
    rows.push(['Refreshed during the job', '❌ auth.json is no longer a ChatGPT sign-in'])
    if (refreshed && saved.persist)
      throw new UserError(`${(error as Error).message} It was not written to the ${describeLocation(saved.persist)}.`)
    core.warning((error as Error).message)
    return
  }
  const now = new Date()
  if (saved.accessOnly) {
    rows.push(['Access-only copy', 'never refreshed or written back'])
    for (const problem of await sharedCopyRefusals(saved.home, saved.startedAt, saved.accessOnly, current, now)) {
      core.warning(problem)
      rows.push(['⚠️ Sign-in', problem])
    }
    return
  }
  rows.push(['Refreshed during the job', refreshed ? 'yes' : 'no'])
  rows.push([
    'last_refresh',
    current.lastRefresh ? `${current.lastRefresh.toISOString()} (${age(current.lastRefresh, now)} ago)` : 'not recorded'
  ])
  if (refreshed) core.info(`Codex refreshed the ChatGPT sign-in during the job: ${describeAuth(current, now)}`)
  for (const problem of await refreshFailures(saved, refreshed, current, now)) {
    core.warning(problem)
    rows.push(['⚠️ Refresh', problem])
  }
  if (!saved.persist) {
    rows.push([
      'Persisted',
      saved.named ? `kept in codex-home ${saved.home}` : 'no (no persist-secret): removed with CODEX_HOME'
    ])
    return
  }
  if (!refreshed) {
    core.info(`auth.json is unchanged: the ${describeLocation(saved.persist)} is not written.`)
    rows.push(['Persisted', 'not needed: unchanged'])
    return
  }
  const shared = saved.persist.shared
  try {
    const copy = shared ? { secret: shared, text: accessOnlyCopy(text, sharedMark(saved.persist)) } : undefined
    await writeBack(saved, saved.persist, text, copy)
    rows.push(['Persisted', `yes, to the ${describeLocation(saved.persist)}`])
    if (shared) rows.push(['Access-only copy', `yes, to the ${describeLocation({ ...saved.persist, secret: shared })}`])
  } catch (error) {
    if (error instanceof SharedCopyNotWritten) {
      rows.push(['Persisted', `yes, to the ${describeLocation(saved.persist)}`], ['Access-only copy', '❌ failed'])
      throw error
    }
    rows.push(['Persisted', '❌ failed'])
    throw new UserError(
      `The refreshed auth.json was not written back: ${(error as Error).message} It is lost when this job ends, and the secret's copy may no longer work (Codex used its refresh token). ` +
        `To re-seed, ${RESEED}, then: ${reseedCommand(saved.persist)}`
    )
  }
}

/** What the access-only copy says of its refresher: this workflow, and the secret with the full file. */
function sharedMark(where: SecretLocation): AccessOnlyMark {
  return { workflow: process.env.GITHUB_WORKFLOW || undefined, fullSecret: where.secret }
}

/** The full file was written, its access-only copy was not. */
class SharedCopyNotWritten extends UserError {}

/**
 * Writes the refreshed file to the secret (retried by the HTTP client), warning when
 * someone else wrote it during the job; then, with shared-secret, its access-only copy.
 */
async function writeBack(
  saved: SavedChatgpt,
  where: NonNullable<SavedChatgpt['persist']>,
  text: string,
  shared?: { secret: string; text: string }
): Promise<void> {
  const token = core.getInput('persist-token')
  if (!token) throw new UserError('persist-token is empty in the post step.')
  if (!saved.network) throw new UserError('the main step saved no network settings for persist-token.')
  // Never the environment as later steps left it: they can add a proxy and a CA of their own.
  const http = new HttpClient(await restoreNetwork(saved.network))
  try {
    const store = new SecretStore(http, token, where)
    const updatedAt = await store.updatedAt()
    if (updatedAt !== where.updatedAt) {
      core.warning(
        `The ${describeLocation(where)} was written by someone else during this job (updated_at ${where.updatedAt || 'unknown'}, now ${updatedAt}): another job rotated the credential. ` +
          "Jobs that share one auth.json break each other (refresh_token_reused): serialize them with `concurrency:` (one group per secret). This job's refreshed file is written now."
      )
    }
    const written = await store.write(text, updatedAt)
    core.info(
      `Wrote the refreshed auth.json to the ${describeLocation(where)}; GitHub reports it updated at ${inline(written)}.`
    )
    if (shared) await writeSharedCopy(new SecretStore(http, token, { ...where, secret: shared.secret }), shared.text)
  } finally {
    await http.close()
  }
}

/** Writes the access-only copy; a failure leaves the full file written, and says so. */
async function writeSharedCopy(store: SecretStore, text: string): Promise<void> {
  let written: string
  try {
    written = await store.write(text, await store.updatedAt({ missing: 'allowed' }))
  } catch (error) {
    throw new SharedCopyNotWritten(
      `The refreshed auth.json was written back, but its access-only copy was not: ${(error as Error).message} ` +
        'Jobs on the shared copy keep the previous one, which works until its access token expires; run the refresher again.'
    )
  }
  core.info(
    `Wrote the access-only copy (no refresh token) to the ${describeLocation(store.where)}; GitHub reports it updated at ${inline(written)}.`
  )
}

/**
 * Signs that a refresh failed. 0.171.0 prints the reason on the Codex step's own output
 * only; the CLI's log files in CODEX_HOME are searched too, for versions that keep it
 * there. An access token that expired before the post step with auth.json unchanged means
 * no refresh was saved.
 */
async function refreshFailures(
  saved: SavedChatgpt,
  refreshed: boolean,
  current: ChatgptAuth,
  now: Date
): Promise<string[]> {
  const found = new Set<string>()
  for (const file of await logFiles(saved.home, saved.startedAt)) {
    const text = await fs.readFile(file, 'latin1').catch(() => '')
    for (const failure of REFRESH_FAILURES) if (failure.pattern.test(text)) found.add(failure.code)
  }
  const problems = REFRESH_FAILURES.filter((f) => found.has(f.code)).map(
    (f) => `The CLI's log records a failed refresh, ${f.meaning}: ${RESEED}.`
  )
  if (!refreshed && current.accessExpiresAt && current.accessExpiresAt <= now) {
    problems.push(
      `auth.json was not refreshed, although its access token expired at ${current.accessExpiresAt.toISOString()}: either no Codex command ran, or its refresh failed. ` +
        `Look in the Codex step's output for ${REFRESH_FAILURES.map((f) => f.meaning).join('; ')}: ${RESEED}.`
    )
  }
  return problems
}

/** The CLI's log files in CODEX_HOME (log/, logs_*.sqlite*) written since the main step, up to 32 MiB each. */
async function logFiles(home: string, since: number): Promise<string[]> {
  const inLog = (await fs.readdir(path.join(home, 'log')).catch(() => [] as string[])).map((name) =>
    path.join(home, 'log', name)
  )
  const databases = (await fs.readdir(home).catch(() => [] as string[]))
    .filter((name) => /^logs_\d+\.sqlite/.test(name))
    .map((name) => path.join(home, name))
  const recent: string[] = []
  for (const file of [...inLog, ...databases]) {
    const stat = await lstatOrUndefined(file)
    if (stat?.isFile() && stat.size <= 32 << 20 && stat.mtimeMs >= since - 1000) recent.push(file)
  }
  return recent
}
