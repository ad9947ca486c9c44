// The console's order timeline: everything that happened to one order, from every table, in
// time order; reading it changes nothing.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { toInt } from '../../src/db/values.ts'
import {
  orderAtAGlance, orderTimeline, type CallbackEntry, type NotificationEntry, type OrderTimeline, type PaymentEntry,
} from '../../src/modules/console/orders/order-timeline.repository.ts'
import { callbackParams, createOrder, forEachDialect, pay, post, signed } from '../helper.ts'
import { notifyApp, testClock, T0, type NotifyApp } from '../notifications/notify-app.ts'
import { startReceiver, type Receiver } from '../notifications/receiver.ts'

const SEC = 1000

forEachDialect('console order timeline', (dialect) => {
  let receiver: Receiver
  let t: NotifyApp
  const clock = testClock()
  let orderNo: string
  let timeline: OrderTimeline
  let payingTrace: string

  const row = () => t.ctx.store.db.selectFrom('orders').selectAll().where('order_no', '=', orderNo).executeTakeFirstOrThrow()

  before(async () => {
    // The game server fails the first delivery and takes the second.
    receiver = await startReceiver((_req, nth) => nth === 1 ? { status: 500, body: 'busy' } : { status: 200, body: 'ok' })
    t = await notifyApp(dialect, { notifyUrl: receiver.url, clock: clock.now })
    const db = t.ctx.store.db

    // T0: created. +1 s: a callback with a wrong signature. +2 s: the paying callback.
    const order = await createOrder(t.app, { user_id: 'tl-user', server_flag: 's7' }, { 'x-request-id': 'tr-create' })
    orderNo = order.order
    clock.advance(SEC)
    const forged = { ...signed(callbackParams(orderNo, 30, { gyyx_order_no: 'GY-tl' })), sign: '0'.repeat(32) }
    assert.equal((await post(t.app, '/api/pay/callback', forged, { 'x-request-id': 'tr-forged' })).status, 401)
    clock.advance(SEC)
    assert.equal((await pay(t.app, orderNo, 30, { gyyx_order_no: 'GY-tl' }).then((r) => r.body.state)), '')
    const paying = await db.selectFrom('callbacks').select('trace_id').where('outcome', '=', 'paid').where('game_order_no', '=', orderNo)
      .executeTakeFirstOrThrow()

    // +3 s: the notification fails; +20 s: it is delivered.
    clock.advance(SEC)
    await t.ctx.notifications.deliverDue()
    clock.advance(17 * SEC)
    await t.ctx.notifications.deliverDue()

    // +30 s: the game verifies the purchase.
    clock.advance(10 * SEC)
    const verified = await post(t.app, '/api/pay/verification', { user_id: 'tl-user', item: '月卡', order: orderNo })
    assert.equal(verified.body.state, '')

    // +40 s: the platform pays the same order again: an anomaly, money to refund.
    clock.advance(10 * SEC)
    assert.equal((await pay(t.app, orderNo, 30, { gyyx_order_no: 'GY-tl-2' })).body.state, '')
    const duplicate = await db.selectFrom('payments').select(['id']).where('gyyx_order_no', '=', 'GY-tl-2').executeTakeFirstOrThrow()
    const anomalous = await db.selectFrom('callbacks').select(['id']).where('game_order_no', '=', orderNo).where('anomaly', '=', 1)
      .executeTakeFirstOrThrow()

    // +50 s the refund, +60 s the anomaly resolved, +70 s an operator's audited action, as the console records them.
    await db.insertInto('refunds').values({
      payment_id: duplicate.id,
      order_no: orderNo,
      refund_no: 'RF-1',
      amount_fen: 3000,
      refunded_at: T0 + 50 * SEC,
      recorded_by: 'ops-ann',
      recorded_at: T0 + 55 * SEC,
      trace_id: 'tr-refund',
    }).execute()
    await db.insertInto('anomaly_resolutions').values({
      kind: 'callback', ref: String(anomalous.id), note: 'refunded as RF-1', resolved_by: 'ops-ann', resolved_at: T0 + 60 * SEC,
    }).execute()
    // A resolution of another order's payment must not show up here.
    await db.insertInto('anomaly_resolutions').values({
      kind: 'payment', ref: '999999', note: 'other', resolved_by: 'ops-bob', resolved_at: T0 + 61 * SEC,
    }).execute()
    await db.insertInto('audit_log').values({
      at: T0 + 70 * SEC,
      operator: 'ops-ann',
      action: 'order.note',
      target: orderNo,
      source_ip: '10.1.2.3',
      trace_id: 'tr-audit',
      before_value: null,
      after_value: JSON.stringify({ note: 'called the player' }),
    }).execute()
    await db.insertInto('audit_log').values({
      at: T0 + 71 * SEC,
      operator: 'ops-ann',
      action: 'order.note',
      target: 'another-order',
      source_ip: '10.1.2.3',
      trace_id: 'tr-other',
      before_value: null,
      after_value: null,
    }).execute()

    clock.advance(60 * SEC)
    payingTrace = paying.trace_id
    const read = await orderTimeline(db, orderNo)
    assert.ok(read)
    timeline = read
  })
  after(async () => {
    await t?.close()
    await receiver?.close()
  })

  test('when an order\'s timeline is read, then its entries come in time order, each kind where it happened', () => {
    assert.deepEqual(timeline.entries.map((e) => [e.at - T0, e.kind]), [
      [0, 'created'],
      [1 * SEC, 'callback'],
      // One transaction: the callback logged, the status changed, the payment and its notification written.
      [2 * SEC, 'callback'],
      [2 * SEC, 'status'],
      [2 * SEC, 'payment'],
      [2 * SEC, 'notification'],
      [30 * SEC, 'verification'],
      [40 * SEC, 'callback'],
      [40 * SEC, 'payment'],
      [50 * SEC, 'refund'],
      [60 * SEC, 'resolution'],
      [70 * SEC, 'audit'],
    ])
  })

  test('when the timeline is read, then the order comes with every column as typed values', async () => {
    const stored = await row()
    assert.deepEqual(timeline.order, {
      orderNo,
      userId: 'tl-user',
      goodsId: 2,
      item: '月卡',
      priceFen: 3000,
      amountNum: 1,
      amountFen: 3000,
      serverFlag: 's7',
      description: stored.description,
      gameRoleId: stored.game_role_id,
      gameRoleName: stored.game_role_name,
      gameRoleGrade: stored.game_role_grade,
      status: 'paid',
      openKey: null,
      createdAt: T0,
      expireAt: toInt(stored.expire_at),
      updatedAt: toInt(stored.updated_at),
      paidAt: T0 + 2 * SEC,
      gyyxOrderNo: 'GY-tl',
      paidFen: 3000,
      latePayment: false,
      verifyCount: 1,
      firstVerifiedAt: T0 + 30 * SEC,
      firstVerifyTraceId: stored.first_verify_trace_id,
    })
  })

  test('when the timeline is read, then creation and the status change carry actor, reason and trace id', () => {
    const [created] = timeline.entries
    assert.deepEqual(created, { kind: 'created', at: T0, traceId: 'tr-create', status: 'unpaid', actor: 'user', reason: 'create' })
    const status = timeline.entries.find((e) => e.kind === 'status')
    assert.ok(status?.kind === 'status')
    assert.equal(status.from, 'unpaid')
    assert.equal(status.to, 'paid')
    assert.equal(status.actor, 'platform')
    assert.equal(status.reason, 'callback')
    assert.equal(status.traceId, payingTrace)
  })

  test('when the timeline is read, then each callback shows its signature verdict, outcome, anomaly, parameters and trace id', async () => {
    const callbacks = timeline.entries.filter((e): e is CallbackEntry => e.kind === 'callback')
    assert.deepEqual(callbacks.map((c) => [c.signature, c.outcome, c.anomaly, c.gyyxOrderNo]), [
      ['invalid', 'SIGN_INVALID', false, 'GY-tl'],
      ['valid', 'paid', false, 'GY-tl'],
      ['valid', 'duplicate_payment', true, 'GY-tl-2'],
    ])
    assert.equal(callbacks[0].traceId, 'tr-forged')
    assert.equal(callbacks[0].signType, 'MD5')
    assert.equal(callbacks[0].sourceIp, '127.0.0.1')
    assert.match(callbacks[1].params, /GY-tl/)
    const stored = await t.ctx.store.db.selectFrom('callbacks').select(['id', 'trace_id']).where('game_order_no', '=', orderNo).orderBy('id').execute()
    assert.deepEqual(callbacks.map((c) => [c.callbackId, c.traceId]), stored.map((s) => [toInt(s.id), s.trace_id]))
  })

  test('when the timeline is read, then the payments show kind, amount, platform number and the refund of the duplicate', () => {
    const payments = timeline.entries.filter((e): e is PaymentEntry => e.kind === 'payment')
    assert.deepEqual(payments.map((p) => [p.paymentKind, p.amountFen, p.gyyxOrderNo, p.appliedBy]), [
      ['applied', 3000, 'GY-tl', null],
      ['duplicate', 3000, 'GY-tl-2', null],
    ])
    assert.equal(payments[0].traceId, payingTrace)
    assert.equal(payments[0].refund, null)
    assert.deepEqual(payments[1].refund, { refundNo: 'RF-1', amountFen: 3000, refundedAt: T0 + 50 * SEC, recordedBy: 'ops-ann' })
    const refund = timeline.entries.find((e) => e.kind === 'refund')
    assert.deepEqual(refund, {
      kind: 'refund',
      at: T0 + 50 * SEC,
      traceId: 'tr-refund',
      paymentId: payments[1].paymentId,
      refundNo: 'RF-1',
      amountFen: 3000,
      refundedAt: T0 + 50 * SEC,
      recordedBy: 'ops-ann',
      recordedAt: T0 + 55 * SEC,
    })
  })

  test('when the timeline is read, then the notification shows its status and each attempt, traced by its event id', () => {
    const notices = timeline.entries.filter((e): e is NotificationEntry => e.kind === 'notification')
    assert.equal(notices.length, 1)
    const [n] = notices
    assert.equal(n.traceId, n.eventId)
    assert.equal(n.type, 'order.paid')
    assert.equal(n.status, 'delivered')
    assert.equal(n.attempts, 2)
    assert.equal(n.deliveredAt, T0 + 20 * SEC)
    assert.deepEqual(n.attemptLog.map((a) => [a.attempt, a.url, a.httpStatus, a.startedAt - T0]), [
      [1, receiver.url, 500, 3 * SEC],
      [2, receiver.url, 200, 20 * SEC],
    ])
    assert.ok(n.attemptLog.every((a) => a.latencyMs !== null && a.latencyMs >= 0))
  })

  test('when the timeline is read, then each attempt\'s error and latency are the stored ones', async () => {
    const [n] = timeline.entries.filter((e): e is NotificationEntry => e.kind === 'notification')
    const stored = await t.ctx.store.db.selectFrom('notification_attempts').select(['attempt', 'error', 'latency_ms'])
      .where('event_id', '=', n.eventId).orderBy('attempt').execute()
    assert.deepEqual(n.attemptLog.map((a) => [a.attempt, a.error, a.latencyMs]),
      stored.map((s) => [toInt(s.attempt), s.error, s.latency_ms === null ? null : toInt(s.latency_ms)]))
  })

  test('when the timeline is read, then verification, the resolution and the audit row are there, and only this order\'s', () => {
    const verification = timeline.entries.find((e) => e.kind === 'verification')
    assert.deepEqual(verification, { kind: 'verification', at: T0 + 30 * SEC, traceId: timeline.order.firstVerifyTraceId, verifyCount: 1 })
    const resolutions = timeline.entries.filter((e) => e.kind === 'resolution')
    assert.equal(resolutions.length, 1)
    assert.deepEqual(resolutions[0], {
      kind: 'resolution',
      at: T0 + 60 * SEC,
      traceId: null,
      resolved: 'callback',
      ref: String(timeline.entries.filter((e): e is CallbackEntry => e.kind === 'callback')[2].callbackId),
      note: 'refunded as RF-1',
      resolvedBy: 'ops-ann',
    })
    const audits = timeline.entries.filter((e) => e.kind === 'audit')
    assert.deepEqual(audits, [{
      kind: 'audit',
      at: T0 + 70 * SEC,
      traceId: 'tr-audit',
      operator: 'ops-ann',
      action: 'order.note',
      sourceIp: '10.1.2.3',
      before: null,
      after: { note: 'called the player' },
    }])
  })

  test('when the timeline is read again, then verify_count and first_verified_at are unchanged', async () => {
    const before = await row()
    await orderTimeline(t.ctx.store.db, orderNo)
    await orderTimeline(t.ctx.store.db, orderNo)
    const afterReads = await row()
    assert.equal(toInt(afterReads.verify_count), 1)
    assert.deepEqual(afterReads, before)
  })

  test('when the order is seen at a glance, then paid, delivered and verified once', () => {
    assert.deepEqual(orderAtAGlance(timeline), {
      paid: true, paidAt: T0 + 2 * SEC, notified: 'delivered', verified: true, verifyCount: 1, firstVerifiedAt: T0 + 30 * SEC,
    })
  })

  describe('an order with little history', () => {
    test('when an unpaid order is read, then it has only its creation and is at a glance unpaid, not notified, not verified', async () => {
      const order = await createOrder(t.app, { user_id: 'tl-fresh' })
      const fresh = await orderTimeline(t.ctx.store.db, order.order)
      assert.ok(fresh)
      assert.deepEqual(fresh.entries.map((e) => e.kind), ['created'])
      assert.deepEqual(orderAtAGlance(fresh), {
        paid: false, paidAt: null, notified: 'none', verified: false, verifyCount: 0, firstVerifiedAt: null,
      })
    })

    test('when the order does not exist, then there is no timeline', async () => {
      assert.equal(await orderTimeline(t.ctx.store.db, '811-404'), undefined)
    })
  })
})
