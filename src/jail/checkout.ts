/**
 * Credentials other actions leave where Codex works: actions/checkout's token (v4 in
 * .git/config, v6 in a RUNNER_TEMP file that .git/config includes) and
 * google-github-actions/auth's gha-creds-*.json in the workspace. The jail keeps both out
 * of Codex's view (scripts.ts, `hide`); without a jail the user is told what to change.
 */
import * as core from '@actions/core'
import { promises as fs } from 'node:fs'
import * as path from 'node:path'
import { inline } from '../secrets/inert-output.js'

const EXTRAHEADER = /^\s*extraheader\s*=\s*AUTHORIZATION:/im

/** Where checkout's token is: .git/config itself (v4), a file it includes (v6), or nowhere. */
export async function checkoutToken(workspace: string): Promise<'config' | 'include' | undefined> {
  const gitDir = path.join(workspace, '.git')
  const config = await fs.readFile(path.join(gitDir, 'config'), 'utf8').catch(() => '')
  if (EXTRAHEADER.test(config)) return 'config'
  for (const match of config.matchAll(/^\s*path\s*=\s*(.+?)\s*$/gim)) {
    const named = match[1].replace(/^"(.*)"$/, '$1')
    const included = await fs.readFile(path.resolve(gitDir, named), 'utf8').catch(() => '')
    if (EXTRAHEADER.test(included)) return 'include'
  }
  return undefined
}

/** One line about checkout's token, and one notice naming the credential files the jail shows empty. */
export async function reportWorkspaceCredentials(jailed: boolean): Promise<void> {
  const workspace = process.env.GITHUB_WORKSPACE
  if (!workspace) return
  const token = await checkoutToken(workspace)
  const where =
    token === 'config'
      ? '.git/config'
      : "a file that .git/config includes (actions/checkout v6's credentials file in RUNNER_TEMP)"
  if (token && jailed)
    core.info(
      `actions/checkout left the job's GITHUB_TOKEN in ${where}; Codex's jail shows .git/config without it, so the commands the model runs cannot read or use it (later steps of the job still can).`
    )
  else if (token)
    core.warning(
      `actions/checkout left the job's GITHUB_TOKEN in ${where}, which every command the model runs can read and use (Codex runs without a jail). Check out with persist-credentials: false, and give Codex a token only where it needs one.`
    )
  if (!jailed) return
  const names = await fs.readdir(workspace).catch(() => [] as string[])
  const creds = names.filter((name) => /^gha-creds-.*\.json$/.test(name))
  if (creds.length)
    core.notice(
      `Codex's jail shows ${creds.map((name) => inline(name)).join(', ')} in the workspace as an empty file (google-github-actions/auth's credentials); later steps see it as it is.`
    )
}
