import * as core from '@actions/core'
import { requireActionConfig } from '../codex/home.js'
import { OPENAI_API_BASE_URL } from '../net/endpoint.js'
import { logIn } from './key-rotation.js'
import type { SourceKind } from './source.js'

/** The variable export-env puts a stored secret in. */
const SECRET_VARIABLE = { 'api-key': 'CODEX_API_KEY', 'access-token': 'CODEX_ACCESS_TOKEN' } as const

/** An API key or a Codex access token from a secret (one, or a rotation list): `codex login` with it on stdin. */
export const storedSecret: SourceKind = {
  name: 'stored-secret',
  select(inputs) {
    const credentials = inputs.credentials
    if (!credentials) return undefined
    const secretVariable = SECRET_VARIABLE[credentials.mode]
    return {
      mode: credentials.mode,
      secretVariable,
      // An API key for another Responses API (a gateway): Codex's built-in provider, pointed there.
      async configFor() {
        if (credentials.mode !== 'api-key' || inputs.apiBaseUrl === OPENAI_API_BASE_URL) return {}
        await requireActionConfig(inputs.codexHome, `api-base-url ${inputs.apiBaseUrl}`)
        return { openai_base_url: inputs.apiBaseUrl }
      },
      async authenticate({ binary, version, home, ca, created, http }) {
        // verify checks the key where Codex will send it: config (or a named home's) may say where.
        const endpoint = home.loginEndpoint
        const nowhere = inputs.verify && credentials.mode === 'api-key' && endpoint === undefined
        if (nowhere)
          core.info(
            'verify: the model provider the config selects does not use the api-key login, so there is nowhere to check it.'
          )
        const loggedIn = await logIn(
          { binary, version, home, caPath: ca?.bundlePath, created, secrets: credentials.candidates },
          credentials,
          { ...inputs, verify: inputs.verify && !nowhere, apiBaseUrl: endpoint ?? inputs.apiBaseUrl },
          http
        )
        const { mode, secret } = loggedIn.credential
        return {
          mode,
          fingerprint: loggedIn.fingerprint,
          expiresAt: loggedIn.expiresAt,
          verified: loggedIn.verified,
          env: {},
          secretEnv: [secretVariable, secret],
          loggedIn: true
        }
      }
    }
  }
}
