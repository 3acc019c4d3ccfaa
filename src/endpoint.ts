import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { UserError } from './errors.js'
import { unusableHome } from './files.js'

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

/**
 * Refuses a named codex-home that keeps its own config.toml when the run must choose the
 * endpoint Codex talks to: the action never changes that file, so Codex would not use it.
 */
export async function requireActionConfig(codexHome: string | undefined, why: string): Promise<void> {
  if (!codexHome) return
  const file = path.join(codexHome, 'config.toml')
  const exists = await fs.lstat(file).then(
    () => true,
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return false
      throw unusableHome(codexHome, error)
    }
  )
  if (exists) {
    throw new UserError(`${why} needs the config.toml the action writes, but codex-home ${codexHome} has its own config.toml, which the action does not change. Leave codex-home empty, or name a directory without a config.toml.`)
  }
}
