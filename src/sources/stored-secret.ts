import { logIn } from '../credential.js'
import { OPENAI_API_BASE_URL, requireActionConfig } from '../endpoint.js'
import type { Credentials } from '../inputs.js'
import type { CredentialSource } from './source.js'

/** An API key or a Codex access token from a secret (one, or a rotation list): `codex login` with it on stdin. */
export const storedSecret: CredentialSource<Credentials> = {
  name: 'stored-secret',
  select: (inputs) => inputs.credentials,
  mode: (credentials) => credentials.mode,
  secretVariable: (credentials) => (credentials.mode === 'api-key' ? 'CODEX_API_KEY' : 'CODEX_ACCESS_TOKEN'),
  // An API key for another Responses API (a gateway): Codex's built-in provider, pointed there.
  async configFor({ inputs }, credentials) {
    if (credentials.mode !== 'api-key' || inputs.apiBaseUrl === OPENAI_API_BASE_URL) return {}
    await requireActionConfig(inputs.codexHome, `api-base-url ${inputs.apiBaseUrl}`)
    return { openai_base_url: inputs.apiBaseUrl }
  },
  async authenticate(ctx, credentials) {
    const { binary, version, home, ca, created, inputs, http } = ctx
    const loggedIn = await logIn({ binary, version, home, caPath: ca?.bundlePath, created, secrets: credentials.candidates }, credentials, inputs, http)
    const { mode, secret } = loggedIn.credential
    return {
      mode,
      fingerprint: loggedIn.fingerprint,
      expiresAt: loggedIn.expiresAt,
      verified: loggedIn.verified,
      env: {},
      secretEnv: [storedSecret.secretVariable!(credentials), secret],
      loggedIn: true
    }
  }
}
