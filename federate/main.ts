import { run } from '../shared/client/actions/federate'

run()
