import * as core from '@actions/core'
import * as path from 'node:path'
import { requireActionConfig } from '../codex/home.js'
import { parseUserConfig } from '../codex/config.js'
import type { BedrockUpstream } from '../helpers/key-proxy/bedrock.js'
import type { BedrockInputs } from '../inputs/bedrock.js'
import { UserError } from '../job/errors.js'
import { writePrivateFile } from '../job/files.js'
import { describeFailure, HttpStatusError } from '../net/failures.js'
import type { HttpClient } from '../net/http.js'
import { fingerprint } from '../secrets/mask.js'
import { keyProxy, startKeyProxy } from './key-proxy.js'
import type { SourceKind } from './source.js'
import { describeCaps } from './usage-report.js'

/**
 * Codex's own amazon-bedrock provider, pointed at the key proxy (`base_url`, which 0.171.0
 * honours): Codex then sends exactly what it sends Bedrock, its Bedrock model catalogue
 * included (docs/amazon-bedrock-protocol.md). The region is the one the proxy signs for.
 */
function provider(baseUrl: string, region: string): Record<string, unknown> {
  return {
    model_provider: 'amazon-bedrock',
    model_providers: { 'amazon-bedrock': { base_url: baseUrl, aws: { region } } }
  }
}

/**
 * That provider sends nothing without an AWS credential of Codex's own, so Codex gets one
 * that is none: a bearer that the proxy drops (it replaces every credential a request
 * carries). It goes in CODEX_HOME/.env, which Codex alone loads and which wins over the
 * environment, so Codex never sends a real AWS_BEARER_TOKEN_BEDROCK either.
 */
export const PLACEHOLDER_BEARER = 'no-credential-the-codex-auth-action-key-proxy-holds-it'

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
 * proxy and no AWS credential (the jail's wrapper keeps AWS_* out of its environment).
 */
export const amazonBedrock: SourceKind = {
  name: 'amazon-bedrock',
  metered: true,
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
        const proxy = await startKeyProxy(
          { key: '', upstream: bedrock.endpoint, bedrock: upstream },
          anchors,
          inputs.spend,
          created
        )
        usageFile = proxy.usageFile
        return provider(`${proxy.origin}/v1`, bedrock.region)
      },
      authenticate: async ({ home, created }) => {
        await writePrivateFile(
          path.join(home.dir, '.env'),
          `AWS_BEARER_TOKEN_BEDROCK=${PLACEHOLDER_BEARER}\n`,
          (file) => created.add(file)
        ).catch((error: NodeJS.ErrnoException) => {
          throw new UserError(
            error.code === 'EEXIST'
              ? `provider: amazon-bedrock needs the .env the action writes in CODEX_HOME, but codex-home ${home.dir} has its own .env, which the action does not change. Leave codex-home empty, or name a directory without a .env.`
              : `Could not write ${path.join(home.dir, '.env')}: ${error.message}.`
          )
        })
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
