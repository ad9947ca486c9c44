// Strings compare exactly on every database: "888888 " is not "888888" (on MySQL/MariaDB,
// utf8mb4_bin pads with spaces; migration 002 moves every table to a NO PAD binary collation).
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Migrator, sql, type Kysely } from 'kysely'
import { createContext } from '../src/context.ts'
import { connect } from '../src/db/connect.ts'
import type { DialectName } from '../src/db/dialect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { init } from '../src/db/migrations/001_init.ts'
import { exactStringsRetention } from '../src/db/migrations/002_exact_strings_retention.ts'
import { mysqlCollation } from '../src/db/migrations/schema.ts'
import {
  callbackParams, createOrder, createTestApp, forEachDialect, freshDatabaseUrl, logged, orderRow, pay, paymentsOf, post,
  signed, testConfig, type TestApp,
} from './helper.ts'

const cancel = (t: TestApp, body: Record<string, unknown>) => post(t.app, '/api/pay/cancel-order', body)
const verify = (t: TestApp, body: Record<string, unknown>) => post(t.app, '/api/pay/verification', body)

function catalogFile (entries: unknown[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gamepay-goods-')), 'goods.json')
  writeFileSync(file, JSON.stringify(entries))
  return file
}

const ordersOfUser = (t: TestApp, userId: string) => t.ctx.store.db.selectFrom('orders').select(['order_no', 'user_id'])
  .where('user_id', '=', userId).orderBy('order_no').execute()

function assertRefused (res: { status: number, body: { state: string } }, status: number, state: string) {
  assert.equal(res.status, status, JSON.stringify(res.body))
  assert.equal(res.body.state, state)
}

forEachDialect('exact string comparison', (dialect) => {
  let t: TestApp
  before(async () => {
    // "月卡 " (trailing space) is goods of its own, beside "月卡".
    const seed = catalogFile([
      { id: 2, item: '月卡', single_pric: 30, on_sale: true },
      { id: 7, item: '月卡 ', single_pric: 12, on_sale: true },
    ])
    t = await createTestApp(dialect, { env: { GOODS_SEED: seed } })
  })
  after(async () => { await t.close() })

  describe('user ids', () => {
    test('when "888888" paid for an order, then "888888 " can neither verify it nor find it by item, and its count stays 0', async () => {
      const order = await createOrder(t.app, { user_id: '888888' })
      assert.equal((await pay(t.app, order.order, 30)).body.state, '')
      assertRefused(await verify(t, { user_id: '888888 ', item: '月卡', order: order.order }), 404, 'ORDER_NOT_FOUND')
      assertRefused(await verify(t, { user_id: '888888 ', item: '月卡' }), 409, 'ORDER_NOT_PAID')
      assert.equal(Number((await orderRow(t, order.order)).verify_count), 0)
      const own = await verify(t, { user_id: '888888', item: '月卡' })
      assert.equal(own.status, 200)
      assert.equal(own.body.data.order, order.order)
      assert.equal(Number((await orderRow(t, order.order)).verify_count), 1)
    })

    test('when "888888" has an unpaid order, then "888888 " cannot cancel it (ORDER_NOT_FOUND) and it stays unpaid', async () => {
      const order = await createOrder(t.app, { user_id: '888888', server_flag: 'cancel-a' })
      assertRefused(await cancel(t, { user_id: '888888 ', order: order.order }), 404, 'ORDER_NOT_FOUND')
      assert.equal((await orderRow(t, order.order)).status, 'unpaid')
    })

    test('when "888888 " has an order, then "888888" cannot cancel or verify it, and the row keeps the trailing space', async () => {
      const order = await createOrder(t.app, { user_id: '888888 ', server_flag: 'cancel-b' })
      assert.equal(order.user_id, '888888 ')
      assertRefused(await cancel(t, { user_id: '888888', order: order.order }), 404, 'ORDER_NOT_FOUND')
      assertRefused(await verify(t, { user_id: '888888', item: '月卡', order: order.order }), 404, 'ORDER_NOT_FOUND')
      const row = await orderRow(t, order.order)
      assert.equal(row.status, 'unpaid')
      assert.equal(row.user_id, '888888 ')
      assert.deepEqual((await ordersOfUser(t, '888888 ')).map((r) => r.order_no), [order.order])
      assert.ok((await ordersOfUser(t, '888888')).every((r) => r.user_id === '888888'))
      assert.equal((await cancel(t, { user_id: '888888 ', order: order.order })).body.data.status, 'cancelled')
    })

    test('when "idem" and then "idem " send the same Idempotency-Key, then each gets an order of its own', async () => {
      const headers = { 'idempotency-key': 'same-key-1' }
      const first = await createOrder(t.app, { user_id: 'idem' }, headers)
      const second = await createOrder(t.app, { user_id: 'idem ' }, headers)
      assert.notEqual(second.order, first.order)
      assert.equal(second.user_id, 'idem ')
      assert.equal(second.reused, false)
      const keys = await t.ctx.store.db.selectFrom('idempotency_keys').select(['user_id', 'order_no'])
        .where('idem_key', '=', 'same-key-1').orderBy('user_id').execute()
      assert.deepEqual(keys, [{ user_id: 'idem', order_no: first.order }, { user_id: 'idem ', order_no: second.order }])
    })
  })

  describe('order numbers', () => {
    test('when the owner cancels or verifies "<order> " (trailing space), then ORDER_NOT_FOUND and the order is untouched', async () => {
      const order = await createOrder(t.app, { user_id: 'o-space' })
      assertRefused(await cancel(t, { user_id: 'o-space', order: `${order.order} ` }), 404, 'ORDER_NOT_FOUND')
      const verified = await verify(t, { user_id: 'o-space', item: '月卡', order: `${order.order} ` })
      assertRefused(verified, 404, 'ORDER_NOT_FOUND')
      assert.equal((await orderRow(t, order.order)).status, 'unpaid')
    })

    test('when a signed callback names "<order> ", then ORDER_NOT_FOUND, the order stays unpaid and the log keeps the name as sent', async () => {
      const order = await createOrder(t.app, { user_id: 'cb-space' })
      const params = signed(callbackParams(`${order.order} `, 30))
      const res = await post(t.app, '/api/pay/callback', params, { 'x-request-id': 'cb-space-1' })
      assertRefused(res, 404, 'ORDER_NOT_FOUND')
      const row = await orderRow(t, order.order)
      assert.equal(row.status, 'unpaid')
      assert.equal(row.paid_at, null)
      assert.deepEqual(await paymentsOf(t, order.order), [])
      const log = await logged(t, 'cb-space-1')
      assert.equal(log.game_order_no, `${order.order} `)
      assert.equal(log.signature, 'valid')
      assert.equal(log.outcome, 'order_not_found')
    })

    test('when "G-1" pays one order and "G-1 " another, then both are paid, each with its own payment row', async () => {
      const a = await createOrder(t.app, { user_id: 'g-a' })
      const b = await createOrder(t.app, { user_id: 'g-b' })
      assert.equal((await pay(t.app, a.order, 30, { gyyx_order_no: 'G-1' })).body.state, '')
      assert.equal((await pay(t.app, b.order, 30, { gyyx_order_no: 'G-1 ' })).body.state, '')
      assert.equal((await orderRow(t, a.order)).gyyx_order_no, 'G-1')
      assert.equal((await orderRow(t, b.order)).gyyx_order_no, 'G-1 ')
      assert.deepEqual((await paymentsOf(t, a.order)).map((p) => [p.gyyx_order_no, p.kind]), [['G-1', 'applied']])
      assert.deepEqual((await paymentsOf(t, b.order)).map((p) => [p.gyyx_order_no, p.kind]), [['G-1 ', 'applied']])
      const anomalies = await t.ctx.store.db.selectFrom('callbacks').select('outcome')
        .where('gyyx_order_no', 'in', ['G-1', 'G-1 ']).where('anomaly', '=', 1).execute()
      assert.deepEqual(anomalies, [])
    })
  })

  describe('goods names', () => {
    test('when both "月卡" and "月卡 " are in the catalog, then both are stored and each name orders its own goods', async () => {
      const goods = await t.ctx.store.db.selectFrom('goods').select(['id', 'item']).orderBy('id').execute()
      assert.deepEqual(goods.map((g) => [Number(g.id), g.item]), [[2, '月卡'], [7, '月卡 ']])
      const spaced = await createOrder(t.app, { user_id: 'goods-a', item: '月卡 ', item_id: undefined, single_pric: 12 })
      const plain = await createOrder(t.app, { user_id: 'goods-a', item: '月卡', item_id: undefined, single_pric: 30 })
      assert.deepEqual([spaced.item_id, spaced.item, spaced.rmb_yuan], [7, '月卡 ', 12])
      assert.deepEqual([plain.item_id, plain.item, plain.rmb_yuan], [2, '月卡', 30])
      assert.equal((await orderRow(t, spaced.order)).item, '月卡 ')
    })

    test('when "月卡 " is asked for with the id of "月卡", then ITEM_MISMATCH and no order is made', async () => {
      const body = { user_id: 'goods-b', item: '月卡 ', item_id: '2', single_pric: 30 }
      const res = await post(t.app, '/api/pay/create-order', body)
      assertRefused(res, 400, 'ITEM_MISMATCH')
      assert.deepEqual(await ordersOfUser(t, 'goods-b'), [])
    })
  })
})

forEachDialect('exact string comparison, without the spaced goods', (dialect) => {
  test('when "月卡 " is ordered and only "月卡" exists, then GOODS_NOT_FOUND and no order is made', async () => {
    const t = await createTestApp(dialect)
    try {
      const res = await post(t.app, '/api/pay/create-order', { user_id: 'goods-c', item: '月卡 ', single_pric: 30 })
      assertRefused(res, 404, 'GOODS_NOT_FOUND')
      assert.deepEqual(await ordersOfUser(t, 'goods-c'), [])
    } finally {
      await t.close()
    }
  })
})

/** Migrates a database to 001 alone, as an installation from before migration 002 stands. */
async function migrateTo001 (url: string, dialect: DialectName) {
  const store = connect(url)
  try {
    const provider = { getMigrations: async () => ({ '001_init': init(dialect) }) }
    const migrator = new Migrator({ db: store.db, provider })
    const { error } = await migrator.migrateToLatest()
    if (error) throw error
    const now = Date.now()
    await store.db.insertInto('goods')
      .values({ id: 2, item: '月卡', price_fen: 3000, on_sale: 1, created_at: now, updated_at: now }).execute()
    await store.db.insertInto('idempotency_keys')
      .values({ user_id: '888888', idem_key: 'k', order_no: '811-1', response: '{}', created_at: now }).execute()
  } finally {
    await store.close()
  }
}

/** The collations of this MySQL database's own tables and their text columns (empty elsewhere). */
async function collations (db: Kysely<any>, dialect: DialectName): Promise<string[]> {
  if (dialect !== 'mysql') return []
  const { rows } = await sql<{ c: string }>`
    select table_collation as c from information_schema.TABLES
    where table_schema = database() and table_name not like 'kysely%'
    union select collation_name from information_schema.COLUMNS
    where table_schema = database() and collation_name is not null and table_name not like 'kysely%'`.execute(db)
  return rows.map((r) => r.c)
}

const RETENTION_INDEXES = ['callbacks_signature_received', 'idempotency_keys_created']

/** The names of the indexes 002 adds that exist. */
async function retentionIndexes (db: Kysely<any>, dialect: DialectName): Promise<string[]> {
  const names = RETENTION_INDEXES
  const query = dialect === 'sqlite'
    ? sql<{ name: string }>`select name from sqlite_master where type = 'index' and name in (${sql.join(names)})`
    : dialect === 'postgres'
      ? sql<{ name: string }>`select indexname as name from pg_indexes where indexname in (${sql.join(names)})`
      : sql<{ name: string }>`select distinct index_name as name from information_schema.STATISTICS
          where table_schema = database() and index_name in (${sql.join(names)})`
  return (await query.execute(db)).rows.map((r) => r.name).sort()
}

forEachDialect('migration 002 (exact strings, retention indexes)', (dialect) => {
  test('when a database from before 002 starts, then it is migrated with its rows kept, and a second start changes nothing', async () => {
    const url = await freshDatabaseUrl(dialect)
    await migrateTo001(url, dialect)
    const first = await createContext(testConfig(url))
    try {
      const db = first.store.db
      if (dialect === 'mysql') assert.deepEqual(await collations(db, dialect), [await mysqlCollation(db)])
      assert.deepEqual(await retentionIndexes(db, dialect), RETENTION_INDEXES)
      const key = await db.selectFrom('idempotency_keys').select(['user_id', 'idem_key', 'order_no']).execute()
      assert.deepEqual(key, [{ user_id: '888888', idem_key: 'k', order_no: '811-1' }])
      const spaced = db.selectFrom('idempotency_keys').select('order_no').where('user_id', '=', '888888 ')
      assert.deepEqual(await spaced.execute(), [])
    } finally {
      await first.close()
    }

    const second = await createContext(testConfig(url))
    try {
      assert.deepEqual(await migrateToLatest(second.store), [])
      const applied = await sql<{ name: string }>`select name from kysely_migration order by name`
        .execute(second.store.db)
      assert.deepEqual(applied.rows.map((r) => r.name).slice(0, 2), ['001_init', '002_exact_strings_retention'])
      assert.equal((await second.store.db.selectFrom('idempotency_keys').selectAll().execute()).length, 1)
    } finally {
      await second.close()
    }
  })

  test('when 002 runs again over a half-done run (a table not converted, an index missing), then it completes it', async () => {
    const url = await freshDatabaseUrl(dialect)
    const store = connect(url)
    try {
      await migrateToLatest(store)
      // What a run that stopped part-way leaves on MySQL, where DDL is not transactional.
      const drop = store.db.schema.dropIndex('idempotency_keys_created')
      await (dialect === 'mysql' ? drop.on('idempotency_keys') : drop).execute()
      if (dialect === 'mysql') {
        await sql`alter table goods convert to character set utf8mb4 collate utf8mb4_bin`.execute(store.db)
      }
      // The migrator runs migrations on one connection (MySQL session settings, PostgreSQL's transaction).
      const rerun = (db: Kysely<any>) => exactStringsRetention(dialect).up(db)
      await store.db.connection().execute((db) => dialect === 'postgres' ? db.transaction().execute(rerun) : rerun(db))
      await store.db.connection().execute((db) => dialect === 'postgres' ? db.transaction().execute(rerun) : rerun(db))
      assert.deepEqual(await retentionIndexes(store.db, dialect), RETENTION_INDEXES)
      if (dialect === 'mysql') assert.deepEqual(await collations(store.db, dialect), [await mysqlCollation(store.db)])
    } finally {
      await store.close()
    }
  })

  if (dialect === 'mysql') {
    test('when a connection ran the migrations, then its statement time limit is back, and two parameters compare exactly', async () => {
      // One connection: the one the migrator used is the one asked afterwards.
      const store = connect(await freshDatabaseUrl(dialect), { poolSize: 1, statementTimeoutMs: 4000 })
      try {
        assert.deepEqual((await migrateToLatest(store)).slice(0, 2), ['001_init', '002_exact_strings_retention'])
        const { rows } = await sql<{ same: number | string, collation: string }>`
          select ${'a '} = ${'a'} as same, @@collation_connection as collation`.execute(store.db)
        assert.equal(Number(rows[0].same), 0)
        assert.equal(rows[0].collation, await mysqlCollation(store.db))
        // MariaDB's limit, in seconds; MySQL has none by that name (its limit covers only SELECT).
        const limit = await sql<{ Value: string }>`show session variables like 'max_statement_time'`.execute(store.db)
        for (const row of limit.rows) assert.equal(Number(row.Value), 4)
      } finally {
        await store.close()
      }
    })
  }
})
