#!/usr/bin/env node
// Compiles src/ to dist/ with tsc (tsconfig.build.json), which is what `npm start` and the gamepay
// command run, and the client package client/src/ to client/dist/ (client/tsconfig.json, with type
// declarations). Each is left alone when it was built from the same sources. Otherwise it is built
// beside its dist/ and swapped in, so a process starting from dist/ meanwhile (another test run, a
// lazy import) never reads a half-written tree, and files of deleted sources do not linger.
//   --client                   build the client package only
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
const STAMP = '.source-hash'
const TARGETS = {
  service: {
    src: 'src',
    dist: 'dist',
    tsconfig: 'tsconfig.build.json',
    inputs: ['package.json', 'tsconfig.json', 'tsconfig.build.json', 'src'],
  },
  client: {
    src: 'client/src',
    dist: 'client/dist',
    tsconfig: 'client/tsconfig.json',
    inputs: ['client/package.json', 'client/tsconfig.json', 'client/src'],
  },
}

function files (path) {
  if (statSync(path).isFile()) return [path]
  return readdirSync(path).sort().flatMap((name) => files(join(path, name)))
}

function sourceHash (tsc, inputs) {
  const hash = createHash('sha256').update(readFileSync(join(dirname(tsc), '..', 'package.json')))
  for (const file of inputs.flatMap((input) => files(join(ROOT, input)))) {
    hash.update(relative(ROOT, file)).update('\0').update(readFileSync(file)).update('\0')
  }
  return hash.digest('hex')
}

function readStamp (dist) {
  try {
    return readFileSync(join(dist, STAMP), 'utf8')
  } catch {
    return null
  }
}

function swapIn (built, dist) {
  const old = `${dist}.${process.pid}.old`
  try {
    renameSync(dist, old)
  } catch (err) {
    if (err.code !== 'ENOENT') throw err
  }
  try {
    renameSync(built, dist)
  } catch (err) {
    // A concurrent build swapped its own in between our two renames; it is at least as new.
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err
    rmSync(built, { recursive: true, force: true })
  }
  rmSync(old, { recursive: true, force: true })
}

function compile (tsc, target, { allowTypeErrors }) {
  const { src, dist: name, tsconfig, inputs } = TARGETS[target]
  const dist = join(ROOT, name)
  const hash = sourceHash(tsc, inputs)
  if (readStamp(dist) === hash) return `${name}/ is up to date`
  const out = `${dist}.${process.pid}.tmp`
  rmSync(out, { recursive: true, force: true })
  const args = [tsc, '-p', join(ROOT, tsconfig), '--outDir', out]
  const { status } = spawnSync(process.execPath, args, { cwd: ROOT, stdio: 'inherit' })
  // tsc's exit status 2: type errors were reported, and the output was written all the same.
  if (status !== 0 && !(allowTypeErrors && status === 2)) {
    rmSync(out, { recursive: true, force: true })
    throw new Error(`tsc -p ${tsconfig} failed (exit status ${status})`)
  }
  // Only a clean build is recorded as current, so the next build reports the errors again.
  if (status === 0) writeFileSync(join(out, STAMP), hash)
  swapIn(out, dist)
  return status === 0 ? `${name}/ built from ${src}/` : `${name}/ built from ${src}/ despite the type errors above`
}

/**
 * Builds dist/ and client/dist/ (or only `targets`) unless they are current; returns what it did, throws
 * when there is no usable build.
 */
export function build ({ allowTypeErrors = false, skipWithoutTypescript = false, targets = ['service', 'client'] } = {}) {
  let tsc
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  } catch {
    if (skipWithoutTypescript) return 'skipped: typescript is not installed (an install without devDependencies)'
    throw new Error('typescript is not installed: building needs the devDependencies (npm ci or npm install without --omit=dev)')
  }
  return targets.map((target) => compile(tsc, target, { allowTypeErrors })).join('; ')
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.error(`build: ${build({
      allowTypeErrors: process.argv.includes('--allow-type-errors'),
      skipWithoutTypescript: process.argv.includes('--skip-without-typescript'),
      targets: process.argv.includes('--client') ? ['client'] : undefined,
    })}`)
  } catch (err) {
    console.error(`build: ${err.message}`)
    process.exit(1)
  }
}
