/** The upstream kind a proxy's configuration names. */
import type { KeyProxyConfig } from '../protocol.js'
import { type PostJson, SignIn } from '../signin.js'
import { apiKeyUpstream } from './api-key.js'
import { bedrockUpstream } from './bedrock.js'
import { chatgptTokenUpstream } from './chatgpt-token.js'
import type { Upstream } from './upstream.js'

/** `post`: the proxy's own client, for a kind that makes requests of its own (a sign-in's refresh). */
export function upstreamFor(config: KeyProxyConfig, post: PostJson): Upstream {
  if (config.bedrock) return bedrockUpstream(config.upstream, config.bedrock, config.capability)
  const signin = config.chatgpt?.signin
  return config.chatgpt
    ? chatgptTokenUpstream(
        config.chatgpt,
        config.capability,
        signin && new SignIn(signin.auth, signin.refreshUrl, post, config.dir)
      )
    : apiKeyUpstream(config.upstream, config.key, config.capability)
}
