// The common case of each hot path costs MySQL one round trip where it can: a new order is one CALL
// of the procedure that writes the order, its event and its key in one transaction. Counted by the
// server for the instance's one pooled connection.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { createOrder, createTestApp, DIALECTS, type TestApp } from '../helper.ts'

for (const dialect of DIALECTS.filter((d) => d === 'mysql')) {
  describe(`round trips [${dialect}]`, () => {
    let t: TestApp
    before(async () => { t = await createTestApp(dialect, { env: { DB_POOL_SIZE: '1' } }) })
    after(async () => { await t.close() })

    /** Statements the server took from this connection (not those run inside a procedure), and procedure calls. */
    async function counts () {
      const { rows } = await sql<{ Variable_name: string, Value: string }>`show session status where Variable_name in ('Questions', 'Com_call_procedure')`
        .execute(t.ctx.store.db)
      const value = (name: string) => Number(rows.find((r) => r.Variable_name === name)?.Value)
      return { questions: value('Questions'), calls: value('Com_call_procedure') }
    }

    test('when a new order is created, with or without an Idempotency-Key, then it is one CALL and the order, event and key are written', async () => {
      for (const key of [undefined, 'round-trip-key']) {
        const user = `round-trip-${key ?? 'plain'}`
        const before = await counts()
        const o = await createOrder(t.app, { user_id: user }, key === undefined ? {} : { 'idempotency-key': key })
        const after = await counts()
        // The CALL, and the SHOW that read the counts.
        assert.deepEqual({ questions: after.questions - before.questions, calls: after.calls - before.calls }, { questions: 2, calls: 1 })
        const db = t.ctx.store.db
        assert.equal((await db.selectFrom('orders').select('status').where('order_no', '=', o.order).executeTakeFirst())?.status, 'unpaid')
        const events = await db.selectFrom('order_events').select(['from_status', 'to_status', 'reason']).where('order_no', '=', o.order).execute()
        assert.deepEqual(events, [{ from_status: null, to_status: 'unpaid', reason: 'create' }])
        const keys = await db.selectFrom('idempotency_keys').select(['idem_key', 'order_no']).where('user_id', '=', user).execute()
        assert.deepEqual(keys, key === undefined ? [] : [{ idem_key: key, order_no: o.order }])
      }
    })
  })
}
