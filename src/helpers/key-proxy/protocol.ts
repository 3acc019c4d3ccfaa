import type { SpendCaps } from '../../inputs/spend.js'
import type { HelperStatus } from '../detach.js'
import type { BedrockUpstream } from './bedrock.js'
import type { OidcRequest } from '../../net/github-oidc.js'
import type { ExchangedToken } from '../../net/workload-exchange.js'

/** The usage file in the proxy's directory (the usage-file output), kept current by the proxy. */
export const USAGE_FILE = 'usage.json'
/** Its status (KeyProxyStatus) in the same directory, first written once it listens. */
export const STATUS_FILE = 'status.json'

/** What the key proxy process gets on stdin: never in argv, the environment or a file. */
export interface KeyProxyConfig {
  key: string
  /** api-base-url: where requests go, with the key added. */
  upstream: string
  /** The random first segment of every path the proxy serves. */
  capability: string
  /** Its private directory: status.json, and the `stop` file the post step creates. */
  dir: string
  /** What that `stop` file must hold: only main and post know it (any process of the job can write a file there). */
  stopToken: string
  /** Listen on fd 3, a socket main bound and handed over, rather than on a port of its own choosing. */
  inherited?: boolean
  /** Epoch milliseconds after which it stops whatever happens. */
  deadline: number
  ca?: string[]
  /** max-tokens, max-requests, allowed-models. */
  caps: SpendCaps
  /** provider: amazon-bedrock: the credential (then `key` is empty) and the region each request is signed for. */
  bedrock?: BedrockUpstream
  /** A ChatGPT access token instead of an API key (`key` is then empty, `upstream` the backend). */
  chatgpt?: ChatgptTokenConfig
  /** GitHub OIDC workload identity: the proxy exchanges OIDC tokens for ChatGPT access tokens itself (`chatgpt` is then unset). */
  workloadIdentity?: WorkloadIdentityConfig
  /** Serve HTTPS with this certificate (Codex talks to a ChatGPT backend over HTTPS only). */
  tls?: { cert: string; key: string }
}

/** A ChatGPT account's access token, and the account AuthAPI's whoami said it belongs to. */
export interface ChatgptTokenConfig {
  token: string
  accountId: string
  fedramp: boolean
  /** The ChatGPT backend, Codex's chatgpt_base_url: `https://…/backend-api/`. */
  backend: string
  /** AuthAPI's base URL (CODEX_AUTHAPI_BASE_URL), without a trailing slash. */
  authapi: string
  /** A ChatGPT sign-in instead of an access token (`token` is then empty): the proxy refreshes it itself. */
  signin?: SignInConfig
}

/** A ChatGPT sign-in the proxy holds (see signin.ts). */
export interface SignInConfig {
  /** auth.json's text, as the main step chose it. */
  auth: string
  /** The token endpoint: CODEX_REFRESH_TOKEN_URL_OVERRIDE, else Codex's default. */
  refreshUrl: string
  /** What the proxy answers Codex's AuthAPI check of its placeholder with: the account, from the id_token's claims. */
  whoami: Record<string, unknown>
}

/** The proxy's report, for the post step. Holds no secret and no text from elsewhere. */
export interface KeyProxyStatus extends HelperStatus {
  /** Requests forwarded upstream, websocket upgrades included. */
  requests: number
  /** Of those, websocket upgrades (Codex's WebSocket transport). */
  websockets: number
  /** Messages Codex sent upstream over those websockets (one `response.create` a turn). */
  websocketMessages: number
  /** Requests refused: no capability, or not one of the three Codex needs. */
  refused: number
  /** Upstream failures: no connection, or a 5xx answer. */
  upstreamErrors: number
  lastUpstreamStatus?: number
  /** Requests Amazon Bedrock refused the credential for (401, 403), and what the last refusal means (the proxy's own words). */
  credentialRefusals?: number
  lastRefusal?: string
  /** A ChatGPT sign-in's: refreshes the proxy made (each rewrote auth.json in its directory). */
  signin?: { refreshes: number }
  /** Faults in the proxy's own handling of a request, caught by its last resort; the kind of the last one. */
  faults?: number
  lastFault?: string
}

/** What the proxy needs to hold a workload identity: how to get OIDC tokens, where to exchange them, the first exchange's result. */
export interface WorkloadIdentityConfig {
  /** The runner's OIDC endpoint and its request token (ACTIONS_ID_TOKEN_REQUEST_*), and the audience. */
  request: OidcRequest
  ruleId: string
  /** OPENAI_WORKLOAD_IDENTITY_CONTEXT, sent as Codex sends it. */
  context?: string
  tokenUrl: string
  /** The ChatGPT backend, Codex's chatgpt_base_url: `https://…/backend-api/`. */
  backend: string
  /** The placeholder ChatGPT sign-in Codex has in auth.json: its access token is what proves a request is Codex's. */
  signIn: { idToken: string; accessToken: string; refreshToken: string }
  /** The main step's exchange, and when it was made (epoch ms). */
  first: ExchangedToken
  obtainedAt: number
}
