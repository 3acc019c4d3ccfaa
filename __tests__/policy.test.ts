import { untrustedReason } from '../src/policy.js'

const repository = { full_name: 'acme/app', private: true }

test('pull_request_target from a fork is untrusted; from the same repository it is not', () => {
  expect(untrustedReason('pull_request_target', { repository, pull_request: { head: { repo: { full_name: 'mallory/app' } } } })).toBe('pull_request_target from the fork mallory/app')
  expect(untrustedReason('pull_request_target', { repository, pull_request: { head: { repo: null } } })).toMatch(/\(deleted\)/)
  expect(untrustedReason('pull_request_target', { repository, pull_request: { head: { repo: repository } } })).toBeUndefined()
})

test('workflow_run for a fork\'s code is untrusted', () => {
  expect(untrustedReason('workflow_run', { repository, workflow_run: { head_repository: { full_name: 'mallory/app' } } })).toMatch(/fork mallory\/app/)
  expect(untrustedReason('workflow_run', { repository, workflow_run: { head_repository: repository } })).toBeUndefined()
})

test('issue_comment on a pull request is untrusted unless the commenter collaborates', () => {
  const pr = { pull_request: { url: 'x' } }
  expect(untrustedReason('issue_comment', { repository, issue: pr, comment: { author_association: 'NONE' } })).toMatch(/not a collaborator \(NONE\)/)
  expect(untrustedReason('issue_comment', { repository, issue: pr, comment: { author_association: 'CONTRIBUTOR' } })).toMatch(/CONTRIBUTOR/)
  expect(untrustedReason('issue_comment', { repository, issue: pr, comment: { author_association: 'MEMBER' } })).toBeUndefined()
  expect(untrustedReason('issue_comment', { repository, issue: {}, comment: { author_association: 'NONE' } })).toBeUndefined()
})

test('ordinary triggers are trusted', () => {
  for (const name of ['push', 'pull_request', 'workflow_dispatch', 'schedule']) expect(untrustedReason(name, { repository })).toBeUndefined()
})
