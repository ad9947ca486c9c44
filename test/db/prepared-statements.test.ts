// The drivers prepare repeated statements on the server: PostgreSQL runs a text with parameters as
// a named statement, parsed and planned once per connection; MySQL runs it through `execute`, a
// server-side prepared statement kept per connection. Values still come back exactly as stored.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { connect, type Store } from '../../src/db/connect.ts'
import { findOrder } from '../../src/modules/orders/orders.repository.ts'
import { createOrder, createTestApp, DIALECTS, pay, post, type TestApp } from '../helper.ts'

const goodsById = (db: Store['db'], id: number) => db.selectFrom('goods').select(['id', 'item', 'price_fen']).where('id', '=', id)

for (const dialect of DIALECTS.filter((d) => d !== 'sqlite')) {
  describe(`prepared statements [${dialect}]`, () => {
    let t: TestApp
    let store: Store
    before(async () => {
      t = await createTestApp(dialect)
      store = connect(t.url, { poolSize: 1 })
    })
    after(async () => {
      await store.close()
      await t.close()
    })

    /** The server's count of statements this connection prepared and executed (MySQL). */
    async function preparedCounts (db: Store['db']) {
      const { rows } = await sql<{ Variable_name: string, Value: string }>`show session status like 'Com_stmt_%'`.execute(db)
      const value = (name: string) => Number(rows.find((r) => r.Variable_name === name)?.Value)
      return { prepared: value('Com_stmt_prepare'), executed: value('Com_stmt_execute') }
    }

    /** The statements this connection holds prepared (PostgreSQL), by their text. */
    async function namedStatements (db: Store['db']) {
      const { rows } = await sql<{ name: string, statement: string }>`select name, statement from pg_prepared_statements`.execute(db)
      return rows
    }

    test('when the same query with parameters runs three times on one connection, then it is prepared once and executed three times', async () => {
      const text = goodsById(store.db, 2).compile().sql
      await store.db.connection().execute(async (db) => {
        if (dialect === 'postgres') {
          for (const id of [1, 2, 3]) await goodsById(db, id).execute()
          const named = (await namedStatements(db)).filter((s) => s.statement === text)
          assert.equal(named.length, 1, JSON.stringify(named))
          assert.match(named[0].name, /^gp_/)
        } else {
          const before = await preparedCounts(db)
          for (const id of [1, 2, 3]) await goodsById(db, id).execute()
          const after = await preparedCounts(db)
          assert.deepEqual({ prepared: after.prepared - before.prepared, executed: after.executed - before.executed }, { prepared: 1, executed: 3 })
        }
      })
      // Prepared or not, the answer is the stored row.
      assert.deepEqual(await goodsById(store.db, 2).executeTakeFirst(), { id: '2', item: '月卡', price_fen: '3000' })
    })

    test('when a query has no parameters or selects *, then it is not kept as a named statement', async () => {
      if (dialect !== 'postgres') return
      await store.db.connection().execute(async (db) => {
        await sql`select count(id) as n from goods`.execute(db)
        await db.selectFrom('goods').selectAll().where('id', '=', 1).execute()
        const texts = (await namedStatements(db)).map((s) => s.statement)
        assert.equal(texts.some((s) => s.includes('count(id)') || s.includes('*')), false, JSON.stringify(texts))
      })
    })

    test('when an order is created, paid and verified through prepared statements, then every value reads back exactly', async () => {
      const o = await createOrder(t.app, { user_id: '用户-😀', item: '每日礼包', item_id: '5', single_pric: 0.1, amount_num: 3, server_flag: 's\'1"' }) as
        Awaited<ReturnType<typeof createOrder>> & { created_at: string }
      const paid = await pay(t.app, o.order, '0.30', { gyyx_order_no: `G-😀-${o.order}` })
      assert.equal(paid.status, 200, JSON.stringify(paid.body))
      const verified = await post(t.app, '/api/pay/verification', { user_id: '用户-😀', item: '每日礼包', order: o.order })
      assert.equal(verified.status, 200, JSON.stringify(verified.body))
      // Read twice on one connection: the second read runs the prepared statement.
      const [first, second] = await store.db.connection().execute(async (db) => [await findOrder(db, o.order, false), await findOrder(db, o.order, false)])
      assert.deepEqual(first, second)
      assert.equal(first?.userId, '用户-😀')
      assert.equal(first?.serverFlag, 's\'1"')
      assert.equal(first?.amountFen, 30)
      assert.equal(first?.createdAt, Date.parse(o.created_at))
      assert.equal(first?.status, 'paid')
      assert.equal(first?.gyyxOrderNo, `G-😀-${o.order}`)
      assert.equal(first?.paidAt, Date.parse(verified.body.data.paid_at))
      assert.equal(first?.verifyCount, 1)
      assert.equal(first?.firstVerifiedAt, Date.parse(verified.body.data.first_verified_at))
    })

    test('when a column is added while a statement is prepared, then the statement still answers', async () => {
      const o = await createOrder(t.app, { user_id: 'prepared-ddl' })
      await store.db.connection().execute(async (db) => {
        assert.equal((await findOrder(db, o.order, false))?.status, 'unpaid')
        await sql`alter table goods add column prepared_probe integer`.execute(t.ctx.store.db)
        try {
          assert.equal((await findOrder(db, o.order, false))?.status, 'unpaid')
          assert.deepEqual(await goodsById(db, 2).executeTakeFirst(), { id: '2', item: '月卡', price_fen: '3000' })
        } finally {
          await sql`alter table goods drop column prepared_probe`.execute(t.ctx.store.db)
        }
      })
    })
  })
}
