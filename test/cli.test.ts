// The `gamepay` command as an operator or a platform integrator runs it: a real child process,
// checked by its output, its exit code and what it leaves in the database.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash, generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve as resolvePath } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { SIGN_OPTIONS } from '../src/cli/payment-tools.ts'
import { displayDatabaseUrl, SIMULATE_OPTIONS } from '../src/cli/simulate-payment.ts'
import { connect } from '../src/db/connect.ts'
import { createOrder, createTestApp, forEachDialect, freshDatabaseUrl, type TestApp } from './helper.ts'

const BIN = resolvePath(import.meta.dirname, '../bin/gamepay.js')
const VECTOR = '{"game_order_no":"811-107552442731859968","gyyx_order_no":"12345567","result":"success","result_message":"","rmb_yuan":128,"server_flag":"s1","common_param":"cp","timestamp":"1732600000"}'
const VECTOR_STRING_A = 'common_param=cp&game_order_no=811-107552442731859968&gyyx_order_no=12345567&result=success&rmb_yuan=128&server_flag=s1&timestamp=1732600000'

interface Run { code: number, stdout: string, stderr: string }

const tempDir = () => mkdtempSync(join(tmpdir(), 'gamepay-cli-'))

/**
 * `node bin/gamepay.js …` in an empty directory (no .env, no ./data), or in `cwd`, with only the
 * given environment. Asynchronous, so a server in this process keeps answering while it runs.
 */
function gamepay (args: string[], env: Record<string, string> = {}, cwd = tempDir()): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      resolve({ code, stdout, stderr })
    })
  })
}

const tempSqliteUrl = () => `sqlite:${join(mkdtempSync(join(tmpdir(), 'gamepay-cli-db-')), 'cli.db')}`

async function withStore<T> (url: string, fn: (store: ReturnType<typeof connect>) => Promise<T>): Promise<T> {
  const store = connect(url)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

describe('gamepay sign', () => {
  test('when the contract test vector is signed with MD5 and HMAC-SHA256, then stringA and both signs are the contract\'s', async () => {
    const [md5, hmac] = await Promise.all([
      gamepay(['sign', '--secret', 'demo-secret', '--json', VECTOR]),
      gamepay(['sign', '--type', 'HMAC-SHA256', '--secret', 'demo-secret', '--json', VECTOR]),
    ])
    assert.equal(md5.code, 0, md5.stderr)
    assert.equal(md5.stdout, `stringA=${VECTOR_STRING_A}\nsignType=MD5\nsign=74fceaed45e99b9fbc26bcfdd6f2ad32\n`)
    assert.equal(md5.stderr, 'secret: --secret\n')
    assert.equal(hmac.code, 0, hmac.stderr)
    assert.equal(hmac.stdout, `stringA=${VECTOR_STRING_A}\nsignType=HMAC-SHA256\nsign=0797d97e465915a7f99bf8c64636dd629a1bd23832cd55745dd2aeba36267f39\n`)
  })

  test('when parameters are given as name=value, then they are signed as written, with CALLBACK_SECRET as the secret', async () => {
    const pairs = ['game_order_no=811-107552442731859968', 'gyyx_order_no=12345567', 'result=success', 'result_message=', 'rmb_yuan=128.00',
      'server_flag=s1', 'common_param=cp', 'timestamp=1732600000']
    const [run, badType] = await Promise.all([
      gamepay(['sign', ...pairs], { CALLBACK_SECRET: 'demo-secret' }),
      gamepay(['sign', '--type', 'SHA1', '--secret', 's', 'a=1']),
    ])
    assert.equal(run.code, 0, run.stderr)
    const stringA = VECTOR_STRING_A.replace('rmb_yuan=128', 'rmb_yuan=128.00')
    const md5 = createHash('md5').update(`${stringA}&key=demo-secret`).digest('hex')
    assert.equal(run.stdout, `stringA=${stringA}\nsignType=MD5\nsign=${md5}\n`)
    assert.equal(run.stderr, 'secret: CALLBACK_SECRET from the environment\n')
    assert.notEqual(md5, '74fceaed45e99b9fbc26bcfdd6f2ad32')

    assert.equal(badType.code, 1)
    assert.match(badType.stderr, /--type must be MD5, HMAC-SHA256 or RSA2, got "SHA1"/)
    assert.equal(badType.stdout, '')
  })
})

describe('gamepay goods import', () => {
  test('when a catalog file is imported, then its goods are upserted by id, all or nothing', async () => {
    const url = tempSqliteUrl()
    const dir = mkdtempSync(join(tmpdir(), 'gamepay-goods-'))
    const file = join(dir, 'goods.json')
    writeFileSync(file, JSON.stringify([
      { id: 1, item: '月卡', single_pric: 30, on_sale: true },
      { id: 9, item: '钻石x648', single_pric: 6.48, on_sale: false },
      { id: 10, item: '礼包', single_pric: 128 },
    ]))
    const imported = await gamepay(['goods', 'import', file], { DATABASE_URL: url })
    assert.equal(imported.code, 0, imported.stderr)
    assert.equal(imported.stdout.trim(), 'goods: 3 inserted, 0 updated')
    const rows = async () => withStore(url, async (store) =>
      (await store.db.selectFrom('goods').select(['id', 'item', 'price_fen', 'on_sale']).orderBy('id').execute())
        .map((g) => [Number(g.id), g.item, Number(g.price_fen), Number(g.on_sale)]))
    assert.deepEqual(await rows(), [[1, '月卡', 3000, 1], [9, '钻石x648', 648, 0], [10, '礼包', 12800, 1]])

    writeFileSync(file, JSON.stringify([
      { id: 9, item: '钻石x648', single_pric: 6, on_sale: true },
      { id: 11, item: '新品', single_pric: 0.01 },
    ]))
    const again = await gamepay(['goods', 'import', file], { DATABASE_URL: url })
    assert.equal(again.stdout.trim(), 'goods: 1 inserted, 1 updated')
    assert.deepEqual(await rows(), [[1, '月卡', 3000, 1], [9, '钻石x648', 600, 1], [10, '礼包', 12800, 1], [11, '新品', 1, 1]])

    // A bad entry anywhere stops the whole file: the good entry before it does not land either.
    writeFileSync(file, JSON.stringify([{ id: 1, item: '月卡', single_pric: 35 }, { id: 12, item: '礼包2', single_pric: '128.00' }]))
    const refused = await gamepay(['goods', 'import', file], { DATABASE_URL: url })
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /goods\.json\[1\]\.single_pric/)
    assert.deepEqual((await rows())[0], [1, '月卡', 3000, 1])
  })
})

