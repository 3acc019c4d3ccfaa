import * as core from '@actions/core'
import { randomBytes } from 'node:crypto'
import * as path from 'node:path'
import { cliEnv, runCli } from '../codex/cli.js'
import { requireActionConfig } from '../codex/home.js'
import { MAX_LIFETIME_MS } from '../helpers/detach.js'
import { REFRESH_PATH } from '../helpers/key-proxy/upstreams/workload-identity.js'
import { startWorkloadIdentity, stopRefresher } from '../helpers/refresher/control.js'
import type { Inputs, WorkloadIdentity } from '../inputs/inputs.js'
import { UserError } from '../job/errors.js'
import { writePrivateFile } from '../job/files.js'
import { readValue, StateKey } from '../job/state.js'
import { HttpStatusError } from '../net/failures.js'
import { oidcRequestFromEnv, requestIdToken } from '../net/github-oidc.js'
import { type HttpClient, networkError } from '../net/http.js'
import { loopbackCert } from '../net/loopback-cert.js'
import { exchangeRequest, type ExchangedToken, parseExchange, tokenUrlFor } from '../net/workload-exchange.js'
import { inline } from '../secrets/inert-output.js'
import { fingerprint, maskSecret } from '../secrets/mask.js'
import { proxiedAccountRows } from './access-token-proxy.js'
import { chatgptBackend, chatgptProxyConfig, trustProxy } from './chatgpt-proxy.js'
import { startKeyProxy, stopSavedKeyProxy, type StartedProxy } from './key-proxy.js'
import type { Authenticated, CredentialSource, SourceContext, SourceKind } from './source.js'

/**
 * Workload identity federation, no stored secret, held by the key proxy (the default): the
 * proxy makes the exchange Codex would make (net/workload-exchange.ts) and holds the
 * short-lived ChatGPT access token; Codex, in ChatGPT mode, is pointed at it and holds nothing.
 */
export const workloadIdentityProxy: SourceKind = {
  name: 'workload-identity-proxy',
  metered: true,
  select(inputs) {
    const identity = inputs.workloadIdentity
    return identity && inputs.keyIsolation === 'proxy' ? proxied(inputs, identity) : undefined
  },
  stop: stopSavedKeyProxy
}

/**
 * Workload identity federation with key-isolation: none: Codex exchanges a GitHub OIDC token
 * file itself, kept fresh for the job by a detached refresher; with verify, the CLI must accept it.
 */
export const workloadIdentity: SourceKind = {
  name: 'workload-identity',
  select(inputs) {
    const identity = inputs.workloadIdentity
    return identity && { mode: 'workload-identity', authenticate: (ctx) => authenticate(ctx, identity) }
  },
  // The refresher stops first: it must not write a token while its directory is removed.
  async stop() {
    const dir = readValue(StateKey.RefresherDir)
    if (dir) await stopRefresher(dir)
  }
}

/** The identity held by the key proxy: the first exchange here (its refusal is the user's error), every renewal there. */
function proxied(inputs: Inputs, identity: WorkloadIdentity): CredentialSource {
  let proxy: StartedProxy | undefined
  let first: ExchangedToken | undefined
  let signIn: PlaceholderSignIn | undefined
  let ca = ''
  return {
    mode: 'workload-identity',
    async configFor({ anchors, http, created }) {
      await requireActionConfig(inputs.codexHome, 'federation-rule-id in the key proxy')
      const backend = chatgptBackend(inputs.config)
      const tokenUrl = tokenUrlFor(backend)
      if (!tokenUrl)
        throw new UserError(
          `federation-rule-id works only with OpenAI's ChatGPT backend, and config's chatgpt_base_url is ${inline(backend)} (Codex refuses workload identity elsewhere). Remove chatgpt_base_url from config.`
        )
      const request = oidcRequestFromEnv(identity.audience)
      maskSecret(request.token)
      const context = process.env.OPENAI_WORKLOAD_IDENTITY_CONTEXT || undefined
      const obtainedAt = Date.now()
      first = await exchange(http, tokenUrl, identity, await requestIdToken(http, request), context)
      signIn = placeholderSignIn(first)
      const cert = loopbackCert('codex-auth-action key proxy')
      ca = cert.ca
      proxy = await startKeyProxy(
        {
          key: '',
          upstream: backend,
          workloadIdentity: {
            request,
            ruleId: identity.ruleId,
            context,
            tokenUrl,
            backend,
            signIn: signIn.tokens,
            first,
            obtainedAt
          },
          tls: { cert: cert.cert, key: cert.key }
        },
        anchors,
        inputs.spend,
        created
      )
      return chatgptProxyConfig(`https://127.0.0.1:${proxy.port}`)
    },
    async authenticate(ctx) {
      if (!proxy || !first || !signIn) throw new Error('authenticate ran before configFor')
      const caPath = await trustProxy(ctx, ca)
      await writePrivateFile(path.join(ctx.home.dir, 'auth.json'), signIn.authJson, (file) => ctx.created.add(file))
      const env = {
        CODEX_CA_CERTIFICATE: caPath,
        CODEX_REFRESH_TOKEN_URL_OVERRIDE: `https://127.0.0.1:${proxy.port}${REFRESH_PATH}`
      }
      return {
        mode: 'workload-identity',
        fingerprint: fingerprint(identity.ruleId),
        // The first exchange was the check: the token endpoint accepted the identity.
        verified: true,
        env,
        loggedIn: true,
        outputs: { 'usage-file': proxy.usageFile },
        summary: proxiedAccountRows(
          { ...first, fedramp: false },
          'its short-lived token is exchanged, renewed and held by the key proxy',
          inputs.spend
        )
      }
    }
  }
}

