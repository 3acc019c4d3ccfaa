import { requireActionConfig } from '../codex/home.js'
import type { LoginFailure } from '../codex/cli.js'
import type { Inputs } from '../inputs/inputs.js'
import { UserError } from '../job/errors.js'
import { authapiBaseUrl, whoami, type TokenAccount } from '../net/access-token-check.js'
import { inline } from '../secrets/inert-output.js'
import { fingerprint } from '../secrets/mask.js'
import { type ChatgptProxy, chatgptProxyConfig, loginThroughProxy, startChatgptProxy } from './chatgpt-proxy.js'
import { chooseCredential, type LoggedIn } from './key-rotation.js'
import { stopSavedKeyProxy } from './key-proxy.js'
import type { SourceKind } from './source.js'
import { describeCaps } from './usage-report.js'

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
    let started: ChatgptProxy | undefined
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
        started = await startChatgptProxy(
          inputs,
          { anchors, created },
          { token: chosen.credential.secret, ...account, authapi }
        )
        return chatgptProxyConfig(started.origin)
      },
      async authenticate(ctx) {
        if (!chosen || !account || !started) throw new Error('authenticate ran before configFor')
        const env = await loginThroughProxy(
          ctx,
          started,
          [chosen.credential.secret],
          'The access-token itself was accepted by AuthAPI'
        )
        return {
          mode: 'access-token',
          fingerprint: chosen.fingerprint,
          expiresAt: chosen.expiresAt,
          verified: true,
          env,
          loggedIn: true,
          outputs: { 'usage-file': started.proxy.usageFile },
          summary: proxiedAccountRows(account, 'the token is held by the key proxy', inputs.spend)
        }
      }
    }
  },
  stop: stopSavedKeyProxy
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
