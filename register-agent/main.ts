import { run } from '../shared/client/actions/register-agent'

run()
