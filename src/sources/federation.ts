import * as core from '@actions/core'
import { cliEnv, runCli } from '../codex.js'
import { UserError } from '../errors.js'
import type { WorkloadIdentity } from '../inputs.js'
import { fingerprint } from '../secrets.js'
import { readValue, StateKey } from '../state.js'
import { startWorkloadIdentity, stopRefresher } from '../workload-identity.js'
import type { CredentialSource } from './source.js'

/**
 * Workload identity federation: no stored secret, a GitHub OIDC token file kept fresh for
 * the job by a detached refresher; with verify, the CLI must accept it.
 */
export const federation: CredentialSource<WorkloadIdentity> = {
  name: 'workload-identity',
  select: (inputs) => inputs.workloadIdentity,
  mode: () => 'workload-identity',
  async authenticate(ctx, identity) {
    const { inputs, binary, home, ca, anchors, http, created } = ctx
    const started = await startWorkloadIdentity(http, identity, created, { ca: anchors, idleTimeoutMs: inputs.networkIdleTimeoutMs })
    const env = { OPENAI_FEDERATION_RULE_ID: identity.ruleId, OPENAI_IDENTITY_TOKEN_FILE: started.tokenFile }
    if (inputs.verify) {
      const failure = await runCli(binary, ['login', 'status'], { ...cliEnv(home.cliDir, ca?.bundlePath), ...env }, [])
      // main stops the refresher when this fails.
      if (failure) {
        throw new UserError(`verify: codex login status does not accept the workload identity: ${failure.reason}. Check federation-rule-id and oidc-audience against the federation rule, and that this runner can reach OpenAI.`)
      }
      core.info('verify: codex login status accepts the workload identity.')
    }
    return { mode: 'workload-identity', fingerprint: fingerprint(identity.ruleId), expiresAt: started.expiresAt, verified: inputs.verify, env, loggedIn: false }
  },
  // The refresher stops first: it must not write a token while its directory is removed.
  async stop() {
    const dir = readValue(StateKey.RefresherDir)
    if (dir) await stopRefresher(dir)
  }
}
