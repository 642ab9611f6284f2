import { run } from './post'

// Never rejects: a failed revocation is a warning, never a failed job (issue-token-post.ts).
void run()
