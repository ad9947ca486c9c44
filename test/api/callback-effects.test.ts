// The callback effects table: what a callback whose signature holds does to the orders,
// payments, callbacks and order_events rows, row by row, top to bottom.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { callbackParams, createOrder, createTestApp, forEachDialect, logged, orderRow, paymentsOf, post, signed, type TestApp } from '../helper.ts'

interface Sent { status: number, body: any, traceId: string }

async function eventsOf (t: TestApp, orderNo: string) {
  const rows = await t.ctx.store.db.selectFrom('order_events').selectAll().where('order_no', '=', orderNo).orderBy('id').execute()
  return rows.map((e) => ({ from: e.from_status, to: e.to_status, actor: e.actor, reason: e.reason, trace_id: e.trace_id, at: Number(e.created_at) }))
}

function assertSuccess (res: Sent) {
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.deepEqual(res.body, { result: 'success', state: '', trace_id: res.traceId })
}

function assertFail (res: Sent, status: number, state: string, mentions: string) {
  assert.equal(res.status, status)
  assert.equal(res.body.result, 'fail')
  assert.equal(res.body.state, state)
  assert.ok(res.body.message.includes(mentions), `"${res.body.message}" should mention ${mentions}`)
}

/** The callback log row: verdict, outcome, anomaly flag, and the raw parameters as received. */
async function assertLogged (t: TestApp, res: Sent, params: Record<string, unknown>, outcome: string, anomaly: boolean) {
  const row = await logged(t, res.traceId)
  assert.equal(row.outcome, outcome)
  assert.equal(Number(row.anomaly), anomaly ? 1 : 0)
  assert.equal(row.signature, 'valid')
  assert.equal(row.sign_type, 'MD5')
  assert.equal(row.source_ip, '127.0.0.1')
  assert.equal(row.game_order_no, params.game_order_no)
  assert.equal(row.gyyx_order_no, params.gyyx_order_no)
  assert.deepEqual(JSON.parse(row.params), params)
  return row
}

