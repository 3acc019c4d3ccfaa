/** The OpenAI API: Codex's built-in provider, where nothing needs to be configured. */
export const OPENAI_API_BASE_URL = 'https://api.openai.com/v1'

/** Hosts of Azure OpenAI (and Azure AI Foundry) resources. */
const AZURE_HOSTS = /\.(openai\.azure\.com|cognitiveservices\.azure\.com|services\.ai\.azure\.com)$/i

/**
 * An Azure OpenAI v1 endpoint, by its host or by Azure's `/openai/v1` path (which API
 * gateways in front of Azure keep). Azure takes an API key in the `api-key` header.
 */
export function isAzureEndpoint(apiBaseUrl: string): boolean {
  const url = new URL(apiBaseUrl)
  return AZURE_HOSTS.test(url.hostname) || /\/openai\/v1$/.test(url.pathname.replace(/\/+$/, ''))
}

/** The headers that carry an API key to `apiBaseUrl`: Azure's `api-key`, or a bearer token. */
export function keyHeaders(apiBaseUrl: string, key: string): Record<string, string> {
  return isAzureEndpoint(apiBaseUrl) ? { 'api-key': key } : { authorization: `Bearer ${key}` }
}
