// The order life cycle on a test clock, the history rows each transition appends,
// and the time windows of §4.1 (order expiry, 24 h Idempotency-Key window).
import assert from 'node:assert/strict'
import { afterEach, beforeEach, test } from 'node:test'
import { callbackParams, createTestApp, forEachDialect, post, signed, type TestApp } from '../helper.ts'

const TTL_MS = 5000
const ENV = { ORDER_TTL_SECONDS: '5' }

forEachDialect('order life cycle', (dialect) => {
  let t: TestApp
  let now: number
  const clock = () => now

  // A fresh app per story: each moves its clock on, and an instance whose clock jumped far
  // ahead holds no valid worker-id lease until it renews (see restart below).
  beforeEach(async () => {
    now = Date.now()
    t = await createTestApp(dialect, { clock, env: ENV })
  })
  afterEach(async () => { await t.close() })

  /** Another instance on the same database, started at the current test time. */
  async function restart () {
    const url = t.url
    await t.close()
    t = await createTestApp(dialect, { url, clock, env: ENV })
  }

  const create = async (userId: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
    const res = await post(t.app, '/api/pay/create-order', { user_id: userId, item: '月卡', single_pric: 30, ...extra }, headers)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    return res.body.data
  }
  const cancel = (userId: string, order: string, traceId = 'cancel') =>
    post(t.app, '/api/pay/cancel-order', { user_id: userId, order }, { 'x-request-id': traceId })
  const verify = (userId: string, order: string) => post(t.app, '/api/pay/verification', { user_id: userId, item: '月卡', order })
  const pay = (order: string, traceId: string) =>
    post(t.app, '/api/pay/callback', signed(callbackParams(order, 30, { gyyx_order_no: `GY-${traceId}` })), { 'x-request-id': traceId })

  const row = (orderNo: string) => t.ctx.store.db.selectFrom('orders').selectAll().where('order_no', '=', orderNo).executeTakeFirstOrThrow()
  async function history (orderNo: string) {
    const events = await t.ctx.store.db.selectFrom('order_events').selectAll().where('order_no', '=', orderNo).orderBy('id').execute()
    return events.map((e) => ({ from: e.from_status, to: e.to_status, actor: e.actor, reason: e.reason, trace_id: e.trace_id, at: Number(e.created_at) }))
  }

  test('when an order is created, then it expires ORDER_TTL_SECONDS later and its history starts with null → unpaid', async () => {
    const createdAt = now
    const order = await create('e-new', {}, { 'x-request-id': 'create-1' })
    assert.equal(Date.parse(order.expire_at), createdAt + TTL_MS)
    assert.equal(Number((await row(order.order)).expire_at), createdAt + TTL_MS)
    assert.deepEqual(await history(order.order), [{ from: null, to: 'unpaid', actor: 'user', reason: 'create', trace_id: 'create-1', at: createdAt }])
  })

  test('when expire_at has not quite passed, then the open order is still reused; from expire_at on, it is not', async () => {
    const first = await create('e-edge')
    now += TTL_MS - 1
    const again = await create('e-edge')
    assert.equal(again.order, first.order)
    assert.equal(again.reused, true)
    now += 1
    const fresh = await create('e-edge', {}, { 'x-request-id': 'create-after-expiry' })
    assert.notEqual(fresh.order, first.order)
    assert.equal(fresh.reused, false)
    assert.equal((await row(first.order)).status, 'expired')
    assert.equal((await row(fresh.order)).status, 'unpaid')
    // The request that found the order expired recorded the expiry.
    assert.deepEqual((await history(first.order)).slice(1), [
      { from: 'unpaid', to: 'expired', actor: 'system', reason: 'ttl', trace_id: 'create-after-expiry', at: now },
    ])
  })

  test('when an order expired and no sweep has run, then verification says ORDER_NOT_PAID and cancel says expired', async () => {
    const order = await create('e-unswept')
    now += TTL_MS + 1000
    assert.equal((await row(order.order)).status, 'unpaid', 'nothing recorded yet')
    const verified = await verify('e-unswept', order.order)
    assert.equal(verified.body.state, 'ORDER_NOT_PAID')
    const cancelled = await cancel('e-unswept', order.order, 'cancel-late')
    assert.deepEqual(cancelled.body.data, { order: order.order, status: 'expired' })
    assert.equal((await row(order.order)).status, 'expired')
    assert.deepEqual((await history(order.order)).map((e) => [e.from, e.to, e.actor, e.trace_id]), [
      [null, 'unpaid', 'user', (await history(order.order))[0].trace_id],
      ['unpaid', 'expired', 'system', 'cancel-late'],
    ])
  })

  test('when the sweep runs, then exactly the due unpaid orders become expired, with a system event each', async () => {
    const due = await create('e-sweep', { server_flag: 'due' })
    const paid = await create('e-sweep', { server_flag: 'paid' })
    const cancelled = await create('e-sweep', { server_flag: 'cancelled' })
    await pay(paid.order, 'sweep-pay')
    await cancel('e-sweep', cancelled.order)
    now += 2000
    const later = await create('e-sweep', { server_flag: 'later' })

    now += TTL_MS - 2000
    assert.equal(await t.ctx.orders.expireDueOrders(), 1)
    const sweptAt = now
    assert.deepEqual((await history(due.order)).slice(1), [{ from: 'unpaid', to: 'expired', actor: 'system', reason: 'ttl', trace_id: null, at: sweptAt }])
    assert.equal((await row(due.order)).status, 'expired')
    assert.equal((await row(due.order)).open_key, null)
    assert.equal((await row(later.order)).status, 'unpaid')
    assert.equal((await row(paid.order)).status, 'paid')
    assert.equal((await row(cancelled.order)).status, 'cancelled')

    assert.equal(await t.ctx.orders.expireDueOrders(), 0, 'a second sweep finds nothing new')
    now += 2000
    assert.equal(await t.ctx.orders.expireDueOrders(), 1)
    assert.equal((await row(later.order)).status, 'expired')
    assert.equal((await row(paid.order)).status, 'paid', 'paid is final')
    assert.equal((await history(paid.order)).length, 2)
    assert.equal((await history(cancelled.order)).length, 2)

    // After the sweep, routes agree with it and add no second expiry.
    assert.deepEqual((await cancel('e-sweep', due.order)).body.data, { order: due.order, status: 'expired' })
    const fresh = await create('e-sweep', { server_flag: 'due' })
    assert.notEqual(fresh.order, due.order)
    assert.equal((await history(due.order)).length, 2)
  })

  test('when an order is paid in time, then history is null → unpaid → paid, the payment by the platform under the callback\'s trace id', async () => {
    const order = await create('e-paid', {}, { 'x-request-id': 'create-p' })
    now += 1000
    assert.equal((await pay(order.order, 'callback-p')).body.state, '')
    const r = await row(order.order)
    assert.equal(r.status, 'paid')
    assert.equal(Number(r.paid_at), now)
    assert.equal(Number(r.late_payment), 0)
    assert.deepEqual((await history(order.order)).map((e) => [e.from, e.to, e.actor, e.trace_id, e.at]), [
      [null, 'unpaid', 'user', 'create-p', now - 1000],
      ['unpaid', 'paid', 'platform', 'callback-p', now],
    ])
    // Paid is final: past its expiry it stays paid, cancel refuses, nothing is appended.
    now += TTL_MS
    assert.equal(await t.ctx.orders.expireDueOrders(), 0)
    assert.equal((await cancel('e-paid', order.order)).body.state, 'ORDER_ALREADY_PAID')
    assert.equal((await verify('e-paid', order.order)).body.data.status, 'paid')
    assert.equal((await history(order.order)).length, 2)
  })

  test('when a payment arrives for a cancelled order, then it lands as a late payment: cancelled → paid', async () => {
    const order = await create('e-cancel-pay')
    await cancel('e-cancel-pay', order.order, 'cancel-cp')
    now += 500
    assert.equal((await pay(order.order, 'callback-cp')).body.state, '')
    const r = await row(order.order)
    assert.equal(r.status, 'paid')
    assert.equal(Number(r.late_payment), 1)
    assert.deepEqual((await history(order.order)).slice(1).map((e) => [e.from, e.to, e.actor, e.trace_id]), [
      ['unpaid', 'cancelled', 'user', 'cancel-cp'],
      ['cancelled', 'paid', 'platform', 'callback-cp'],
    ])
    const payments = await t.ctx.store.db.selectFrom('payments').selectAll().where('order_no', '=', order.order).execute()
    assert.deepEqual(payments.map((p) => p.kind), ['late'])
  })

  test('when a payment arrives after expire_at and before any sweep, then the expiry is recorded first and the payment lands late', async () => {
    const order = await create('e-expire-pay')
    now += TTL_MS + 1
    assert.equal((await pay(order.order, 'callback-ep')).body.state, '')
    const r = await row(order.order)
    assert.equal(r.status, 'paid')
    assert.equal(Number(r.late_payment), 1)
    assert.deepEqual((await history(order.order)).slice(1).map((e) => [e.from, e.to, e.actor, e.reason, e.trace_id]), [
      ['unpaid', 'expired', 'system', 'ttl', 'callback-ep'],
      ['expired', 'paid', 'platform', 'callback', 'callback-ep'],
    ])
    assert.equal((await verify('e-expire-pay', order.order)).body.data.status, 'paid')
  })

  test('when a payment arrives for an order the sweep expired, then expired → paid, late', async () => {
    const order = await create('e-swept-pay')
    now += TTL_MS
    assert.equal(await t.ctx.orders.expireDueOrders(), 1)
    assert.equal((await pay(order.order, 'callback-sp')).body.state, '')
    assert.equal(Number((await row(order.order)).late_payment), 1)
    assert.deepEqual((await history(order.order)).map((e) => [e.from, e.to, e.actor]), [
      [null, 'unpaid', 'user'],
      ['unpaid', 'expired', 'system'],
      ['expired', 'paid', 'platform'],
    ])
  })

  test('when an Idempotency-Key is repeated within 24 h, then the first data comes back even though the order expired; after 24 h it is a new request', async () => {
    const key = { 'idempotency-key': 'e-day-key' }
    const first = await create('e-day', {}, key)

    now += 24 * 3600 * 1000 - 1000
    await restart()
    const replay = await create('e-day', { amount_num: 7 }, key)
    assert.deepEqual(replay, first)

    now += 2000
    await restart()
    const next = await create('e-day', {}, key)
    assert.notEqual(next.order, first.order)
    assert.equal(next.reused, false)
    const keys = await t.ctx.store.db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', 'e-day').execute()
    assert.equal(keys.length, 1)
    assert.equal(keys[0].order_no, next.order)
    assert.equal((await row(first.order)).status, 'expired')
  })
})
