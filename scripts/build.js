#!/usr/bin/env node
// Compiles src/ to dist/ with tsc (tsconfig.build.json), which is what `npm start` and the gamepay
// command run. Does nothing when dist/ was built from the same sources. Otherwise it builds beside
// dist/ and swaps the result in, so a process starting from dist/ meanwhile (another test run, a
// lazy import) never reads a half-written tree, and files of deleted sources do not linger.
//   --skip-without-typescript  (npm install's prepare) an install without devDependencies skips the build
//   --allow-type-errors        (prepare, the test runner) keep what tsc emitted despite type errors, as tsx
//                              did; `npm run build` fails on them, and the type-check is its own step
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const DIST = join(ROOT, 'dist')
const STAMP = '.source-hash'
const INPUTS = ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src']

function files (path) {
  if (statSync(path).isFile()) return [path]
  return readdirSync(path).sort().flatMap((name) => files(join(path, name)))
}

function sourceHash (tsc) {
  const hash = createHash('sha256').update(readFileSync(join(dirname(tsc), '..', 'package.json')))
  for (const file of INPUTS.flatMap((input) => files(join(ROOT, input)))) {
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0')
  }
  return hash.digest('hex')
}

function readStamp () {
  try {
    return readFileSync(join(DIST, STAMP), 'utf8')
  } catch {
    return null
  }
}

function swapIn (built) {
  const old = `${DIST}.${process.pid}.old`
  try {
    renameSync(DIST, old)
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
  try {
    renameSync(built, DIST)
  } catch (err) {
    // A concurrent build swapped its own in between our two renames; it is at least as new.
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err
    rmSync(built, { recursive: true, force: true })
  }
  rmSync(old, { recursive: true, force: true })
}

/** Builds dist/ unless it is current; returns what it did, throws when there is no usable build. */
export function build ({ allowTypeErrors = false, skipWithoutTypescript = false } = {}) {
  let tsc
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  } catch {
    if (skipWithoutTypescript) return 'skipped: typescript is not installed (an install without devDependencies)'
    throw new Error('typescript is not installed: building needs the devDependencies (npm ci or npm install without --omit=dev)')
  }
  const hash = sourceHash(tsc)
  if (readStamp() === hash) return 'dist/ is up to date'
  const out = `${DIST}.${process.pid}.tmp`
  rmSync(out, { recursive: true, force: true })
  const { status } = spawnSync(process.execPath, [tsc, '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', out], { cwd: ROOT, stdio: 'inherit' })
  // tsc's exit status 2: type errors were reported, and the output was written all the same.
  if (status !== 0 && !(allowTypeErrors && status === 2)) {
    rmSync(out, { recursive: true, force: true })
    throw new Error(`tsc -p tsconfig.build.json failed (exit status ${status})`)
  }
  // Only a clean build is recorded as current, so the next build reports the errors again.
  if (status === 0) writeFileSync(join(out, STAMP), hash)
  swapIn(out)
  return status === 0 ? 'dist/ built from src/' : 'dist/ built from src/ despite the type errors above'
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.error(`build: ${build({
      allowTypeErrors: process.argv.includes('--allow-type-errors'),
      skipWithoutTypescript: process.argv.includes('--skip-without-typescript'),
    })}`)
  } catch (err) {
    console.error(`build: ${err.message}`)
    process.exit(1)
  }
}
