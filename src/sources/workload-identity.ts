import * as core from '@actions/core'
import { cliEnv, runCli } from '../codex/cli.js'
import { startWorkloadIdentity, stopRefresher } from '../helpers/refresher/control.js'
import type { WorkloadIdentity } from '../inputs/inputs.js'
import { UserError } from '../job/errors.js'
import { readValue, StateKey } from '../job/state.js'
import { fingerprint } from '../secrets/mask.js'
import type { Authenticated, SourceContext, SourceKind } from './source.js'

/**
 * Workload identity federation: no stored secret, a GitHub OIDC token file kept fresh for
 * the job by a detached refresher; with verify, the CLI must accept it.
 */
export const workloadIdentity: SourceKind = {
  name: 'workload-identity',
  select(inputs) {
    const identity = inputs.workloadIdentity
    return identity && { mode: 'workload-identity', authenticate: (ctx) => authenticate(ctx, identity) }
  },
  // The refresher stops first: it must not write a token while its directory is removed.
  async stop() {
    const dir = readValue(StateKey.RefresherDir)
    if (dir) await stopRefresher(dir)
  }
}

async function authenticate(ctx: SourceContext, identity: WorkloadIdentity): Promise<Authenticated> {
  const { inputs, binary, home, ca, anchors, http, created } = ctx
  const started = await startWorkloadIdentity(http, identity, created, {
    ca: anchors,
    idleTimeoutMs: inputs.networkIdleTimeoutMs
  })
  const env = { OPENAI_FEDERATION_RULE_ID: identity.ruleId, OPENAI_IDENTITY_TOKEN_FILE: started.tokenFile }
  if (inputs.verify) {
    const failure = await runCli(binary, ['login', 'status'], { ...cliEnv(home.cliDir, ca?.bundlePath), ...env }, [])
    // main stops the refresher when this fails.
    if (failure) {
      throw new UserError(
        `verify: codex login status does not accept the workload identity: ${failure.reason}. Check federation-rule-id and oidc-audience against the federation rule, and that this runner can reach OpenAI.`
      )
    }
    core.info('verify: codex login status accepts the workload identity.')
  }
  return {
    mode: 'workload-identity',
    fingerprint: fingerprint(identity.ruleId),
    expiresAt: started.expiresAt,
    verified: inputs.verify,
    env,
    loggedIn: false
  }
}
