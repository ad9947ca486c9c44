#!/usr/bin/env node
// Runs node's test runner through tsx on an explicit file list: on Node 20 a directory or a
// quoted glob finds nothing. By default the service's tests (test/) and the client package's
// (client/test/); arguments narrow the list (`npm test -- test/domain`).
// The database tests run once per dialect in DIALECTS; unset, every reachable one. With
// REQUIRE_DIALECTS (as CI sets it) a dialect that is not reachable fails the run.
// The tests start bin/gamepay.js, which runs dist/, and import @gamepay/client, which is client/dist/:
// both are rebuilt first whenever their sources changed.
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { availableDialects } from '../test/databases.js'
import { build } from './build.js'

function collect (path) {
  if (statSync(path).isFile()) return path.endsWith('.test.ts') ? [path] : []
  return readdirSync(path).sort().flatMap((name) => collect(join(path, name)))
}

try {
  console.log(`build: ${build({ allowTypeErrors: true })}`)
} catch (err) {
  console.error(`build: ${err.message}`)
  process.exit(1)
}

const reachable = await availableDialects()
const wanted = process.env.DIALECTS ? process.env.DIALECTS.split(',').map((d) => d.trim()).filter(Boolean) : reachable
const required = (process.env.REQUIRE_DIALECTS ?? '').split(',').map((d) => d.trim()).filter(Boolean)
const missing = [...new Set([...wanted, ...required])].filter((d) => !reachable.includes(d))
if (missing.length > 0 && (required.some((d) => missing.includes(d)) || process.env.DIALECTS)) {
  console.error(`database tests: ${missing.join(', ')} not reachable (TEST_PG_URL / TEST_MYSQL_URL); failing`)
  process.exit(1)
}
const dialects = wanted.filter((d) => reachable.includes(d))
console.log(`database tests run on: ${dialects.join(', ')}${missing.length ? ` (not reachable: ${missing.join(', ')})` : ''}`)

const roots = process.argv.slice(2)
const files = (roots.length > 0 ? roots : ['test', 'client/test']).flatMap(collect)
// One file at a time: the database tests of several files share the same test databases.
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], {
  stdio: 'inherit',
  env: { ...process.env, DIALECTS: dialects.join(',') },
})
process.exit(result.status ?? 1)
