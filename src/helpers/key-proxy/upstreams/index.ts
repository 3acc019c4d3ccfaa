/** The upstream kind a proxy's configuration names. */
import type { KeyProxyConfig } from '../protocol.js'
import { SignIn } from '../signin.js'
import { apiKeyUpstream } from './api-key.js'
import { bedrockUpstream } from './bedrock.js'
import { chatgptTokenUpstream } from './chatgpt-token.js'
import type { Fetch, Upstream } from './upstream.js'
import { workloadIdentityUpstream } from './workload-identity.js'

/** `fetch`: the proxy's own client, for a kind that makes requests of its own (an exchange, a sign-in's refresh). */
export function upstreamFor(config: KeyProxyConfig, fetch: Fetch): Upstream {
  if (config.workloadIdentity) return workloadIdentityUpstream(config.workloadIdentity, config.capability, fetch)
  if (config.bedrock) return bedrockUpstream(config.upstream, config.bedrock, config.capability)
  const signin = config.chatgpt?.signin
  return config.chatgpt
    ? chatgptTokenUpstream(
        config.chatgpt,
        config.capability,
        undefined,
        signin && new SignIn(signin.auth, signin.refreshUrl, fetch, config.dir)
      )
    : apiKeyUpstream(config.upstream, config.key, config.capability)
}
