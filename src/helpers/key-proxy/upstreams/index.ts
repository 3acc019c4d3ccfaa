/** The upstream kind a proxy's configuration names. */
import type { KeyProxyConfig } from '../protocol.js'
import { apiKeyUpstream } from './api-key.js'
import { chatgptTokenUpstream } from './chatgpt-token.js'
import type { Upstream } from './upstream.js'

export function upstreamFor(config: KeyProxyConfig): Upstream {
  return config.chatgpt
    ? chatgptTokenUpstream(config.chatgpt, config.capability)
    : apiKeyUpstream(config.upstream, config.key, config.capability)
}
