import { run } from '../shared/client/actions/issue-token'

run()
