import { untrustedReason } from '../../src/steps/trigger-policy.js'

const repository = { full_name: 'acme/app', private: true }

test('pull_request_target from a fork is untrusted; from the same repository it is not', () => {
  expect(
    untrustedReason('pull_request_target', {
      repository,
      pull_request: { head: { repo: { full_name: 'mallory/app' } } }
    })?.reason
  ).toBe('pull_request_target from the fork mallory/app')
  expect(
    untrustedReason('pull_request_target', { repository, pull_request: { head: { repo: null } } })?.reason
  ).toMatch(/\(unknown or deleted\)/)
  expect(
    untrustedReason('pull_request_target', { repository, pull_request: { head: { repo: repository } } })
  ).toBeUndefined()
})

test("workflow_run for a fork's code is untrusted", () => {
  expect(
    untrustedReason('workflow_run', { repository, workflow_run: { head_repository: { full_name: 'mallory/app' } } })
      ?.reason
  ).toMatch(/fork mallory\/app/)
  expect(untrustedReason('workflow_run', { repository, workflow_run: { head_repository: repository } })).toBeUndefined()
})

test('a comment is judged by its author: association, or allow-users', () => {
  const comment = (author_association: string) => ({ author_association, user: { login: 'Mallory' } })
  expect(
    untrustedReason('issue_comment', { repository, issue: { pull_request: {} }, comment: comment('NONE') })?.reason
  ).toBe(
    'issue_comment on a pull request by Mallory, who is not an owner, member or collaborator (author_association: NONE)'
  )
  expect(untrustedReason('issue_comment', { repository, issue: {}, comment: comment('CONTRIBUTOR') })?.reason).toMatch(
    /^issue_comment on an issue by Mallory.*CONTRIBUTOR/
  )
  expect(untrustedReason('issue_comment', { repository, issue: {}, comment: comment('MEMBER') })).toBeUndefined()
  expect(
    untrustedReason('issue_comment', { repository, issue: {}, comment: comment('NONE') }, ['mallory'])
  ).toBeUndefined()
  expect(untrustedReason('discussion_comment', { repository, comment: { user: { login: 'x' } } })?.reason).toMatch(
    /author_association: none given/
  )
})

test('ordinary triggers are trusted', () => {
  for (const name of ['push', 'pull_request', 'workflow_dispatch', 'schedule'])
    expect(untrustedReason(name, { repository })).toBeUndefined()
})
