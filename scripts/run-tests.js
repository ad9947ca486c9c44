#!/usr/bin/env node
// Runs node's test runner through tsx on an explicit file list: on Node 20 a directory or a
// quoted glob finds nothing. Arguments narrow the list (`npm test -- test/domain`).
import { spawnSync } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

function collect (path) {
  if (statSync(path).isFile()) return path.endsWith('.test.ts') ? [path] : []
  return readdirSync(path).sort().flatMap((name) => collect(join(path, name)))
}

const roots = process.argv.slice(2)
const files = (roots.length > 0 ? roots : ['test']).flatMap(collect)
// One file at a time: the database tests of several files share the same local servers.
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { stdio: 'inherit' })
process.exit(result.status ?? 1)
