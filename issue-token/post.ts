import { runPost } from '../shared/client/actions/issue-token-post'

// Never rejects: a failed revocation is a warning, never a failed job (issue-token-post.ts).
void runPost()
