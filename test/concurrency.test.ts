// "Exactly once" for callbacks and create-order's rules 0 and 4 under concurrency, on real databases: many
// requests at once against one order, cancel racing callbacks, and several instances on one database.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { parseOrderNumber } from '../src/domain/order-number.ts'
import { applyTransition, findOrder, type Order } from '../src/modules/orders/orders.repository.ts'
import { callbackParams, createOrder, createTestApp, forEachDialect, orderRow, paymentsOf, post, signed, type TestApp } from './helper.ts'

async function transitionsOf (t: TestApp, orderNo: string) {
  const rows = await t.ctx.store.db.selectFrom('order_events').select(['from_status', 'to_status']).where('order_no', '=', orderNo).orderBy('id').execute()
  return rows.map((e) => [e.from_status, e.to_status])
}

async function outcomesOf (t: TestApp, orderNo: string) {
  const rows = await t.ctx.store.db.selectFrom('callbacks').select('outcome').where('game_order_no', '=', orderNo).execute()
  const counts: Record<string, number> = {}
  for (const r of rows) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1
  return counts
}

async function callback (app: TestApp, params: Record<string, unknown>) {
  return post(app.app, '/api/pay/callback', params, { 'x-request-id': randomUUID() })
}

function assertAllSucceeded (responses: Array<{ status: number, body: any }>) {
  for (const r of responses) {
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.result, 'success')
    assert.equal(r.body.state, '')
  }
}

/** Paid once and on time: one applied payment under `gyyx`, one unpaid → paid event. */
async function assertPaidOnce (t: TestApp, orderNo: string, gyyx: string) {
  const row = await orderRow(t, orderNo)
  assert.equal(row.status, 'paid')
  assert.equal(row.gyyx_order_no, gyyx)
  assert.equal(Number(row.paid_fen), 3000)
  assert.equal(Number(row.late_payment), 0)
  assert.deepEqual((await paymentsOf(t, orderNo)).map((p) => [p.gyyx_order_no, p.kind]), [[gyyx, 'applied']])
  assert.deepEqual(await transitionsOf(t, orderNo), [[null, 'unpaid'], ['unpaid', 'paid']])
}

