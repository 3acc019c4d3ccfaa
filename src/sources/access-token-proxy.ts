import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { requireActionConfig } from '../codex/home.js'
import { parseUserConfig } from '../codex/config.js'
import type { LoginFailure } from '../codex/cli.js'
import { reportLoginFailure, tryLogin, type LoginContext } from '../codex/login.js'
import type { Inputs } from '../inputs/inputs.js'
import { UserError } from '../job/errors.js'
import { writePrivateFile } from '../job/files.js'
import { authapiBaseUrl, whoami, type TokenAccount } from '../net/access-token-check.js'
import { loopbackCert } from '../net/loopback-cert.js'
import { inline } from '../secrets/inert-output.js'
import { fingerprint } from '../secrets/mask.js'
import { chooseCredential, type LoggedIn } from './key-rotation.js'
import { startKeyProxy, stopSavedKeyProxy, type StartedProxy } from './key-proxy.js'
import type { SourceContext, SourceKind } from './source.js'
import { describeCaps } from './usage-report.js'

/** Codex's ChatGPT backend when config names none (its default chatgpt_base_url). */
const DEFAULT_CHATGPT_BASE_URL = 'https://chatgpt.com/backend-api/'
/** The CA file Codex trusts in CODEX_HOME: the proxy's certificate authority (its key discarded) and ca-certificate's. */
const CA_FILE = 'codex-auth-action-ca.pem'

/**
 * A Codex personal access token (`at-…`), kept only in the key proxy's memory. Codex stays
 * in its ChatGPT mode, signed in with a placeholder, its ChatGPT backend and AuthAPI being
 * the proxy (HTTPS, with a certificate only this CODEX_HOME's Codex trusts), which adds the
 * real token and the account's headers and forwards to the backend config names.
 */
export const accessTokenProxy: SourceKind = {
  name: 'access-token-proxy',
  metered: true,
  select(inputs) {
    const credentials = inputs.credentials
    if (credentials?.mode !== 'access-token' || inputs.keyIsolation !== 'proxy') return undefined
    let chosen: LoggedIn | undefined
    let account: TokenAccount | undefined
    let proxy: StartedProxy | undefined
    let ca = ''
    /** What Codex is signed in with: shaped like a personal access token (so Codex keeps its ChatGPT mode), the proxy's capability. */
    let placeholder = ''
    let origin = ''
    return {
      mode: 'access-token',
      async configFor({ anchors, http, created }) {
        await requireActionConfig(inputs.codexHome, 'an access-token in the key proxy')
        const authapi = authapiBaseUrl()
        // AuthAPI's whoami is the live check of each token of a rotation list, in order: the
        // account comes from it. A single token's refusal is its own error.
        const check = async (secret: string): Promise<LoginFailure | undefined> => {
          try {
            account = await whoami(http, authapi, secret)
            return undefined
          } catch (error) {
            if (!(error instanceof UserError) || credentials.candidates.length === 1) throw error
            return {
              command: `AuthAPI whoami, access-token ${fingerprint(secret)}`,
              output: error.message,
              reason: error.message
            }
          }
        }
        chosen = await chooseCredential(credentials, { ...inputs, verify: true }, http, {
          run: check,
          report: async () => undefined
        })
        if (!account) throw new Error('whoami answered no account')
        const backend = chatgptBackend(inputs.config)
        const cert = loopbackCert('codex-auth-action key proxy')
        ca = cert.ca
        proxy = await startKeyProxy(
          {
            key: '',
            upstream: backend,
            chatgpt: { token: chosen.credential.secret, ...account, backend, authapi },
            tls: { cert: cert.cert, key: cert.key }
          },
          anchors,
          inputs.spend,
          created
        )
        placeholder = `at-${proxy.capability}`
        origin = `https://127.0.0.1:${proxy.port}`
        return { chatgpt_base_url: `${origin}/backend-api/` }
      },
      async authenticate(ctx) {
        if (!chosen || !account || !proxy) throw new Error('authenticate ran before configFor')
        const caPath = await trustProxy(ctx, ca)
        const env = { CODEX_AUTHAPI_BASE_URL: `${origin}/authapi`, CODEX_CA_CERTIFICATE: caPath }
        const login: LoginContext = {
          binary: ctx.binary,
          version: ctx.version,
          home: ctx.home,
          caPath,
          env,
          created: ctx.created,
          secrets: [chosen.credential.secret, placeholder]
        }
        // Codex's own login, through the proxy: proves the whole way (TLS, the proxy, AuthAPI) before any step uses it.
        const failure = await tryLogin(login, { mode: 'access-token', secret: placeholder })
        if (failure) {
          await reportLoginFailure(login, 'access-token', [failure])
          throw new UserError(
            `codex login through the key proxy failed: ${inline(failure.reason)}. The access-token itself was accepted by AuthAPI; check ca-certificate and the proxy variables (HTTPS_PROXY, NO_PROXY), or set key-isolation: none.`
          )
        }
        return {
          mode: 'access-token',
          fingerprint: chosen.fingerprint,
          expiresAt: chosen.expiresAt,
          verified: true,
          env,
          loggedIn: true,
          outputs: { 'usage-file': proxy.usageFile },
          summary: proxiedAccountRows(account, 'the token is held by the key proxy', inputs.spend)
        }
      }
    }
  },
  stop: stopSavedKeyProxy
}

/** The ChatGPT backend Codex talks to: config's chatgpt_base_url, else Codex's default, with one trailing slash. */
export function chatgptBackend(config: string): string {
  const configured = parseUserConfig(config).chatgpt_base_url
  return `${(typeof configured === 'string' ? configured : DEFAULT_CHATGPT_BASE_URL).replace(/\/+$/, '')}/`
}

/** Writes the CA file only this CODEX_HOME's Codex trusts (ca-certificate's and the proxy's `ca`); returns its path. */
export async function trustProxy(ctx: SourceContext, ca: string): Promise<string> {
  const caPath = path.join(ctx.home.dir, CA_FILE)
  const theirs = ctx.ca ? await fs.readFile(ctx.ca.bundlePath, 'utf8') : ''
  await writePrivateFile(caPath, `${theirs.trimEnd()}\n${ca}`.trimStart(), (file) => ctx.created.add(file))
  return caPath
}

/** The job summary's rows for a ChatGPT account whose token the key proxy holds (`held`: how), and its caps. */
export function proxiedAccountRows(account: TokenAccount, held: string, spend: Inputs['spend']): [string, string][] {
  const caps = describeCaps(spend)
  return [
    [
      'ChatGPT account',
      `${inline(account.accountId)}${account.planType ? ` (${inline(account.planType)})` : ''}${account.fedramp ? ', FedRAMP' : ''}; ${held}`
    ],
    ['Spend caps', caps ? `${caps} (enforced by the key proxy)` : 'none']
  ]
}
