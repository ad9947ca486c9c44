// The production install as the README gives it: build, `npm prune --omit=dev`, then the command
// `npm start` runs. It works on a copy of the checkout with the node_modules already installed (a
// fresh `npm ci` compiles better-sqlite3 for minutes), so it proves what pruning leaves behind.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { after, test } from 'node:test'
import { call, freePort, openStore, ROOT, sleep, type Reply } from './processes.ts'

const DEV_ONLY = ['tsx', 'typescript', 'esbuild', 'pino-pretty']
const dir = mkdtempSync(join(tmpdir(), 'gamepay-production-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** What a commit of the working tree would hold: tracked and new files, not ignored ones (dist/, .env). */
function copyCheckout () {
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
  for (const file of listed.split('\0').filter(Boolean)) {
    if (!existsSync(join(ROOT, file))) continue
    mkdirSync(dirname(join(dir, file)), { recursive: true })
    cpSync(join(ROOT, file), join(dir, file))
  }
  // cp -a: several times faster than fs.cpSync over some 16 000 files, and keeps .bin's links as they are.
  execFileSync('cp', ['-a', join(ROOT, 'node_modules'), join(dir, 'node_modules')])
}

/** This test's own npm, untouched by the npm (and the test runner) that may be running it. */
function npm (args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_|^NODE_OPTIONS$|^NODE_TEST_CONTEXT$/i.test(name)))
  execFileSync('npm', [...args, '--no-audit', '--no-fund'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] })
}

/** Command lines of a process's descendants, from /proc. */
function descendants (pid: number): string[][] {
  const parents = new Map<number, number>()
  for (const name of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      parents.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {}
  }
  const found: number[] = []
  for (let queue = [pid]; queue.length > 0;) {
    const parent = queue.shift()
    for (const [child, ppid] of parents) {
      if (ppid !== parent) continue
      found.push(child)
      queue.push(child)
    }
  }
  return found.map(commandLine)
}

const commandLine = (pid: number): string[] => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean)
  } catch {
    return []
  }
}

test('when the build is pruned of its dev dependencies, then gamepay serves the demo goods from compiled JavaScript alone', async () => {
  copyCheckout()
  npm(['run', 'build'])
  npm(['prune', '--omit=dev'])
  const modules = join(dir, 'node_modules')
  for (const name of DEV_ONLY) assert.equal(existsSync(join(modules, name)), false, `${name} survived npm prune --omit=dev`)
  assert.deepEqual(existsSync(join(modules, '@esbuild')) ? readdirSync(join(modules, '@esbuild')) : [], [])

  const port = await freePort()
  const databaseUrl = `sqlite:${join(dir, 'production.db')}`
  // No TTY and no inherited NODE_OPTIONS: a service manager's start, JSON logs.
  const child = spawn(process.execPath, ['bin/gamepay.js', 'serve'], {
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  try {
    let res: Reply | undefined
    for (const deadline = Date.now() + 30_000; !res;) {
      assert.equal(child.exitCode, null, `gamepay exited during start-up:\n${output}`)
      assert.ok(Date.now() < deadline, `gamepay did not answer in 30 s:\n${output}`)
      res = await call(`http://127.0.0.1:${port}`, 'GET', '/api/pay/goods?id=1', { timeoutMs: 2000 }).catch(async () => {
        await sleep(100)
        return undefined
      })
    }
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const { id, item, single_pric: price } = res.body.data
    assert.deepEqual({ id, item, price }, { id: 1, item: '商品属性', price: 99.99 })

    // Plain node on the compiled command: no --import tsx, no loader of any kind.
    assert.deepEqual(commandLine(child.pid!).slice(1), ['bin/gamepay.js', 'serve'])
    const helpers = descendants(child.pid!)
    assert.deepEqual(helpers.filter((argv) => argv.join(' ').includes('esbuild')), [], 'an esbuild process serves beside gamepay')
    assert.equal(output.split('\n').filter(Boolean).every((line) => line.startsWith('{')), true, `not JSON log lines:\n${output}`)
  } finally {
    child.kill('SIGTERM')
    await exited
  }

  const store = openStore(databaseUrl)
  try {
    const goods = await store.db.selectFrom('goods').select(['item', 'price_fen']).where('id', '=', 1).executeTakeFirstOrThrow()
    assert.deepEqual({ item: goods.item, price_fen: String(goods.price_fen) }, { item: '商品属性', price_fen: '9999' })
  } finally {
    await store.close()
  }
})
