#!/usr/bin/env node
// After `npm install`: drop optional dependencies that the lock names but does not contain.
// This registry lacks some platform packages (e.g. @unrs/resolver-binding-darwin-x64), so npm
// leaves them out of the lock while still naming them, and `npm ci` then refuses the lock.
import { readFileSync, writeFileSync } from 'node:fs'
const file = process.argv[2] ?? 'package-lock.json'
const lock = JSON.parse(readFileSync(file, 'utf8'))
let dropped = 0
for (const [path, pkg] of Object.entries(lock.packages)) {
  for (const name of Object.keys(pkg.optionalDependencies ?? {})) {
    const base = path === '' ? '' : path + '/'
    if (!lock.packages[`${base}node_modules/${name}`] && !lock.packages[`node_modules/${name}`]) {
      delete pkg.optionalDependencies[name]
      dropped++
    }
  }
}
writeFileSync(file, JSON.stringify(lock, null, 2) + '\n')
console.log(`dropped ${dropped} optional dependencies missing from the lock`)