forEachDialect('concurrency', (dialect) => {
  let t: TestApp
  let users = 0
  const user = () => `cc-${++users}`

  before(async () => { t = await createTestApp(dialect) })
  after(async () => { await t.close() })

  test('when 50 identical signed callbacks hit one order at once, then it is paid exactly once', async () => {
    const o = await createOrder(t.app, { user_id: user() })
    const params = signed(callbackParams(o.order, 30))
    const responses = await Promise.all(Array.from({ length: 50 }, () => callback(t, params)))
    assertAllSucceeded(responses)
    await assertPaidOnce(t, o.order, params.gyyx_order_no)
    assert.deepEqual(await outcomesOf(t, o.order), { paid: 1, already_applied: 49 })
  })

  test('when 20 callbacks with distinct gyyx_order_no hit one order at once, then one is applied and the rest are duplicates', async () => {
    const o = await createOrder(t.app, { user_id: user() })
    const all = Array.from({ length: 20 }, (_, i) => signed(callbackParams(o.order, 30, { gyyx_order_no: `D${i}-${o.order}` })))
    const responses = await Promise.all(all.map((params) => callback(t, params)))
    assertAllSucceeded(responses)

    const row = await orderRow(t, o.order)
    assert.equal(row.status, 'paid')
    const payments = await paymentsOf(t, o.order)
    assert.equal(payments.length, 20)
    const applied = payments.filter((p) => p.kind === 'applied')
    assert.equal(applied.length, 1)
    assert.equal(applied[0].gyyx_order_no, row.gyyx_order_no)
    assert.equal(payments.filter((p) => p.kind === 'duplicate').length, 19)
    assert.deepEqual(new Set(payments.map((p) => p.gyyx_order_no)), new Set(all.map((p) => p.gyyx_order_no)))
    assert.deepEqual(await transitionsOf(t, o.order), [[null, 'unpaid'], ['unpaid', 'paid']])
    assert.deepEqual(await outcomesOf(t, o.order), { paid: 1, duplicate_payment: 19 })
  })

  test('when cancel races callbacks on many orders, then every order ends paid and its history agrees with the answers', async () => {
    const orders = await Promise.all(Array.from({ length: 12 }, () => createOrder(t.app, { user_id: user() })))
    await Promise.all(orders.map(async (o, i) => {
      const params = signed(callbackParams(o.order, 30))
      const cancel = () => post(t.app, '/api/pay/cancel-order', { user_id: o.user_id, order: o.order })
      const pay = () => callback(t, params)
      // Interleaved differently per order: the cancel goes first, last, or between duplicates.
      const steps = [pay, pay, pay]
      steps.splice(i % 4, 0, cancel)
      const answers = await Promise.all(steps.map((step) => step()))
      const cancelAnswer = answers[i % 4]
      assertAllSucceeded(answers.filter((_, j) => j !== i % 4))

      const row = await orderRow(t, o.order)
      assert.equal(row.status, 'paid')
      assert.equal(row.gyyx_order_no, params.gyyx_order_no)
      const payments = await paymentsOf(t, o.order)
      assert.equal(payments.length, 1)
      if (cancelAnswer.body.state === '') {
        // The cancel won: the payment landed late on a cancelled order.
        assert.equal(cancelAnswer.body.data.status, 'cancelled')
        assert.equal(Number(row.late_payment), 1)
        assert.equal(payments[0].kind, 'late')
        assert.deepEqual(await transitionsOf(t, o.order), [[null, 'unpaid'], ['unpaid', 'cancelled'], ['cancelled', 'paid']])
        assert.deepEqual(await outcomesOf(t, o.order), { late_paid: 1, already_applied: 2 })
      } else {
        assert.equal(cancelAnswer.status, 409)
        assert.equal(cancelAnswer.body.state, 'ORDER_ALREADY_PAID')
        assert.equal(Number(row.late_payment), 0)
        assert.equal(payments[0].kind, 'applied')
        assert.deepEqual(await transitionsOf(t, o.order), [[null, 'unpaid'], ['unpaid', 'paid']])
        assert.deepEqual(await outcomesOf(t, o.order), { paid: 1, already_applied: 2 })
      }
    }))
  })

  test('when a transition starts from an order read before someone else paid it, then it loses the race and reruns, and the paid row stays as it was', async () => {
    const o = await createOrder(t.app, { user_id: user() })
    const stale = await findOrder(t.ctx.store.db, o.order, false) as Order
    assert.equal(stale.status, 'unpaid')
    const params = signed(callbackParams(o.order, 30))
    assertAllSucceeded([await callback(t, params)])

    // The first attempt cancels from the stale read; the rerun reads again and finds the order paid.
    let attempts = 0
    const outcome = await t.ctx.store.transaction(async (trx) => {
      attempts++
      const order = attempts === 1 ? stale : await findOrder(trx, o.order, false) as Order
      if (order.status !== 'unpaid') return order.status
      return applyTransition(trx, order, 'cancel', { actor: 'user', reason: 'cancel', traceId: null, now: Date.now() })
    })
    assert.equal(attempts, 2)
    assert.equal(outcome, 'paid')
    await assertPaidOnce(t, o.order, params.gyyx_order_no)
  })

  test('when the same user creates the same order 20 times at once, then one open order is handed to all', async () => {
    const userId = user()
    const responses = await Promise.all(Array.from({ length: 20 }, () => post(t.app, '/api/pay/create-order', { user_id: userId, item: '月卡', item_id: '2', single_pric: 30 })))
    assertAllSucceeded(responses)
    const numbers = new Set(responses.map((r) => r.body.data.order))
    assert.equal(numbers.size, 1)
    assert.equal(responses.filter((r) => r.body.data.reused === false).length, 1)
    const rows = await t.ctx.store.db.selectFrom('orders').select(['order_no', 'status']).where('user_id', '=', userId).execute()
    assert.deepEqual(rows, [{ order_no: [...numbers][0], status: 'unpaid' }])
    assert.deepEqual(await transitionsOf(t, rows[0].order_no), [[null, 'unpaid']])
  })

  test('when 20 create-order requests share an Idempotency-Key at once, then one order is created and every answer is its data', async () => {
    const userId = user()
    const key = randomUUID()
    // Different servers, so without the key each would be a different order.
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) =>
      post(t.app, '/api/pay/create-order', { user_id: userId, item: '月卡', item_id: '2', single_pric: 30, server_flag: `s${i}` }, { 'idempotency-key': key })))
    assertAllSucceeded(responses)
    const first = responses[0].body.data
    for (const r of responses) assert.deepEqual(r.body.data, first)
    const rows = await t.ctx.store.db.selectFrom('orders').select('order_no').where('user_id', '=', userId).execute()
    assert.deepEqual(rows.map((r) => r.order_no), [first.order])
    const keys = await t.ctx.store.db.selectFrom('idempotency_keys').select(['order_no', 'idem_key']).where('user_id', '=', userId).execute()
    assert.deepEqual(keys, [{ order_no: first.order, idem_key: key }])
  })

  describe('several instances on one database', () => {
    let instances: TestApp[]
    before(async () => {
      const b = await createTestApp(dialect, { url: t.url })
      const c = await createTestApp(dialect, { url: t.url })
      instances = [t, b, c]
    })
    after(async () => {
      for (const app of instances.slice(1)) await app.close()
    })

    test('when instances share a database, then each holds its own worker id and their order numbers never collide', async () => {
      const workerIds = instances.map((app) => app.ctx.ids.workerId())
      assert.equal(new Set(workerIds).size, instances.length)
      const leases = await t.ctx.store.db.selectFrom('worker_leases').select(['worker_id', 'owner']).execute()
      for (const id of workerIds) assert.equal(leases.filter((l) => Number(l.worker_id) === id).length, 1)
      assert.equal(new Set(leases.map((l) => l.owner)).size, leases.length)

      const created = await Promise.all(instances.flatMap((app, i) => Array.from({ length: 30 }, async () => {
        const res = await post(app.app, '/api/pay/create-order', { user_id: `multi-${user()}`, item: '月卡', item_id: '2', single_pric: 30 })
        assert.equal(res.status, 200, JSON.stringify(res.body))
        return { instance: i, order: res.body.data.order as string }
      })))
      const numbers = created.map((c) => c.order)
      assert.equal(new Set(numbers).size, numbers.length)
      for (const c of created) assert.equal(parseOrderNumber(c.order, '811')?.workerId, workerIds[c.instance])
      const stored = await t.ctx.store.db.selectFrom('orders').select('order_no').where('order_no', 'in', numbers).execute()
      assert.equal(stored.length, numbers.length)
    })

    test('when several instances receive the same callbacks at once, then the payment is applied exactly once', async () => {
      const o = await createOrder(t.app, { user_id: user() })
      const params = signed(callbackParams(o.order, 30))
      const responses = await Promise.all(instances.flatMap((app) => Array.from({ length: 10 }, () => callback(app, params))))
      assertAllSucceeded(responses)
      await assertPaidOnce(t, o.order, params.gyyx_order_no)
      assert.deepEqual(await outcomesOf(t, o.order), { paid: 1, already_applied: 29 })
    })

    test('when several instances receive distinct platform orders and a cancel for one order at once, then one payment applies and the rest are duplicates', async () => {
      const o = await createOrder(t.app, { user_id: user() })
      const all = instances.flatMap((app, i) => Array.from({ length: 5 }, (_, j) => ({ app, params: signed(callbackParams(o.order, 30, { gyyx_order_no: `M${i}.${j}-${o.order}` })) })))
      const [cancel, ...responses] = await Promise.all([
        post(instances[1].app, '/api/pay/cancel-order', { user_id: o.user_id, order: o.order }),
        ...all.map(({ app, params }) => callback(app, params)),
      ])
      assertAllSucceeded(responses)
      const row = await orderRow(t, o.order)
      assert.equal(row.status, 'paid')
      const payments = await paymentsOf(t, o.order)
      assert.equal(payments.length, all.length)
      const applied = payments.filter((p) => p.kind !== 'duplicate')
      assert.equal(applied.length, 1)
      assert.equal(applied[0].gyyx_order_no, row.gyyx_order_no)
      const cancelled = cancel.body.state === ''
      assert.equal(applied[0].kind, cancelled ? 'late' : 'applied')
      assert.deepEqual(await transitionsOf(t, o.order), cancelled
        ? [[null, 'unpaid'], ['unpaid', 'cancelled'], ['cancelled', 'paid']]
        : [[null, 'unpaid'], ['unpaid', 'paid']])
    })
  })
})
