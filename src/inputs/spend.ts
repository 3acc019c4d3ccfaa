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
      `${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} enforced by the key proxy, which this job does not use: set key-isolation: proxy (with an api-key), or remove ${set.join(' and ')}.`
    )
  return caps
}
