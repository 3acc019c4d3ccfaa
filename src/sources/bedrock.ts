import * as core from '@actions/core'
import { requireActionConfig } from '../codex/home.js'
import { parseUserConfig } from '../codex/config.js'
import type { BedrockUpstream } from '../helpers/key-proxy/bedrock.js'
import type { BedrockInputs } from '../inputs/bedrock.js'
import { UserError } from '../job/errors.js'
import { describeFailure, HttpStatusError } from '../net/failures.js'
import type { HttpClient } from '../net/http.js'
import { fingerprint } from '../secrets/mask.js'
import { keyProxy, startKeyProxy } from './key-proxy.js'
import type { SourceKind } from './source.js'
import { describeCaps } from './usage-report.js'

/** The provider in config.toml: Bedrock through the key proxy. */
const PROVIDER = 'codex-auth-action'

/**
 * A custom provider that points at the proxy, not Codex's built-in amazon-bedrock one: that
 * one sends nothing unless Codex itself holds an AWS credential (docs/amazon-bedrock-protocol.md).
 * No WebSocket (Bedrock has none); the header Codex's own provider sends Mantle.
 */
function provider(baseUrl: string): Record<string, unknown> {
  const table = {
    name: 'Amazon Bedrock (codex-auth-action key proxy)',
    base_url: baseUrl,
    wire_api: 'responses',
    supports_websockets: false,
    http_headers: { 'x-amzn-mantle-client-agent': 'codex' }
  }
  return { model_provider: PROVIDER, model_providers: { [PROVIDER]: table } }
}

/**
 * verify: true. One cheap signed call, `GET <endpoint>/models`, authenticated exactly as the
 * proxy will authenticate Codex's requests; a refusal is one line that says what to do.
 */
async function verifyBedrock(http: HttpClient, bedrock: BedrockInputs, upstream: BedrockUpstream): Promise<void> {
  const url = `${bedrock.endpoint}/models`
  // The AWS signer is loaded only for this: main and post start without it otherwise.
  const { bedrockAuthorizer, explainRefusal } = await import('../helpers/key-proxy/bedrock.js')
  const authorize = bedrockAuthorizer(upstream)
  try {
    await http.withRetries(
      `GET ${url}`,
      async () => {
        const headers = (await authorize(url, 'GET', { accept: 'application/json' }, undefined)) as Record<
          string,
          string
        >
        const response = await http.open(url, headers)
        await response.body.dump()
      },
      { retry429: false }
    )
  } catch (error) {
    if (error instanceof HttpStatusError) {
      const type = /"?(__type|code)"?\s*:\s*"([^"]+)"/.exec(error.body)?.[2] ?? ''
      const why = explainRefusal(upstream, error.status, type, error.body)
      if (why) throw new UserError(`verify: ${why}`)
    }
    throw new UserError(
      `Verifying ${bedrock.origin} at ${bedrock.endpoint} failed: ${describeFailure(error)}. Check aws-region and api-base-url, the runner's network and proxy settings (HTTPS_PROXY, NO_PROXY), or set verify: false.`
    )
  }
}

/**
 * provider: amazon-bedrock. The key proxy holds the Bedrock API key, or the job's AWS
 * credentials and signs each request with them; Codex gets a provider that points at the
 * proxy and no AWS credential (the codex wrapper keeps AWS_* out of its environment).
 */
export const amazonBedrock: SourceKind = {
  name: 'amazon-bedrock',
  select(inputs) {
    const bedrock = inputs.bedrock
    if (!bedrock) return undefined
    const upstream: BedrockUpstream = { region: bedrock.region, auth: bedrock.auth }
    let usageFile = ''
    return {
      mode: 'amazon-bedrock',
      async configFor({ anchors, http, created }) {
        await requireActionConfig(inputs.codexHome, 'provider: amazon-bedrock')
        if (inputs.verify) await verifyBedrock(http, bedrock, upstream)
        if (parseUserConfig(inputs.config).model === undefined)
          core.notice(
            'provider: amazon-bedrock and config names no model: Codex asks Bedrock for its own default model, which Bedrock may not know. Set one in config, such as model = "openai.gpt-5.5".'
          )
        const proxy = await startKeyProxy('', bedrock.endpoint, anchors, inputs.spend, created, upstream)
        usageFile = proxy.usageFile
        return provider(proxy.baseUrl)
      },
      authenticate: async () => {
        const caps = describeCaps(inputs.spend)
        const { auth } = bedrock
        const temporary = auth.kind === 'sigv4' && auth.keys.sessionToken !== undefined
        return {
          mode: 'amazon-bedrock',
          fingerprint: fingerprint(auth.kind === 'bearer' ? auth.key : auth.keys.accessKeyId),
          verified: inputs.verify,
          env: {},
          loggedIn: false,
          outputs: { 'usage-file': usageFile },
          summary: [
            ['Amazon Bedrock', `${bedrock.region}, ${bedrock.endpoint}`],
            [
              'AWS credentials',
              `${bedrock.origin}${auth.kind === 'sigv4' ? (temporary ? ' (temporary: they expire with the role session)' : ' (long-lived keys)') : ''}, held by the key proxy`
            ],
            ['Spend caps', caps ? `${caps} (enforced by the key proxy)` : 'none']
          ]
        }
      }
    }
  },
  // The key proxy's own: the same helper, found through the same state.
  stop: keyProxy.stop
}