describe('gamepay configuration', () => {
  test('when DATABASE_URL is not a supported URL, then it exits 1 naming the variable', async () => {
    const bad = await gamepay(['migrate'], { DATABASE_URL: 'redis://127.0.0.1' })
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /^configuration error: DATABASE_URL/)
  })
})

forEachDialect('gamepay migrate', (dialect) => {
  test('when run on an empty database, then every table is created; run again, nothing is left to do', async () => {
    const url = await freshDatabaseUrl(dialect)
    const first = await gamepay(['migrate'], { DATABASE_URL: url })
    assert.equal(first.code, 0, first.stderr)
    assert.match(first.stdout, /^applied: 001_init(, \d{3}_\w+)*\n$/)
    const tables = await withStore(url, async (store) => (await store.db.introspection.getTables()).map((t) => t.name))
    for (const table of ['callbacks', 'goods', 'idempotency_keys', 'order_events', 'orders', 'payments', 'worker_leases']) {
      assert.ok(tables.includes(table), `${table} in ${tables.join(', ')}`)
    }

    const second = await gamepay(['migrate'], { DATABASE_URL: url })
    assert.equal(second.code, 0, second.stderr)
    assert.equal(second.stdout.trim(), 'database is up to date')
  })
})

describe('gamepay --help', () => {
  test('when asked for help, then the commands, and each tool\'s every flag, are printed with exit status 0', async () => {
    const [list, sign, simulate, helpSimulate] = await Promise.all([
      gamepay(['--help']),
      gamepay(['sign', '--help']),
      gamepay(['simulate-payment', '--help']),
      gamepay(['help', 'simulate-payment']),
    ])
    assert.equal(list.code, 0, list.stderr)
    for (const command of ['serve', 'migrate', 'sign', 'simulate-payment <order>', 'goods import <file.json>']) {
      assert.match(list.stdout, new RegExp(`^  ${command} `, 'm'))
    }
    for (const [run, options] of [[sign, SIGN_OPTIONS], [simulate, SIMULATE_OPTIONS]] as const) {
      assert.equal(run.code, 0, run.stderr)
      assert.equal(run.stderr, '')
      for (const name of Object.keys(options)) {
        assert.match(run.stdout, new RegExp(`^  (-h, )?--${name} `, 'm'), `--${name} is explained`)
      }
    }
    assert.match(simulate.stdout, /^gamepay simulate-payment <order> \[options\]\n/)
    assert.equal(helpSimulate.stdout, simulate.stdout)
  })

  test('when a flag is unknown, then it exits 1 pointing at the command\'s help', async () => {
    const run = await gamepay(['simulate-payment', '811-1', '--amout', '30'])
    assert.equal(run.code, 1)
    assert.match(run.stderr, /^gamepay: Unknown option '--amout'/)
    assert.match(run.stderr, /\nhint: gamepay simulate-payment --help\n$/)
  })
})

