#!/usr/bin/env node
// The `federate-admin` bin: runs the TypeScript CLI through tsx (a dependency of the package).
import { register } from 'tsx/esm/api'

register()
await import('./main.ts')
