import { UserError } from '../job/errors.js'

/** max-tokens, max-requests and allowed-models: what the key proxy lets the job spend. */
export interface SpendCaps {
  maxTokens?: number
  maxRequests?: number
  allowedModels?: string[]
}

/** Model names as the Responses API takes them (gpt-5, o4-mini, ft:gpt-4o:acme:x:1a2b, a gateway's vendor/name). */
const MODEL = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$/

function parseCount(name: string, raw: string): number | undefined {
  if (raw === '') return undefined
  const value = Number(raw.replace(/_/g, ''))
  if (!/^[1-9][0-9_]*$/.test(raw) || !Number.isSafeInteger(value)) {
    throw new UserError(
      `${name} must be a whole number of at least 1 (digits only, _ allowed: 2_000_000), not "${raw}". Leave it empty for no cap.`
    )
  }
  return value
}

/**
 * When the credential is not in the key proxy (key-isolation resolves to none), so that
 * nothing counts or caps Codex's requests: an api-key, personal access token, GitHub OIDC,
 * ChatGPT sign-in and Bedrock are all counted and capped there otherwise.
 */
export const CODEX_HOLDS_IT =
  'key-isolation: none, or auto where export-env, a codex-home, an endpoint in config or refresh: true keeps it with Codex, or an agent identity JWT, which only Codex can use'

/** The caps, validated; they need the key proxy, the one place that sees every request. */
export function parseSpendCaps(read: (name: string) => string, proxied: boolean): SpendCaps {
  const caps: SpendCaps = {
    maxTokens: parseCount('max-tokens', read('max-tokens')),
    maxRequests: parseCount('max-requests', read('max-requests'))
  }
  const models = read('allowed-models')
    .split(/[,\n]/)
    .map((m) => m.trim())
    .filter(Boolean)
  const bad = models.find((m) => !MODEL.test(m))
  if (bad !== undefined)
    throw new UserError(
      `allowed-models holds ${JSON.stringify(bad)}, which is not a model name. List model names (gpt-5, o4-mini), comma or newline separated.`
    )
  if (models.length) caps.allowedModels = [...new Set(models)]
  const set = [
    caps.maxTokens !== undefined && 'max-tokens',
    caps.maxRequests !== undefined && 'max-requests',
    caps.allowedModels && 'allowed-models'
  ].filter(Boolean)
  if (set.length && !proxied)
    throw new UserError(
      `${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} enforced by the key proxy, which does not hold this job's credential (${CODEX_HOLDS_IT}): set key-isolation: proxy (an error then names anything that stands in its way), or remove ${set.join(' and ')}.`
    )
  return caps
}