interface PlaceholderSignIn {
  tokens: { idToken: string; accessToken: string; refreshToken: string }
  authJson: string
}

/**
 * A ChatGPT sign-in as `codex login` writes it, for the account and user the exchange named,
 * whose tokens are worth nothing outside the proxy: unsigned JWTs whose signature part is a
 * random secret (the proxy's proof that a request is Codex's), valid past the proxy's end so
 * that Codex never refreshes them for age, and a refresh token only the proxy accepts.
 */
function placeholderSignIn(token: ExchangedToken): PlaceholderSignIn {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const iat = Math.floor(Date.now() / 1000)
  const claims = {
    iat,
    exp: iat + Math.ceil(MAX_LIFETIME_MS / 1000) + 3600,
    'https://api.openai.com/auth': {
      chatgpt_account_id: token.accountId,
      chatgpt_plan_type: token.planType,
      chatgpt_user_id: token.userId,
      user_id: token.userId
    }
  }
  const jwt = () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.${randomBytes(32).toString('base64url')}`
  const tokens = { idToken: jwt(), accessToken: jwt(), refreshToken: `rt_${randomBytes(32).toString('base64url')}` }
  for (const secret of Object.values(tokens)) maskSecret(secret)
  const authJson = JSON.stringify(
    {
      auth_mode: 'chatgpt',
      OPENAI_API_KEY: null,
      tokens: {
        id_token: tokens.idToken,
        access_token: tokens.accessToken,
        refresh_token: tokens.refreshToken,
        account_id: token.accountId
      },
      last_refresh: new Date().toISOString()
    },
    null,
    2
  )
  return { tokens, authJson }
}

/** One exchange of a GitHub OIDC token, as Codex makes it; a refusal says what to check. */
async function exchange(
  http: HttpClient,
  tokenUrl: string,
  identity: WorkloadIdentity,
  assertion: string,
  context: string | undefined
): Promise<ExchangedToken> {
  const { headers, body } = exchangeRequest(identity.ruleId, assertion, context)
  let status: number
  let text: string
  try {
    const answer = await http.open(tokenUrl, headers, { method: 'POST', body })
    status = 200
    text = await answer.body.text()
  } catch (error) {
    if (!(error instanceof HttpStatusError))
      throw networkError(
        `The workload identity exchange at ${tokenUrl}`,
        error,
        'Check that the runner reaches it (HTTPS_PROXY, NO_PROXY, ca-certificate).'
      )
    status = error.status
    text = error.body
  }
  const token = parseExchange(status, text)
  if (typeof token === 'string')
    throw new UserError(
      `The workload identity exchange at ${tokenUrl} failed: ${token}. Check federation-rule-id and oidc-audience against the federation rule (its issuer, audience and the claims it maps: repository, branch, environment).`
    )
  maskSecret(token.accessToken)
  return token
}

async function authenticate(ctx: SourceContext, identity: WorkloadIdentity): Promise<Authenticated> {
  const { inputs, binary, home, ca, anchors, http, created } = ctx
  const started = await startWorkloadIdentity(http, identity, created, {
    ca: anchors,
    idleTimeoutMs: inputs.networkIdleTimeoutMs
  })
  const env = { OPENAI_FEDERATION_RULE_ID: identity.ruleId, OPENAI_IDENTITY_TOKEN_FILE: started.tokenFile }
  if (inputs.verify) {
    const failure = await runCli(binary, ['login', 'status'], { ...cliEnv(home.cliDir, ca?.bundlePath), ...env }, [])
    // main stops the refresher when this fails.
    if (failure) {
      throw new UserError(
        `verify: codex login status does not accept the workload identity: ${failure.reason}. Check federation-rule-id and oidc-audience against the federation rule, and that this runner can reach OpenAI.`
      )
    }
    core.info('verify: codex login status accepts the workload identity.')
  }
  return {
    mode: 'workload-identity',
    fingerprint: fingerprint(identity.ruleId),
    expiresAt: started.expiresAt,
    verified: inputs.verify,
    env,
    loggedIn: false
  }
}
