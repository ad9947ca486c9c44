// POST /api/pay/cancel-order.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createOrder, createTestApp, forEachDialect, pay, post, type TestApp } from '../helper.ts'

const cancel = (t: TestApp, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  post(t.app, '/api/pay/cancel-order', body, headers)

const orderRow = (t: TestApp, orderNo: string) =>
  t.ctx.store.db.selectFrom('orders').selectAll().where('order_no', '=', orderNo).executeTakeFirstOrThrow()

const eventsOf = (t: TestApp, orderNo: string) =>
  t.ctx.store.db.selectFrom('order_events').selectAll().where('order_no', '=', orderNo).orderBy('id').execute()

forEachDialect('cancel-order', (dialect) => {
  describe('on a running clock', () => {
    let t: TestApp
    before(async () => { t = await createTestApp(dialect) })
    after(async () => { await t.close() })

    test('when the owner cancels an unpaid order, then it becomes cancelled and the history records who and which request', async () => {
      const order = await createOrder(t.app, { user_id: 'c-owner' })
      const res = await cancel(t, { user_id: 'c-owner', order: order.order }, { 'x-request-id': 'cancel-trace-1' })
      assert.equal(res.status, 200)
      assert.equal(res.body.result, 'success')
      assert.deepEqual(res.body.data, { order: order.order, status: 'cancelled' })
      const row = await orderRow(t, order.order)
      assert.equal(row.status, 'cancelled')
      assert.equal(row.open_key, null)
      const events = await eventsOf(t, order.order)
      assert.deepEqual(events.map((e) => [e.from_status, e.to_status, e.actor, e.trace_id]), [
        [null, 'unpaid', 'user', events[0].trace_id],
        ['unpaid', 'cancelled', 'user', 'cancel-trace-1'],
      ])
    })

    test('when a cancelled order is cancelled again, then it answers success again and nothing changes', async () => {
      const order = await createOrder(t.app, { user_id: 'c-twice' })
      await cancel(t, { user_id: 'c-twice', order: order.order })
      const before = await orderRow(t, order.order)
      for (let i = 0; i < 3; i++) {
        const res = await cancel(t, { user_id: 'c-twice', order: order.order })
        assert.equal(res.status, 200)
        assert.deepEqual(res.body.data, { order: order.order, status: 'cancelled' })
      }
      assert.deepEqual(await orderRow(t, order.order), before)
      assert.equal((await eventsOf(t, order.order)).length, 2)
    })

    test('when another user cancels the order, then ORDER_NOT_FOUND exactly as for a missing order, and nothing changes', async () => {
      const order = await createOrder(t.app, { user_id: 'c-victim' })
      const before = await orderRow(t, order.order)
      const foreign = await cancel(t, { user_id: 'c-attacker', order: order.order })
      const missing = await cancel(t, { user_id: 'c-attacker', order: `${order.order.slice(0, -1)}${(Number(order.order.slice(-1)) + 1) % 10}` })
      for (const res of [foreign, missing]) {
        assert.equal(res.status, 404)
        assert.equal(res.body.result, 'fail')
        assert.equal(res.body.state, 'ORDER_NOT_FOUND')
        assert.equal(Object.hasOwn(res.body, 'data'), false)
      }
      // Same keys, and the same message once the order number each asked about is set aside.
      assert.deepEqual(Object.keys(foreign.body).sort(), Object.keys(missing.body).sort())
      const mask = (message: string) => message.replace(/811-\d+/g, '<order>')
      assert.equal(mask(foreign.body.message), mask(missing.body.message))
      assert.deepEqual(await orderRow(t, order.order), before)
      assert.equal((await eventsOf(t, order.order)).length, 1)
    })

    test('when the order number does not exist at all, then ORDER_NOT_FOUND', async () => {
      for (const orderNo of ['811-1', '811-999999999999999999', 'not-an-order', '811-', 'x'.repeat(255)]) {
        const res = await cancel(t, { user_id: 'c-nobody', order: orderNo })
        assert.equal(res.status, 404, orderNo)
        assert.equal(res.body.state, 'ORDER_NOT_FOUND')
      }
    })

    test('when the order is paid, then ORDER_ALREADY_PAID and the order stays paid, unchanged', async () => {
      const order = await createOrder(t.app, { user_id: 'c-paid' })
      assert.equal((await pay(t.app, order.order, order.rmb_yuan)).body.state, '')
      const before = await orderRow(t, order.order)
      const res = await cancel(t, { user_id: 'c-paid', order: order.order })
      assert.equal(res.status, 409)
      assert.equal(res.body.result, 'fail')
      assert.equal(res.body.state, 'ORDER_ALREADY_PAID')
      assert.deepEqual(await orderRow(t, order.order), before)
      assert.equal(before.status, 'paid')
      assert.deepEqual((await eventsOf(t, order.order)).map((e) => e.to_status), ['unpaid', 'paid'])
    })

    test('when another user cancels a paid order, then ORDER_NOT_FOUND, not ORDER_ALREADY_PAID (nothing leaks)', async () => {
      const order = await createOrder(t.app, { user_id: 'c-paid-owner' })
      await pay(t.app, order.order, order.rmb_yuan)
      const res = await cancel(t, { user_id: 'c-paid-stranger', order: order.order })
      assert.equal(res.body.state, 'ORDER_NOT_FOUND')
    })

    test('when a field is missing or mistyped, then INVALID_PARAMS names it and nothing changes', async () => {
      const order = await createOrder(t.app, { user_id: 'c-fields' })
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ order: order.order }, /user_id/],
        [{ user_id: 'c-fields' }, /order/],
        [{ user_id: 'c-fields', order: '' }, /order/],
        [{ user_id: '', order: order.order }, /user_id/],
        [{ user_id: 'c-fields', order: Number(order.order.split('-')[1]) }, /order/],
        [{ user_id: 888, order: order.order }, /user_id/],
        [{ user_id: 'c'.repeat(65), order: order.order }, /user_id/],
        [{ user_id: 'c-fields', order: [order.order] }, /order/],
      ]
      for (const [body, field] of cases) {
        const res = await cancel(t, body)
        assert.equal(res.status, 400, JSON.stringify(body))
        assert.equal(res.body.state, 'INVALID_PARAMS')
        assert.match(res.body.message, field)
      }
      assert.equal((await orderRow(t, order.order)).status, 'unpaid')
    })

    test('when an order is cancelled and its payment then arrives, then it is paid late (the money is never lost)', async () => {
      const order = await createOrder(t.app, { user_id: 'c-late' })
      await cancel(t, { user_id: 'c-late', order: order.order })
      assert.equal((await pay(t.app, order.order, order.rmb_yuan)).body.state, '')
      const row = await orderRow(t, order.order)
      assert.equal(row.status, 'paid')
      assert.equal(Number(row.late_payment), 1)
      const res = await cancel(t, { user_id: 'c-late', order: order.order })
      assert.equal(res.body.state, 'ORDER_ALREADY_PAID')
    })

    test('when the same order is cancelled 10 times at once, then all answer cancelled and history has one cancel', async () => {
      const order = await createOrder(t.app, { user_id: 'c-race' })
      const results = await Promise.all(Array.from({ length: 10 }, () => cancel(t, { user_id: 'c-race', order: order.order })))
      for (const res of results) assert.deepEqual(res.body.data, { order: order.order, status: 'cancelled' })
      assert.deepEqual((await eventsOf(t, order.order)).map((e) => e.to_status), ['unpaid', 'cancelled'])
    })
  })

  describe('on a test clock (ORDER_TTL_SECONDS=5)', () => {
    let t: TestApp
    let now = Date.now()
    before(async () => { t = await createTestApp(dialect, { clock: () => now, env: { ORDER_TTL_SECONDS: '5' } }) })
    after(async () => { await t.close() })

    test('when the order has expired, then cancel answers success with status "expired" and the expiry is recorded', async () => {
      const order = await createOrder(t.app, { user_id: 'c-expired' })
      now += 5000
      const res = await cancel(t, { user_id: 'c-expired', order: order.order }, { 'x-request-id': 'cancel-expired' })
      assert.equal(res.status, 200)
      assert.deepEqual(res.body.data, { order: order.order, status: 'expired' })
      const row = await orderRow(t, order.order)
      assert.equal(row.status, 'expired')
      const events = await eventsOf(t, order.order)
      assert.deepEqual(events.slice(1).map((e) => [e.from_status, e.to_status, e.actor, e.reason, e.trace_id, Number(e.created_at)]), [
        ['unpaid', 'expired', 'system', 'ttl', 'cancel-expired', now],
      ])

      const again = await cancel(t, { user_id: 'c-expired', order: order.order })
      assert.deepEqual(again.body.data, { order: order.order, status: 'expired' })
      assert.equal((await eventsOf(t, order.order)).length, 2)
    })

    test('when an order is cancelled a moment before it would expire, then it is cancelled, and stays cancelled after', async () => {
      const order = await createOrder(t.app, { user_id: 'c-just-in-time' })
      now += 4999
      const res = await cancel(t, { user_id: 'c-just-in-time', order: order.order })
      assert.deepEqual(res.body.data, { order: order.order, status: 'cancelled' })
      now += 10
      const again = await cancel(t, { user_id: 'c-just-in-time', order: order.order })
      assert.deepEqual(again.body.data, { order: order.order, status: 'cancelled' })
      assert.equal((await orderRow(t, order.order)).status, 'cancelled')
    })
  })
})
