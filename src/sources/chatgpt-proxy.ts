/**
 * Codex in its ChatGPT mode, pointed at the key proxy: what an access token (access-token-proxy.ts)
 * and a ChatGPT sign-in (chatgpt/source.ts) share. The proxy serves HTTPS with a certificate
 * only this CODEX_HOME's Codex trusts; config.toml's chatgpt_base_url and CODEX_AUTHAPI_BASE_URL
 * name it; Codex is signed in with a placeholder, `at-<capability>`, which the proxy replaces.
 */
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { parseUserConfig } from '../codex/config.js'
import { reportLoginFailure, tryLogin, type LoginContext } from '../codex/login.js'
import type { ChatgptTokenConfig } from '../helpers/key-proxy/protocol.js'
import type { Inputs } from '../inputs/inputs.js'
import { UserError } from '../job/errors.js'
import { writePrivateFile } from '../job/files.js'
import { loopbackCert } from '../net/loopback-cert.js'
import { inline } from '../secrets/inert-output.js'
import { startKeyProxy, type StartedProxy } from './key-proxy.js'
import type { ConfigContext, SourceContext } from './source.js'

/** Codex's ChatGPT backend when config names none (its default chatgpt_base_url). */
const DEFAULT_CHATGPT_BASE_URL = 'https://chatgpt.com/backend-api/'
/** The CA file Codex trusts in CODEX_HOME: the proxy's certificate authority (its key discarded) and ca-certificate's. */
const CA_FILE = 'codex-auth-action-ca.pem'

export interface ChatgptProxy {
  proxy: StartedProxy
  /** The proxy's certificate authority, PEM. */
  ca: string
  /** What Codex is signed in with: shaped like a personal access token (so Codex keeps its ChatGPT mode), the proxy's capability. */
  placeholder: string
  /** `https://127.0.0.1:PORT` */
  origin: string
}

/** The ChatGPT backend Codex would talk to: config's chatgpt_base_url, else Codex's default; with one trailing slash. */
export function chatgptBackend(config: string): string {
  const configured = parseUserConfig(config).chatgpt_base_url
  return `${(typeof configured === 'string' ? configured : DEFAULT_CHATGPT_BASE_URL).replace(/\/+$/, '')}/`
}

/**
 * config.toml's settings that point Codex in its ChatGPT mode at the proxy at `origin`. Codex
 * 0.171.0 takes its model requests' base from chatgpt_base_url, but its model list (`GET
 * <base>/models`) from the OpenAI provider's base URL, which in ChatGPT mode is
 * https://chatgpt.com/backend-api/codex whatever chatgpt_base_url says (seen with RUST_LOG=debug):
 * openai_base_url sends it to the proxy too, at the same path, so it carries the held
 * credential instead of the placeholder and needs no way out of the jail.
 */
export function chatgptProxyConfig(origin: string): Record<string, string> {
  return { chatgpt_base_url: `${origin}/backend-api/`, openai_base_url: `${origin}/backend-api/codex` }
}

/** Starts the proxy for `credential`; config.toml's settings for it are chatgptProxyConfig(origin). */
export async function startChatgptProxy(
  inputs: Inputs,
  { anchors, created }: Pick<ConfigContext, 'anchors' | 'created'>,
  credential: Omit<ChatgptTokenConfig, 'backend'>
): Promise<ChatgptProxy> {
  const backend = chatgptBackend(inputs.config)
  const cert = loopbackCert('codex-auth-action key proxy')
  const proxy = await startKeyProxy(
    { key: '', upstream: backend, chatgpt: { ...credential, backend }, tls: { cert: cert.cert, key: cert.key } },
    anchors,
    inputs.spend,
    created
  )
  return { proxy, ca: cert.ca, placeholder: `at-${proxy.capability}`, origin: `https://127.0.0.1:${proxy.port}` }
}

/** Writes the CA file only this CODEX_HOME's Codex trusts (ca-certificate's and the proxy's `ca`); returns its path. */
export async function trustProxy(ctx: SourceContext, ca: string): Promise<string> {
  const caPath = path.join(ctx.home.dir, CA_FILE)
  const theirs = ctx.ca ? await fs.readFile(ctx.ca.bundlePath, 'utf8') : ''
  await writePrivateFile(caPath, `${theirs.trimEnd()}\n${ca}`.trimStart(), (file) => ctx.created.add(file))
  return caPath
}

/**
 * Codex's own login with the placeholder, through the proxy: proves the whole way (TLS, the
 * proxy, AuthAPI) before any step uses it. The variables later steps need. `accepted`: what
 * the action already checked of the credential itself, for the error.
 */
export async function loginThroughProxy(
  ctx: SourceContext,
  started: ChatgptProxy,
  secrets: string[],
  accepted: string
): Promise<Record<string, string>> {
  const caPath = await trustProxy(ctx, started.ca)
  const env = { CODEX_AUTHAPI_BASE_URL: `${started.origin}/authapi`, CODEX_CA_CERTIFICATE: caPath }
  const login: LoginContext = {
    binary: ctx.binary,
    version: ctx.version,
    home: ctx.home,
    caPath,
    env,
    created: ctx.created,
    secrets: [...secrets, started.placeholder]
  }
  const failure = await tryLogin(login, { mode: 'access-token', secret: started.placeholder })
  if (failure) {
    await reportLoginFailure(login, 'access-token', [failure])
    throw new UserError(
      `codex login through the key proxy failed: ${inline(failure.reason)}. ${accepted}; check ca-certificate and the proxy variables (HTTPS_PROXY, NO_PROXY), or set key-isolation: none.`
    )
  }
  return env
}