/** A port nothing listens on (one that was just free). */
async function closedPort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

const SERVER_SECRET = 'cli-secret-of-16+chars'

/** What a run said about one thing it used ("server", "secret", "database", "amount"). */
function said (run: Run, label: string): string | undefined {
  const line = run.stdout.split('\n').find((l) => l.startsWith(`${label}:`))
  return line?.replace(/^\w+:\s+/, '')
}

function assertNoSecretPrinted (run: Run) {
  assert.ok(!run.stdout.includes(SERVER_SECRET) && !run.stderr.includes(SERVER_SECRET), 'the secret is never printed')
}

describe('gamepay simulate-payment', () => {
  let t: TestApp
  let base = ''
  let users = 0
  const env = () => ({ DATABASE_URL: t.url, CALLBACK_SECRET: SERVER_SECRET })
  const db = () => t.ctx.store.db

  before(async () => {
    t = await createTestApp('sqlite', { url: tempSqliteUrl(), env: { CALLBACK_SECRET: SERVER_SECRET } })
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
  })
  after(async () => { await t.close() })

  async function orderState (orderNo: string) {
    const row = await db().selectFrom('orders').select(['status', 'gyyx_order_no', 'paid_fen'])
      .where('order_no', '=', orderNo).executeTakeFirstOrThrow()
    const payments = await db().selectFrom('payments').select(['gyyx_order_no', 'kind', 'amount_fen', 'result_message'])
      .where('order_no', '=', orderNo).execute()
    return {
      status: row.status,
      gyyx: row.gyyx_order_no,
      paidFen: row.paid_fen === null ? null : Number(row.paid_fen),
      payments: payments.map((p) => [p.gyyx_order_no, p.kind, Number(p.amount_fen), p.result_message]),
    }
  }

  const UNPAID = { status: 'unpaid', gyyx: null, paidFen: null, payments: [] }

  async function outcomes (orderNo: string) {
    const rows = await db().selectFrom('callbacks').select('outcome').where('game_order_no', '=', orderNo).execute()
    return rows.map((r) => r.outcome).sort()
  }

  const callbackCount = async () => (await db().selectFrom('callbacks').select('id').execute()).length

  test('when the server accepts, then the order is paid the amount in the database; exit 0, saying what it used', async () => {
    const o = await createOrder(t.app, { user_id: `sim-${++users}`, item: '钻石x6480', item_id: '4', single_pric: 648 })
    const run = await gamepay(['simulate-payment', o.order, '--url', base, '--gyyx', `SIM-${o.order}`], env())
    assert.equal(run.code, 0, run.stderr)
    assert.equal(run.stderr, '')
    assert.equal(said(run, 'server'), `${base} (--url)`)
    assert.equal(said(run, 'secret'), 'CALLBACK_SECRET from the environment')
    assert.equal(said(run, 'database'), `${t.url} (DATABASE_URL from the environment)`)
    assert.equal(said(run, 'amount'), '648 yuan (the order\'s, from the database)')
    assert.match(run.stdout, new RegExp(`^POST ${base}/api/pay/callback\n`, 'm'))
    assert.match(run.stdout, /→ 200 \{"result":"success","state":""/)
    assertNoSecretPrinted(run)
    assert.deepEqual(await orderState(o.order),
      { status: 'paid', gyyx: `SIM-${o.order}`, paidFen: 64800, payments: [[`SIM-${o.order}`, 'applied', 64800, 'simulated']] })
    const logged = await db().selectFrom('callbacks').select(['signature', 'outcome', 'source_ip'])
      .where('game_order_no', '=', o.order).execute()
    assert.equal(logged.length, 1)
    assert.equal(logged[0].signature, 'valid')
    assert.equal(logged[0].outcome, 'paid')
    assert.match(logged[0].source_ip, /127\.0\.0\.1$/)
  })

  test('when the server checks with another secret, then SIGN_INVALID exits 1 naming the secret\'s source and the fix', async () => {
    const o = await createOrder(t.app, { user_id: `sim-${++users}` })
    const [fromEnv, devSecret, flag] = await Promise.all([
      gamepay(['simulate-payment', o.order, '--url', base], { ...env(), CALLBACK_SECRET: 'another-secret-of-16+chars' }),
      gamepay(['simulate-payment', o.order, '--url', base], { DATABASE_URL: t.url }),
      gamepay(['simulate-payment', o.order, '--url', base, '--secret', 'not-the-secret'], env()),
    ])
    for (const run of [fromEnv, devSecret, flag]) {
      assert.equal(run.code, 1, run.stdout)
      assert.match(run.stdout, /→ 401 .*"state":"SIGN_INVALID"/)
      assert.match(run.stderr, /^gamepay: the server refused the callback: 401 SIGN_INVALID: /)
      assertNoSecretPrinted(run)
    }
    assert.equal(said(fromEnv, 'secret'), 'CALLBACK_SECRET from the environment')
    assert.equal(said(devSecret, 'secret'), 'the development secret')
    assert.equal(said(flag, 'secret'), '--secret')
    assert.match(fromEnv.stderr, new RegExp('\nhint: the server checks signatures with another secret than this tool\'s ' +
      '\\(CALLBACK_SECRET from the environment\\): start the server and this tool with the same \\.env \\(CALLBACK_SECRET\\), ' +
      'or pass --secret'))
    assert.match(devSecret.stderr, /\nhint: .*\(the development secret\).* the same \.env \(CALLBACK_SECRET\), or pass --secret/)
    assert.match(flag.stderr, /\nhint: --secret is not the secret the server checks with/)
    assert.deepEqual(await orderState(o.order), UNPAID)
    assert.deepEqual(await outcomes(o.order), ['SIGN_INVALID', 'SIGN_INVALID', 'SIGN_INVALID'])
  })

  test('when the amount is wrong, then AMOUNT_MISMATCH exits 1 pointing at --amount, and the order stays unpaid', async () => {
    const o = await createOrder(t.app, { user_id: `sim-${++users}` })
    const run = await gamepay(['simulate-payment', o.order, '--url', base, '--amount', '31', '--type', 'HMAC-SHA256'], env())
    assert.equal(run.code, 1)
    assert.equal(said(run, 'amount'), '31 yuan (--amount; no database read)')
    assert.equal(said(run, 'database'), undefined)
    assert.match(run.stdout, /"signType":"HMAC-SHA256"/)
    assert.match(run.stdout, /→ 400 .*"state":"AMOUNT_MISMATCH"/)
    assert.match(run.stderr, /AMOUNT_MISMATCH.*\nhint: pass --amount with the order's amount, or leave --amount out/)
    assert.deepEqual(await orderState(o.order), UNPAID)
    assert.deepEqual(await outcomes(o.order), ['amount_mismatch'])
  })

  test('when the order is in the tool\'s database only, then ORDER_NOT_FOUND exits 1 asking about DATABASE_URL', async () => {
    const elsewhere = await createTestApp('sqlite', { url: tempSqliteUrl() })
    const o = await createOrder(elsewhere.app, { user_id: `sim-${++users}` })
    await elsewhere.close()
    const [otherDatabase, givenAmount] = await Promise.all([
      gamepay(['simulate-payment', o.order, '--url', base], { ...env(), DATABASE_URL: elsewhere.url }),
      gamepay(['simulate-payment', o.order, '--url', base, '--amount', '30'], env()),
    ])
    for (const run of [otherDatabase, givenAmount]) {
      assert.equal(run.code, 1)
      assert.match(run.stdout, /→ 404 .*"state":"ORDER_NOT_FOUND"/)
      assert.match(run.stderr, /^gamepay: the server refused the callback: 404 ORDER_NOT_FOUND/)
    }
    assert.equal(said(otherDatabase, 'database'), `${elsewhere.url} (DATABASE_URL from the environment)`)
    assert.match(otherDatabase.stderr, new RegExp(`\nhint: the order is in ${elsewhere.url} .*` +
      'but not in the server\'s database: is the server running with the same DATABASE_URL\\?'))
    assert.match(givenAmount.stderr, /\nhint: the server's database has no order .*DATABASE_URL/)
    assert.equal((await db().selectFrom('orders').select('order_no').where('order_no', '=', o.order).execute()).length, 0)
    assert.deepEqual(await outcomes(o.order), ['order_not_found', 'order_not_found'])
  })

  test('when the server does not accept the sign type, then SIGN_TYPE_UNSUPPORTED exits 1 pointing at --type', async () => {
    const o = await createOrder(t.app, { user_id: `sim-${++users}` })
    const dir = tempDir()
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    writeFileSync(join(dir, 'platform.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }))
    const run = await gamepay(['simulate-payment', o.order, '--url', base, '--private-key', 'platform.pem'], env(), dir)
    assert.equal(run.code, 1)
    assert.equal(said(run, 'secret'), '--private-key platform.pem')
    assert.match(run.stdout, /"signType":"RSA2"/)
    assert.match(run.stderr, /SIGN_TYPE_UNSUPPORTED.*\nhint: the server does not accept signType RSA2: its CALLBACK_SIGN_TYPES .*--type/)
    assert.deepEqual(await orderState(o.order), UNPAID)
  })

  test('when no server listens at the address, then it exits 1 saying so, with npm start or --url as the fix', async () => {
    const port = await closedPort()
    const before = await callbackCount()
    const run = await gamepay(['simulate-payment', '811-1', '--amount', '30'], { PORT: String(port) })
    assert.equal(run.code, 1)
    assert.equal(said(run, 'server'), `http://127.0.0.1:${port} (the default HOST, PORT from the environment)`)
    assert.equal(said(run, 'secret'), 'the development secret')
    assert.equal(run.stderr, `gamepay: no server is listening at http://127.0.0.1:${port} (connection refused)\n` +
      'hint: start one with `npm start` in this directory (the same .env), or pass --url with the server\'s address\n')
    assert.equal(await callbackCount(), before)
  })

  test('when the order is not in the tool\'s database and no --amount is given, then it exits 1 and sends nothing', async () => {
    const before = await callbackCount()
    const [missingOrder, missingFile] = await Promise.all([
      gamepay(['simulate-payment', '811-1', '--url', base], env()),
      gamepay(['simulate-payment', '811-1', '--url', base], { CALLBACK_SECRET: SERVER_SECRET }),
    ])
    assert.equal(missingOrder.code, 1)
    assert.equal(missingOrder.stderr, `gamepay: order 811-1 is not in ${t.url} (DATABASE_URL from the environment)\n` +
      'hint: pass --amount <yuan>, or point DATABASE_URL at the server\'s database (run this tool where the server\'s .env is)\n')
    // Run where no server lives, it looks for the default file and does not create it.
    assert.equal(missingFile.code, 1)
    assert.match(missingFile.stderr,
      /^gamepay: order 811-1: sqlite:\.\/data\/gamepay\.db \(the default DATABASE_URL\) does not exist here\nhint: pass --amount/)
    assert.doesNotMatch(missingOrder.stdout + missingFile.stdout, /^POST /m)
    assert.equal(await callbackCount(), before)
  })

  test('when the configuration does not load, then it exits 1 naming the variable; the flags can stand in for it', async () => {
    const o = await createOrder(t.app, { user_id: `sim-${++users}` })
    const dir = tempDir()
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    writeFileSync(join(dir, 'platform.pub'), publicKey.export({ type: 'spki', format: 'pem' }))
    const before = await callbackCount()
    const [noSecret, rsaOnly] = await Promise.all([
      gamepay(['simulate-payment', o.order, '--url', base], { DATABASE_URL: t.url, HOST: '0.0.0.0' }),
      gamepay(['simulate-payment', o.order, '--url', base],
        { ...env(), CALLBACK_SIGN_TYPES: 'RSA2', CALLBACK_RSA_PUBLIC_KEY: 'platform.pub' }, dir),
    ])
    assert.equal(noSecret.code, 1)
    assert.equal(noSecret.stderr, 'gamepay: the server\'s configuration (the environment and .env) does not load: ' +
      'CALLBACK_SECRET: is required because HOST=0.0.0.0 is not a loopback address\nhint: the server would refuse to ' +
      'start with it too: fix .env or the environment, or pass --secret with the server\'s secret\n')
    assert.equal(rsaOnly.code, 1)
    assert.match(rsaOnly.stderr, new RegExp('^gamepay: the server accepts only RSA2 \\(CALLBACK_SIGN_TYPES=RSA2\\), so there ' +
      'is no CALLBACK_SECRET to sign MD5 with\nhint: pass --private-key'))
    assert.equal(await callbackCount(), before)
    assert.equal((await orderState(o.order)).status, 'unpaid')

    const withSecret = await gamepay(['simulate-payment', o.order, '--url', base, '--secret', SERVER_SECRET],
      { DATABASE_URL: t.url, HOST: '0.0.0.0', NODE_ENV: 'production' })
    assert.equal(withSecret.code, 0, withSecret.stderr)
    assert.equal(said(withSecret, 'secret'), '--secret')
    assert.equal(said(withSecret, 'database'), `${t.url} (DATABASE_URL from the environment)`)
    assert.equal((await orderState(o.order)).status, 'paid')
  })

  test('when the server answers every refusal with HTTP 200 (always-200), then a refusal still exits 1', async () => {
    const lenient = await createTestApp('sqlite',
      { url: tempSqliteUrl(), env: { CALLBACK_SECRET: SERVER_SECRET, HTTP_STATUS_MODE: 'always-200' } })
    try {
      const url = await lenient.app.listen({ port: 0, host: '127.0.0.1' })
      const run = await gamepay(['simulate-payment', '811-1', '--url', url, '--amount', '30'], env())
      assert.equal(run.code, 1)
      assert.match(run.stdout, /→ 200 \{"result":"fail","state":"ORDER_NOT_FOUND"/)
      assert.match(run.stderr, /^gamepay: the server refused the callback: 200 ORDER_NOT_FOUND/)
    } finally {
      await lenient.close()
    }
  })
})

forEachDialect('gamepay simulate-payment beside the server', (dialect) => {
  test('when run where the server\'s .env is, then it needs no option: address, database and secret come from it', async () => {
    const t = await createTestApp(dialect, { env: { CALLBACK_SECRET: SERVER_SECRET } })
    try {
      const base = await t.app.listen({ port: 0, host: '127.0.0.1' })
      const dir = tempDir()
      const lines = [`PORT=${new URL(base).port}`, `DATABASE_URL=${t.url}`, `CALLBACK_SECRET=${SERVER_SECRET}`]
      writeFileSync(join(dir, '.env'), lines.join('\n'))
      const o = await createOrder(t.app, { user_id: 'beside', item: '商品属性', item_id: '1', single_pric: 99.99 })
      const run = await gamepay(['simulate-payment', o.order], {}, dir)
      assert.equal(run.code, 0, run.stderr)
      assert.equal(said(run, 'server'), `${base} (the default HOST, PORT from .env)`)
      assert.equal(said(run, 'secret'), 'CALLBACK_SECRET from .env')
      assert.equal(said(run, 'database'), `${displayDatabaseUrl(t.url)} (DATABASE_URL from .env)`)
      assert.equal(said(run, 'amount'), '99.99 yuan (the order\'s, from the database)')
      assertNoSecretPrinted(run)
      const row = await t.ctx.store.db.selectFrom('orders').select(['status', 'paid_fen'])
        .where('order_no', '=', o.order).executeTakeFirstOrThrow()
      assert.deepEqual([row.status, Number(row.paid_fen)], ['paid', 9999])
      const payments = await t.ctx.store.db.selectFrom('payments').select(['kind', 'amount_fen'])
        .where('order_no', '=', o.order).execute()
      assert.deepEqual(payments.map((p) => [p.kind, Number(p.amount_fen)]), [['applied', 9999]])
    } finally {
      await t.close()
    }
  })
})
