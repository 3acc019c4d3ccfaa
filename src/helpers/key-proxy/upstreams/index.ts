/** The upstream kind a proxy's configuration names. */
import type { KeyProxyConfig } from '../protocol.js'
import { apiKeyUpstream } from './api-key.js'
import { bedrockUpstream } from './bedrock.js'
import { chatgptTokenUpstream } from './chatgpt-token.js'
import type { Upstream } from './upstream.js'

export function upstreamFor(config: KeyProxyConfig): Upstream {
  if (config.bedrock) return bedrockUpstream(config.upstream, config.bedrock, config.capability)
  return config.chatgpt
    ? chatgptTokenUpstream(config.chatgpt, config.capability)
    : apiKeyUpstream(config.upstream, config.key, config.capability)
}
