/**
 * Events that start GitHub Actions workflows (the `event_name` claim), per GitHub's
 * "Events that trigger workflows". A policy's `events` must come from this list, so a
 * typo ("pull-request") is a 400 rather than a policy that silently never matches.
 */
export const GITHUB_EVENTS: readonly string[] = [
  'branch_protection_rule',
  'check_run',
  'check_suite',
  'create',
  'delete',
  'deployment',
  'deployment_status',
  'discussion',
  'discussion_comment',
  'dynamic',
  'fork',
  'gollum',
  'image_version',
  'issue_comment',
  'issues',
  'label',
  'merge_group',
  'milestone',
  'page_build',
  'public',
  'pull_request',
  'pull_request_review',
  'pull_request_review_comment',
  'pull_request_target',
  'push',
  'registry_package',
  'release',
  'repository_dispatch',
  'schedule',
  'status',
  'watch',
  'workflow_call',
  'workflow_dispatch',
  'workflow_run'
]

/**
 * Events refused unless a policy (or FEDERATE_EVENTS) lists them: they run with the base
 * repository's identity and secrets on code from a fork or another workflow.
 */
export const OPT_IN_EVENTS: readonly string[] = ['pull_request_target', 'workflow_run']