forEachDialect('callback effects', (dialect) => {
  let t: TestApp
  let users = 0
  let sent = 0
  const order = (app: TestApp = t) => createOrder(app.app, { user_id: `eff-${++users}` })

  async function callback (params: Record<string, unknown>, app: TestApp = t): Promise<Sent> {
    const traceId = randomUUID()
    sent++
    const res = await post(app.app, '/api/pay/callback', params, { 'x-request-id': traceId })
    return { status: res.status, body: res.body, traceId }
  }

  /** An order that is still exactly as created: unpaid, no payment, one event. */
  async function assertUntouched (orderNo: string) {
    const row = await orderRow(t, orderNo)
    assert.equal(row.status, 'unpaid')
    assert.equal(row.paid_at, null)
    assert.equal(row.gyyx_order_no, null)
    assert.equal(row.paid_fen, null)
    assert.equal(Number(row.late_payment), 0)
    assert.deepEqual(await paymentsOf(t, orderNo), [])
    assert.deepEqual((await eventsOf(t, orderNo)).map((e) => [e.from, e.to]), [[null, 'unpaid']])
  }

  before(async () => { t = await createTestApp(dialect) })
  after(async () => { await t.close() })

  test('when game_order_no is unknown, then ORDER_NOT_FOUND and the callback is recorded', async () => {
    const params = signed(callbackParams('811-999999999999', 30))
    const res = await callback(params)
    assertFail(res, 404, 'ORDER_NOT_FOUND', '811-999999999999')
    await assertLogged(t, res, params, 'order_not_found', false)
    assert.equal(await t.ctx.store.db.selectFrom('orders').select('order_no').where('order_no', '=', '811-999999999999').executeTakeFirst(), undefined)
    assert.equal(await t.ctx.store.db.selectFrom('payments').select('id').where('gyyx_order_no', '=', params.gyyx_order_no).executeTakeFirst(), undefined)
  })

  test('when an unpaid order gets a success callback, then it is paid, the payment recorded and the transition logged', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, 30, { result_message: '支付成功', server_flag: 's9', common_param: 'cp-1', timestamp: '1732600000' }))
    const sentAt = Date.now()
    const res = await callback(params)
    const answeredAt = Date.now()
    assertSuccess(res)

    const row = await orderRow(t, o.order)
    assert.equal(row.status, 'paid')
    assert.equal(row.gyyx_order_no, params.gyyx_order_no)
    assert.equal(Number(row.paid_fen), 3000)
    assert.equal(Number(row.late_payment), 0)
    assert.equal(row.open_key, null)
    const paidAt = Number(row.paid_at)
    assert.ok(paidAt >= sentAt && paidAt <= answeredAt)

    const payments = await paymentsOf(t, o.order)
    assert.equal(payments.length, 1)
    const p = payments[0]
    assert.deepEqual(
      [p.gyyx_order_no, p.kind, Number(p.amount_fen), p.result, p.result_message, p.server_flag, p.common_param, p.platform_timestamp, p.trace_id, Number(p.created_at)],
      [params.gyyx_order_no, 'applied', 3000, 'success', '支付成功', 's9', 'cp-1', '1732600000', res.traceId, paidAt])

    const events = await eventsOf(t, o.order)
    assert.deepEqual(events.map((e) => [e.from, e.to, e.actor, e.reason]), [[null, 'unpaid', 'user', 'create'], ['unpaid', 'paid', 'platform', 'callback']])
    assert.equal(events[1].trace_id, res.traceId)
    assert.equal(events[1].at, paidAt)
    await assertLogged(t, res, params, 'paid', false)

    const verified = await post(t.app, '/api/pay/verification', { user_id: o.user_id, item: '月卡', order: o.order })
    assert.equal(verified.body.data.gyyx_order_no, params.gyyx_order_no)
  })

  test('when the same gyyx_order_no arrives again for the same order, then nothing new happens', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, 30))
    assertSuccess(await callback(params))
    const paid = await orderRow(t, o.order)
    for (const again of [params, signed(callbackParams(o.order, '30.00', { gyyx_order_no: params.gyyx_order_no, result_message: 'retry' }))]) {
      const res = await callback(again)
      assertSuccess(res)
      await assertLogged(t, res, again, 'already_applied', false)
    }
    assert.deepEqual(await orderRow(t, o.order), paid)
    assert.equal((await paymentsOf(t, o.order)).length, 1)
    assert.equal((await eventsOf(t, o.order)).length, 2)
  })

  test('when gyyx_order_no already paid another order, then success, an anomaly is recorded and nothing changes', async () => {
    const first = await order()
    const second = await order()
    const params = signed(callbackParams(first.order, 30))
    assertSuccess(await callback(params))

    // The conflict row comes before the amount and result rows.
    const reused = [
      signed(callbackParams(second.order, 30, { gyyx_order_no: params.gyyx_order_no })),
      signed(callbackParams(second.order, 31, { gyyx_order_no: params.gyyx_order_no })),
      signed(callbackParams(second.order, 30, { gyyx_order_no: params.gyyx_order_no, result: 'fail' })),
    ]
    for (const p of reused) {
      const res = await callback(p)
      assertSuccess(res)
      await assertLogged(t, res, p, 'gyyx_conflict', true)
    }
    await assertUntouched(second.order)
    const payments = await t.ctx.store.db.selectFrom('payments').selectAll().where('gyyx_order_no', '=', params.gyyx_order_no).execute()
    assert.deepEqual(payments.map((p) => [p.order_no, p.kind]), [[first.order, 'applied']])
    assert.equal((await orderRow(t, first.order)).gyyx_order_no, params.gyyx_order_no)
  })

  test('when rmb_yuan differs from the order amount, then AMOUNT_MISMATCH, an anomaly, and the order unchanged', async () => {
    const o = await order()
    // The amount row comes before the result row.
    for (const [amount, result] of [[31, 'success'], ['29.99', 'success'], [300, 'success'], [0.3, 'fail']] as const) {
      const params = signed(callbackParams(o.order, amount, { result }))
      const res = await callback(params)
      assertFail(res, 400, 'AMOUNT_MISMATCH', 'rmb_yuan')
      await assertLogged(t, res, params, 'amount_mismatch', true)
    }
    await assertUntouched(o.order)
  })

  test('when a paid order gets a different amount under a new gyyx_order_no, then AMOUNT_MISMATCH and no duplicate is recorded', async () => {
    const o = await order()
    assertSuccess(await callback(signed(callbackParams(o.order, 30))))
    const params = signed(callbackParams(o.order, 60, { gyyx_order_no: `X-${o.order}` }))
    const res = await callback(params)
    assertFail(res, 400, 'AMOUNT_MISMATCH', 'rmb_yuan')
    await assertLogged(t, res, params, 'amount_mismatch', true)
    assert.deepEqual((await paymentsOf(t, o.order)).map((p) => p.kind), ['applied'])
  })

  test('when result is not a success value, then a failed attempt is recorded, success is answered and the order stays unpaid', async () => {
    const o = await order()
    for (const result of ['fail', 'FAILED', 'successful', 'pending']) {
      const params = signed(callbackParams(o.order, 30, { result, result_message: '余额不足' }))
      const res = await callback(params)
      assertSuccess(res)
      await assertLogged(t, res, params, 'payment_failed', false)
    }
    await assertUntouched(o.order)

    // A failed attempt does not use up the platform order number: its later success pays.
    const params = signed(callbackParams(o.order, 30, { result: 'SUCCESS' }))
    const res = await callback(params)
    assertSuccess(res)
    await assertLogged(t, res, params, 'paid', false)
    assert.equal((await orderRow(t, o.order)).status, 'paid')
    assert.deepEqual((await paymentsOf(t, o.order)).map((p) => [p.result, p.kind]), [['SUCCESS', 'applied']])
  })

  test('when a paid order gets a failed result for its platform order, then it stays paid', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, 30))
    assertSuccess(await callback(params))
    const failed = signed(callbackParams(o.order, 30, { result: 'fail' }))
    const res = await callback(failed)
    assertSuccess(res)
    await assertLogged(t, res, failed, 'payment_failed', false)
    assert.equal((await orderRow(t, o.order)).status, 'paid')
    assert.equal((await paymentsOf(t, o.order)).length, 1)
  })

  test('when CALLBACK_SUCCESS_RESULTS is set, then exactly those values pay, in any case', async () => {
    const custom = await createTestApp(dialect, { url: t.url, env: { CALLBACK_SUCCESS_RESULTS: 'TRADE_SUCCESS, paid' } })
    try {
      const refused = await order(custom)
      const params = signed(callbackParams(refused.order, 30, { result: 'success' }))
      const res = await callback(params, custom)
      assertSuccess(res)
      await assertLogged(t, res, params, 'payment_failed', false)
      await assertUntouched(refused.order)

      for (const result of ['trade_success', 'TRADE_SUCCESS', 'Paid']) {
        const o = await order(custom)
        const p = signed(callbackParams(o.order, 30, { result }))
        const r = await callback(p, custom)
        assertSuccess(r)
        await assertLogged(t, r, p, 'paid', false)
        assert.equal((await orderRow(t, o.order)).status, 'paid')
      }
    } finally {
      await custom.close()
    }
  })

  test('when a paid order gets a success under another gyyx_order_no, then a duplicate payment is recorded and the order unchanged', async () => {
    const o = await order()
    const first = signed(callbackParams(o.order, 30))
    assertSuccess(await callback(first))
    const paid = await orderRow(t, o.order)

    const second = signed(callbackParams(o.order, '30.00', { gyyx_order_no: `DUP-${o.order}` }))
    const res = await callback(second)
    assertSuccess(res)
    await assertLogged(t, res, second, 'duplicate_payment', true)
    assert.deepEqual(await orderRow(t, o.order), paid)
    const payments = await paymentsOf(t, o.order)
    assert.deepEqual(payments.map((p) => [p.gyyx_order_no, p.kind, Number(p.amount_fen)]), [[first.gyyx_order_no, 'applied', 3000], [`DUP-${o.order}`, 'duplicate', 3000]])
    assert.equal(payments[1].trace_id, res.traceId)
    assert.equal((await eventsOf(t, o.order)).length, 2)

    // The duplicate itself, sent again, is nothing new.
    const again = await callback(second)
    assertSuccess(again)
    await assertLogged(t, again, second, 'already_applied', false)
    assert.equal((await paymentsOf(t, o.order)).length, 2)
  })

  test('when a cancelled order gets a success, then it is paid as a late payment', async () => {
    const o = await order()
    const cancelled = await post(t.app, '/api/pay/cancel-order', { user_id: o.user_id, order: o.order })
    assert.equal(cancelled.body.data.status, 'cancelled')
    const params = signed(callbackParams(o.order, 30))
    const res = await callback(params)
    assertSuccess(res)
    await assertLogged(t, res, params, 'late_paid', true)

    const row = await orderRow(t, o.order)
    assert.equal(row.status, 'paid')
    assert.equal(Number(row.late_payment), 1)
    assert.equal(row.gyyx_order_no, params.gyyx_order_no)
    assert.equal(Number(row.paid_fen), 3000)
    assert.deepEqual((await paymentsOf(t, o.order)).map((p) => [p.gyyx_order_no, p.kind]), [[params.gyyx_order_no, 'late']])
    assert.deepEqual((await eventsOf(t, o.order)).map((e) => [e.from, e.to, e.actor]),
      [[null, 'unpaid', 'user'], ['unpaid', 'cancelled', 'user'], ['cancelled', 'paid', 'platform']])

    // Paid is final: cancelling now is refused.
    const cancelAgain = await post(t.app, '/api/pay/cancel-order', { user_id: o.user_id, order: o.order })
    assert.equal(cancelAgain.body.state, 'ORDER_ALREADY_PAID')
  })

  describe('expiry (a mutable clock, ORDER_TTL_SECONDS=1)', () => {
    let timed: TestApp
    let now = 0
    before(async () => {
      now = Date.now()
      timed = await createTestApp(dialect, { url: t.url, clock: () => now, env: { ORDER_TTL_SECONDS: '1' } })
    })
    after(async () => { await timed.close() })

    test('when an expiry already recorded is followed by a success, then the order is paid late', async () => {
      const o = await order(timed)
      now += 1500
      assert.equal(await timed.ctx.orders.expireDueOrders(), 1)
      assert.equal((await orderRow(t, o.order)).status, 'expired')
      now += 10
      const params = signed(callbackParams(o.order, 30))
      const res = await callback(params, timed)
      assertSuccess(res)
      await assertLogged(t, res, params, 'late_paid', true)

      const row = await orderRow(t, o.order)
      assert.deepEqual([row.status, Number(row.late_payment), Number(row.paid_at), row.gyyx_order_no], ['paid', 1, now, params.gyyx_order_no])
      assert.deepEqual((await paymentsOf(t, o.order)).map((p) => p.kind), ['late'])
      const events = await eventsOf(t, o.order)
      assert.deepEqual(events.map((e) => [e.from, e.to, e.actor, e.reason]),
        [[null, 'unpaid', 'user', 'create'], ['unpaid', 'expired', 'system', 'ttl'], ['expired', 'paid', 'platform', 'callback']])
      assert.equal(events[2].trace_id, res.traceId)
    })

    test('when an order expired by the clock but not yet recorded gets a success, then both the expiry and the payment are appended', async () => {
      const o = await order(timed)
      now += 1000 // expire_at itself: expired from that moment on
      assert.equal((await orderRow(t, o.order)).status, 'unpaid')
      const params = signed(callbackParams(o.order, 30))
      const res = await callback(params, timed)
      assertSuccess(res)
      await assertLogged(t, res, params, 'late_paid', true)

      const row = await orderRow(t, o.order)
      assert.deepEqual([row.status, Number(row.late_payment), Number(row.paid_at), Number(row.paid_fen)], ['paid', 1, now, 3000])
      assert.deepEqual((await paymentsOf(t, o.order)).map((p) => [p.gyyx_order_no, p.kind]), [[params.gyyx_order_no, 'late']])
      const events = await eventsOf(t, o.order)
      assert.deepEqual(events.map((e) => [e.from, e.to, e.actor, e.reason, e.trace_id, e.at]), [
        [null, 'unpaid', 'user', 'create', events[0].trace_id, now - 1000],
        ['unpaid', 'expired', 'system', 'ttl', res.traceId, now],
        ['expired', 'paid', 'platform', 'callback', res.traceId, now],
      ])
      // The sweep finds nothing left to expire.
      assert.equal(await timed.ctx.orders.expireDueOrders(), 0)
    })

    test('when an order is one millisecond short of its expiry, then a success pays it on time', async () => {
      const o = await order(timed)
      now += 999
      const params = signed(callbackParams(o.order, 30))
      const res = await callback(params, timed)
      assertSuccess(res)
      await assertLogged(t, res, params, 'paid', false)
      const row = await orderRow(t, o.order)
      assert.deepEqual([row.status, Number(row.late_payment)], ['paid', 0])
      assert.deepEqual((await eventsOf(t, o.order)).map((e) => [e.from, e.to]), [[null, 'unpaid'], ['unpaid', 'paid']])
    })

    test('when an expired order gets a failed result or a wrong amount, then it stays as it was', async () => {
      const o = await order(timed)
      now += 2000
      const failed = signed(callbackParams(o.order, 30, { result: 'fail' }))
      const res = await callback(failed, timed)
      assertSuccess(res)
      await assertLogged(t, res, failed, 'payment_failed', false)
      const wrong = signed(callbackParams(o.order, 31))
      assertFail(await callback(wrong, timed), 400, 'AMOUNT_MISMATCH', 'rmb_yuan')
      await assertUntouched(o.order)
    })
  })

  test('when the suite is over, then every callback it sent, accepted or refused, is in the log exactly once', async () => {
    const rows = await t.ctx.store.db.selectFrom('callbacks').select(['trace_id', 'params', 'source_ip', 'signature', 'outcome']).execute()
    assert.equal(rows.length, sent)
    assert.equal(new Set(rows.map((r) => r.trace_id)).size, sent)
    for (const r of rows) {
      assert.ok(r.outcome !== '' && r.signature !== '' && r.source_ip !== '')
      assert.equal(typeof JSON.parse(r.params), 'object')
    }
  })
})
