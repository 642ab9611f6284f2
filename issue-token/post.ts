import { runPost } from '../shared/client/actions/issue-token-post'

runPost()
