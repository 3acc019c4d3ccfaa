/** The upstream kind a proxy's configuration names. */
import type { KeyProxyConfig } from '../protocol.js'
import { apiKeyUpstream } from './api-key.js'
import { bedrockUpstream } from './bedrock.js'
import { chatgptTokenUpstream } from './chatgpt-token.js'
import type { Fetch, Upstream } from './upstream.js'
import { workloadIdentityUpstream } from './workload-identity.js'

export function upstreamFor(config: KeyProxyConfig, fetch: Fetch): Upstream {
  if (config.workloadIdentity) return workloadIdentityUpstream(config.workloadIdentity, config.capability, fetch)
  if (config.bedrock) return bedrockUpstream(config.upstream, config.bedrock, config.capability)
  return config.chatgpt
    ? chatgptTokenUpstream(config.chatgpt, config.capability)
    : apiKeyUpstream(config.upstream, config.key, config.capability)
}
