// The common case of each hot path costs MySQL one round trip where it can: a new order is one CALL
// of the procedure that writes the order, its event and its key in one transaction, and a payment
// one CALL of the procedure that writes the paid order, its payment, event and log row. Counted by
// the server for the instance's one pooled connection.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { createOrder, createTestApp, DIALECTS, logged, orderRow, pay, paymentsOf, type TestApp } from '../helper.ts'

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

    test('when a success callback pays an unpaid order, then it is one CALL, and a repeat writes nothing more', async () => {
      const o = await createOrder(t.app, { user_id: 'round-trip-pay' })
      const before = await counts()
      const res = await pay(t.app, o.order, 30)
      const after = await counts()
      assert.equal(res.body.state, '')
      assert.deepEqual({ questions: after.questions - before.questions, calls: after.calls - before.calls }, { questions: 2, calls: 1 })
      const row = await orderRow(t, o.order)
      assert.deepEqual({ status: row.status, paid_fen: Number(row.paid_fen), gyyx: row.gyyx_order_no, late: Number(row.late_payment), open_key: row.open_key },
        { status: 'paid', paid_fen: 3000, gyyx: `P${o.order.split('-')[1] ?? o.order}`, late: 0, open_key: null })
      const payments = await paymentsOf(t, o.order)
      assert.deepEqual(payments.map((p) => ({ kind: p.kind, amount: Number(p.amount_fen), applied_by: p.applied_by, trace: p.trace_id })),
        [{ kind: 'applied', amount: 3000, applied_by: null, trace: res.headers['x-request-id'] }])
      const events = await t.ctx.store.db.selectFrom('order_events').select(['from_status', 'to_status', 'actor', 'reason', 'trace_id'])
        .where('order_no', '=', o.order).orderBy('id').execute()
      assert.deepEqual(events.at(-1), { from_status: 'unpaid', to_status: 'paid', actor: 'platform', reason: 'callback', trace_id: res.headers['x-request-id'] })
      const log = await logged(t, res.headers['x-request-id'] as string)
      assert.deepEqual({ outcome: log.outcome, signature: log.signature, anomaly: Number(log.anomaly), order: log.game_order_no, sign_type: log.sign_type },
        { outcome: 'paid', signature: 'valid', anomaly: 0, order: o.order, sign_type: 'MD5' })
      assert.equal(JSON.parse(log.params).game_order_no, o.order)

      // The repeat is not the common case: the procedure writes nothing, and the general way answers it.
      const again = await pay(t.app, o.order, 30)
      assert.equal(again.body.state, '')
      assert.equal((await paymentsOf(t, o.order)).length, 1)
      assert.equal((await logged(t, again.headers['x-request-id'] as string)).outcome, 'already_applied')
    })
  })
}
