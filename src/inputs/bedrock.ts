import { UserError } from '../job/errors.js'
import { maskSecret } from '../secrets/mask.js'

/** The model provider Codex talks to: OpenAI's Responses API (the default), or Amazon Bedrock's. */
export type Provider = 'openai' | 'amazon-bedrock'

/** AWS credentials as an earlier step exported them (aws-actions/configure-aws-credentials). */
export interface AwsKeys {
  accessKeyId: string
  secretAccessKey: string
  /** Present for temporary credentials (an assumed role, OIDC): they expire. */
  sessionToken?: string
}

/** How the key proxy authenticates to Bedrock: a Bedrock API key as a bearer, or SigV4 with AWS keys. */
export type BedrockAuth = { kind: 'bearer'; key: string } | { kind: 'sigv4'; keys: AwsKeys }

export interface BedrockInputs {
  region: string
  /** Bedrock's OpenAI-compatible base URL (Mantle), or api-base-url. */
  endpoint: string
  auth: BedrockAuth
  /** Where the credential came from, for messages: an input or the variables. */
  origin: string
}

/** Regions look like us-east-1, eu-central-1, us-gov-west-1, ap-southeast-3. */
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/

/** Bedrock's OpenAI-compatible endpoint ("Mantle") in a region, as Codex 0.171.0 builds it. */
export function mantleEndpoint(region: string): string {
  return `https://bedrock-mantle.${region}.api.aws/openai/v1`
}

export function parseProvider(raw: string): Provider {
  const value = raw || 'openai'
  if (value !== 'openai' && value !== 'amazon-bedrock')
    throw new UserError(`provider must be openai or amazon-bedrock, not "${raw}".`)
  return value
}

/**
 * aws-region, else AWS_REGION, else AWS_DEFAULT_REGION (what configure-aws-credentials
 * exports). None is an error: Bedrock's endpoint and the signature both name the region.
 */
export function parseRegion(raw: string, env: NodeJS.ProcessEnv): string {
  const region = raw || env.AWS_REGION?.trim() || env.AWS_DEFAULT_REGION?.trim() || ''
  if (!region)
    throw new UserError(
      'provider: amazon-bedrock needs a region: set aws-region (such as us-east-1), or run aws-actions/configure-aws-credentials with aws-region before this step.'
    )
  if (!REGION.test(region))
    throw new UserError(`aws-region "${region}" is not an AWS region. Use a region such as us-east-1 or eu-central-1.`)
  return region
}

/**
 * The credential the key proxy holds: bedrock-api-key, else the job's AWS keys
 * (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), else a Bedrock API key in
 * AWS_BEARER_TOKEN_BEDROCK. Every secret is masked before any check.
 */
export function parseBedrockAuth(apiKey: string, env: NodeJS.ProcessEnv): { auth: BedrockAuth; origin: string } {
  maskSecret(apiKey)
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim() ?? ''
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim() ?? ''
  const sessionToken = env.AWS_SESSION_TOKEN?.trim() ?? ''
  const bearer = env.AWS_BEARER_TOKEN_BEDROCK?.trim() ?? ''
  for (const secret of [secretAccessKey, sessionToken, bearer]) maskSecret(secret)
  if (apiKey)
    return { auth: { kind: 'bearer', key: checkBearer(apiKey, 'bedrock-api-key') }, origin: 'bedrock-api-key' }
  if (accessKeyId || secretAccessKey) {
    if (!accessKeyId || !secretAccessKey)
      throw new UserError(
        `${accessKeyId ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID'} is empty but ${accessKeyId ? 'AWS_ACCESS_KEY_ID' : 'AWS_SECRET_ACCESS_KEY'} is set. Export both (aws-actions/configure-aws-credentials does), or set bedrock-api-key.`
      )
    if (!/^[A-Z0-9]{16,128}$/.test(accessKeyId))
      throw new UserError(
        'AWS_ACCESS_KEY_ID does not look like an AWS access key ID (such as AKIA… or ASIA…). Check the step that exported it.'
      )
    return {
      auth: { kind: 'sigv4', keys: { accessKeyId, secretAccessKey, ...(sessionToken && { sessionToken }) } },
      origin: 'the AWS credentials in the environment'
    }
  }
  if (bearer)
    return {
      auth: { kind: 'bearer', key: checkBearer(bearer, 'AWS_BEARER_TOKEN_BEDROCK') },
      origin: 'AWS_BEARER_TOKEN_BEDROCK'
    }
  throw new UserError(
    'provider: amazon-bedrock needs AWS credentials: run aws-actions/configure-aws-credentials before this step (it exports AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN), or set bedrock-api-key from a secret. Secrets and OIDC tokens are not given to workflows triggered from a fork or by Dependabot.'
  )
}

function checkBearer(key: string, where: string): string {
  if (!/^[A-Za-z0-9+/=_.~-]{20,8192}$/.test(key))
    throw new UserError(
      `${where} does not look like an Amazon Bedrock API key (letters, digits and + / = _ . ~ -, no spaces or line breaks). Check that the secret holds the key itself.`
    )
  return key
}

/** The inputs that name another credential source, which provider: amazon-bedrock replaces. */
export interface OtherSources {
  'api-key': string
  'access-token': string
  'federation-rule-id': string
  'auth-json': string
}

/**
 * Everything provider: amazon-bedrock needs: its region, endpoint (api-base-url when it is
 * not OpenAI's default) and credential. No other credential input may be set with it.
 */
export function parseBedrockInputs(
  read: (name: string) => string,
  others: OtherSources,
  apiBaseUrl: string,
  openaiDefault: string,
  env: NodeJS.ProcessEnv = process.env
): BedrockInputs {
  const other = Object.entries(others).find(([, value]) => value)?.[0]
  if (other)
    throw new UserError(
      `provider: amazon-bedrock and ${other} are both set. With Amazon Bedrock the credential is bedrock-api-key or the job's AWS credentials; remove ${other}.`
    )
  const { auth, origin } = parseBedrockAuth(read('bedrock-api-key'), env)
  const region = parseRegion(read('aws-region'), env)
  return { region, endpoint: apiBaseUrl === openaiDefault ? mantleEndpoint(region) : apiBaseUrl, auth, origin }
}

/**
 * With Bedrock the key proxy always holds the credential: Codex gets no AWS credential at
 * all. What would take the proxy out of Codex's way is refused, naming the input.
 */
export function checkBedrockIsolation(
  keyIsolation: string,
  exportEnv: boolean,
  namedHomeHasConfig: boolean,
  chooser: string | undefined
): void {
  if (keyIsolation && keyIsolation !== 'auto' && keyIsolation !== 'proxy')
    throw new UserError(
      `key-isolation: ${keyIsolation} cannot be used with provider: amazon-bedrock: the key proxy always holds the AWS credentials, so that Codex and the commands it runs get none. Remove key-isolation.`
    )
  if (exportEnv)
    throw new UserError(
      'export-env: true cannot be used with provider: amazon-bedrock: the AWS credentials stay in the key proxy (later steps other than codex keep the ones the earlier step exported). Remove export-env.'
    )
  if (namedHomeHasConfig)
    throw new UserError(
      'provider: amazon-bedrock needs the action to write config.toml (Codex talks to Bedrock through the key proxy), but codex-home has its own config.toml. Leave codex-home empty or name a directory without a config.toml.'
    )
  if (chooser)
    throw new UserError(
      `provider: amazon-bedrock and config's ${chooser} contradict each other: Codex talks to Bedrock through the key proxy. Remove ${chooser} from config (give a Bedrock endpoint as api-base-url), and set the model in config, such as model = "openai.gpt-5.5".`
    )
}
