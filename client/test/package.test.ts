// The package as an installer gets it: built ESM with declarations, importable by its name, needing
// nothing but Node's own modules.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, test } from 'node:test'
import * as source from '../src/index.ts'

const CLIENT = join(dirname(fileURLToPath(import.meta.url)), '..')
const ROOT = join(CLIENT, '..')
const manifest = JSON.parse(readFileSync(join(CLIENT, 'package.json'), 'utf8'))

describe('the @gamepay/client package', () => {
  test('when it is imported by its name, then the built ESM exports what the sources do', async () => {
    const built = await import('@gamepay/client')
    assert.deepEqual(Object.keys(built).sort(), Object.keys(source).sort())
    assert.equal(typeof built.GamepayClient, 'function')
  })

  test('when its manifest and build are read, then it has no dependencies and its code imports only Node\'s own modules', () => {
    assert.equal(manifest.name, '@gamepay/client')
    assert.equal(manifest.type, 'module')
    assert.deepEqual(manifest.exports, { '.': { types: './dist/index.d.ts', default: './dist/index.js' } })
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) assert.equal(manifest[field], undefined, field)
    const built = readdirSync(join(CLIENT, 'dist')).filter((f) => f.endsWith('.js'))
    assert.ok(built.includes('index.js'))
    for (const file of built) {
      const code = readFileSync(join(CLIENT, 'dist', file), 'utf8')
      for (const [, specifier] of code.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
        assert.ok(specifier.startsWith('./') || specifier.startsWith('node:'), `${file} imports ${specifier}`)
      }
    }
  })

  test('when a TypeScript project uses it, then its declarations resolve and type its calls', () => {
    const dir = mkdtempSync(join(tmpdir(), 'gamepay-client-consumer-'))
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], skipLibCheck: true },
      files: ['use.ts'],
    }))
    writeFileSync(join(dir, 'use.ts'), `
import { GamepayClient, GamepayError, nodeNotificationHandler, signCallback, type PaidOrder } from '@gamepay/client'
const client = new GamepayClient({ baseUrl: 'http://127.0.0.1:8080', retries: 1 })
export const paid: Promise<PaidOrder> = client.verify({ user_id: 'u', item: '月卡' })
export const state = (err: GamepayError): string => err.state + err.trace_id + String(err.status)
export const handler = nodeNotificationHandler({
  secret: 'x'.repeat(16),
  onEvent: (e) => { if (e.type === 'order.paid') void e.data.rmb_yuan.toFixed(2) },
})
export const params = signCallback({ game_order_no: 'o', gyyx_order_no: 'g', result: 'success', rmb_yuan: 1 }, { secret: 's' })
// Declarations that failed to resolve would type everything any, and this directive would go unused.
// @ts-expect-error user_id is a string
export const wrong = client.verify({ user_id: 1, item: '月卡' })
`)
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
  })

  test('when it is packed, then the tarball holds the build, the sources and the README, not the tests', () => {
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_|^NODE_OPTIONS$|^NODE_TEST_CONTEXT$/i.test(name)))
    const out = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: CLIENT, env, encoding: 'utf8' })
    const files = (JSON.parse(out)[0].files as { path: string }[]).map((f) => f.path)
    for (const file of ['README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'src/index.ts']) assert.ok(files.includes(file), file)
    assert.deepEqual(files.filter((f) => f.startsWith('test/') || f.endsWith('.source-hash')), [])
  })
})
