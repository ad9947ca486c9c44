// The `gamepay` command as an operator or a platform integrator runs it: a real child process,
// checked by its output, its exit code and what it leaves in the database.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve as resolvePath } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { connect } from '../src/db/connect.ts'
import { createOrder, createTestApp, forEachDialect, freshDatabaseUrl, type TestApp } from './helper.ts'

const BIN = resolvePath(import.meta.dirname, '../bin/gamepay.js')
const VECTOR = '{"game_order_no":"811-107552442731859968","gyyx_order_no":"12345567","result":"success","result_message":"","rmb_yuan":128,"server_flag":"s1","common_param":"cp","timestamp":"1732600000"}'
const VECTOR_STRING_A = 'common_param=cp&game_order_no=811-107552442731859968&gyyx_order_no=12345567&result=success&rmb_yuan=128&server_flag=s1&timestamp=1732600000'

interface Run { code: number, stdout: string, stderr: string }

/**
 * `node bin/gamepay.js …` in an empty directory (no .env, no ./data) with only the given
 * environment. Asynchronous, so a server in this process keeps answering while it runs.
 */
function gamepay (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const cwd = mkdtempSync(join(tmpdir(), 'gamepay-cli-'))
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

describe('gamepay simulate-payment', () => {
  let t: TestApp
  let base = ''
  let users = 0
  const env = () => ({ DATABASE_URL: t.url, CALLBACK_SECRET: 'cli-secret' })

  before(async () => {
    t = await createTestApp('sqlite', { url: tempSqliteUrl(), env: { CALLBACK_SECRET: 'cli-secret' } })
    base = await t.app.listen({ port: 0, host: '127.0.0.1' })
  })
  after(async () => { await t.close() })

  async function orderState (orderNo: string) {
    const row = await t.ctx.store.db.selectFrom('orders').select(['status', 'gyyx_order_no', 'paid_fen']).where('order_no', '=', orderNo).executeTakeFirstOrThrow()
    const payments = await t.ctx.store.db.selectFrom('payments').select(['gyyx_order_no', 'kind', 'amount_fen', 'result_message']).where('order_no', '=', orderNo).execute()
    return { status: row.status, gyyx: row.gyyx_order_no, paidFen: row.paid_fen === null ? null : Number(row.paid_fen), payments: payments.map((p) => [p.gyyx_order_no, p.kind, Number(p.amount_fen), p.result_message]) }
  }

  test('when run against a listening server, then the order becomes paid with the amount read from the database', async () => {
    const o = await createOrder(t.app, { user_id: `sim-${++users}`, item: '钻石x6480', item_id: '4', single_pric: 648 })
    const run = await gamepay(['simulate-payment', o.order, '--url', base, '--gyyx', `SIM-${o.order}`], env())
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, new RegExp(`^POST ${base}/api/pay/callback\n`))
    assert.match(run.stdout, /→ 200 \{"result":"success","state":""/)
    assert.deepEqual(await orderState(o.order), { status: 'paid', gyyx: `SIM-${o.order}`, paidFen: 64800, payments: [[`SIM-${o.order}`, 'applied', 64800, 'simulated']] })
    const logged = await t.ctx.store.db.selectFrom('callbacks').select(['signature', 'outcome', 'source_ip']).where('game_order_no', '=', o.order).execute()
    assert.equal(logged.length, 1)
    assert.equal(logged[0].signature, 'valid')
    assert.equal(logged[0].outcome, 'paid')
    assert.match(logged[0].source_ip, /127\.0\.0\.1$/)
  })

  test('when the secret or the amount is wrong, then the server refuses and the order stays unpaid', async () => {
    const o = await createOrder(t.app, { user_id: `sim-${++users}` })
    const [wrongSecret, wrongAmount] = await Promise.all([
      gamepay(['simulate-payment', o.order, '--url', base, '--secret', 'not-the-secret'], env()),
      gamepay(['simulate-payment', o.order, '--url', base, '--amount', '31', '--type', 'HMAC-SHA256'], env()),
    ])
    assert.match(wrongSecret.stdout, /→ 401 .*"state":"SIGN_INVALID"/)
    assert.match(wrongAmount.stdout, /"signType":"HMAC-SHA256"/)
    assert.match(wrongAmount.stdout, /→ 400 .*"state":"AMOUNT_MISMATCH"/)
    assert.deepEqual(await orderState(o.order), { status: 'unpaid', gyyx: null, paidFen: null, payments: [] })
    const outcomes = await t.ctx.store.db.selectFrom('callbacks').select('outcome').where('game_order_no', '=', o.order).execute()
    assert.deepEqual(outcomes.map((r) => r.outcome).sort(), ['SIGN_INVALID', 'amount_mismatch'])
  })

  test('when the order is not in the database and no --amount is given, then it exits 1 and sends nothing', async () => {
    const logBefore = await t.ctx.store.db.selectFrom('callbacks').select('id').execute()
    const run = await gamepay(['simulate-payment', '811-1', '--url', base], env())
    assert.equal(run.code, 1)
    assert.match(run.stderr, /order 811-1 not found .*pass --amount/)
    assert.equal((await t.ctx.store.db.selectFrom('callbacks').select('id').execute()).length, logBefore.length)
  })
})
