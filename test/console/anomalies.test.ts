// The anomaly queue: real callbacks make each kind of anomaly; operators resolve them with a note,
// record refunds of duplicate and late payments, and resend failed notifications.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { parseShanghaiTime } from '../../src/modules/console/display.ts'
import { callbackParams, createOrder, createTestApp, forEachDialect, logged, post, signed, type TestApp } from '../helper.ts'
import { startReceiver, type Receiver } from '../notifications/receiver.ts'
import { form, signIn, tokenFor, type Session } from './console-helper.ts'

const HOUR = 3_600_000
const NOTIFY_SECRET = 'notify-secret-of-16+chars'
const BURST_IP = '203.0.113.7'
const QUIET_IP = '203.0.113.8'

describe('refund time', () => {
  test('when a time has an offset, then it is read with it; without one, as Asia/Shanghai', () => {
    assert.equal(parseShanghaiTime('2025-03-01T08:30:00Z', { bareT: true }), Date.UTC(2025, 2, 1, 8, 30))
    assert.equal(parseShanghaiTime('2025-03-01T16:30:00.250+08:00', { bareT: true }), Date.UTC(2025, 2, 1, 8, 30, 0, 250))
    assert.equal(parseShanghaiTime('2025-03-01T03:30-0500', { bareT: true }), Date.UTC(2025, 2, 1, 8, 30))
    assert.equal(parseShanghaiTime('2025-03-01 16:30', { bareT: true }), Date.UTC(2025, 2, 1, 8, 30))
    assert.equal(parseShanghaiTime('2025-03-01T16:30', { bareT: true }), Date.UTC(2025, 2, 1, 8, 30))
    assert.equal(parseShanghaiTime('2025-03-01 16:30:15', { bareT: true }), Date.UTC(2025, 2, 1, 8, 30, 15))
  })

  test('when a time is not a real time or not in these forms, then it is refused', () => {
    for (const bad of ['', '2025-02-30 10:00', '2025-03-01 24:00', '2025-03-01 10:60', '2025/03/01T10:00', '1740817800', 'yesterday', '2025-03-01T10:00+15:00']) {
      assert.equal(parseShanghaiTime(bad, { bareT: true }), null, bad)
    }
  })
})

forEachDialect('console anomalies', (dialect) => {
  let t: TestApp
  let receiver: Receiver
  let admin: string
  let viewer: string
  let users = 0
  // Moved only while the bad-signature burst is sent, so it falls inside one clock hour.
  let shift = 0

  const db = () => t.ctx.store.db
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const order = () => createOrder(t.app, { user_id: `anom-${++users}` })

  async function callback (params: Record<string, unknown>, remoteAddress = '127.0.0.1') {
    const traceId = randomUUID()
    const res = await t.app.inject({ method: 'POST', url: '/api/pay/callback', payload: params, headers: { 'x-request-id': traceId }, remoteAddress })
    return { status: res.statusCode, body: res.json(), traceId }
  }

  const api = (token: string, method: 'GET' | 'POST', url: string, payload?: object) =>
    t.app.inject({ method, url, headers: bearer(token), ...(payload ? { payload } : {}) })

  async function queue (token: string, query = '') {
    const res = await api(token, 'GET', `/api/admin/anomalies${query}`)
    assert.equal(res.statusCode, 200, res.body)
    return res.json().data as any[]
  }

  async function paymentOf (gyyxOrderNo: string) {
    return db().selectFrom('payments').selectAll().where('gyyx_order_no', '=', gyyxOrderNo).executeTakeFirstOrThrow()
  }

  /** One anomaly of each kind a callback makes, plus a failed notification. */
  async function makeAnomalies () {
    const mismatch = await order()
    const mismatchCb = await callback(signed(callbackParams(mismatch.order, 31)))
    assert.equal(mismatchCb.body.state, 'AMOUNT_MISMATCH')

    const twice = await order()
    const first = signed(callbackParams(twice.order, 30))
    assert.equal((await callback(first)).status, 200)
    const dupCb = await callback(signed(callbackParams(twice.order, 30, { gyyx_order_no: `DUP-${twice.order}` })))
    assert.equal(dupCb.status, 200)
    const duplicate = await paymentOf(`DUP-${twice.order}`)
    assert.equal(duplicate.kind, 'duplicate')

    const cancelled = await order()
    const cancel = await post(t.app, '/api/pay/cancel-order', { user_id: cancelled.user_id, order: cancelled.order })
    assert.equal(cancel.body.data.status, 'cancelled')
    const lateCb = await callback(signed(callbackParams(cancelled.order, 30)))
    assert.equal(lateCb.status, 200)
    const late = await paymentOf(`P${cancelled.order.split('-')[1]}`)
    assert.equal(late.kind, 'late')

    const other = await order()
    const conflictCb = await callback(signed(callbackParams(other.order, 30, { gyyx_order_no: first.gyyx_order_no })))
    assert.equal(conflictCb.status, 200)

    const unnotified = await order()
    const eventId = `evt-${randomUUID()}`
    const failedAt = t.ctx.clock()
    await db().insertInto('notification_events').values({
      event_id: eventId,
      order_no: unnotified.order,
      type: 'order.paid',
      server_flag: 's1',
      payload: JSON.stringify({ event_id: eventId, type: 'order.paid', order: unnotified.order }),
      status: 'failed',
      attempts: 3,
      next_attempt_at: failedAt - 1000,
      lease_owner: null,
      lease_until: 0,
      created_at: failedAt - 60_000,
      delivered_at: null,
      failed_at: failedAt,
    }).execute()

    return {
      mismatch: { order: mismatch.order, ref: String((await logged(t, mismatchCb.traceId)).id), traceId: mismatchCb.traceId },
      duplicate: { order: twice.order, ref: String(duplicate.id), id: Number(duplicate.id), traceId: dupCb.traceId, applied: Number((await paymentOf(first.gyyx_order_no)).id) },
      late: { order: cancelled.order, ref: String(late.id), id: Number(late.id), traceId: lateCb.traceId },
      conflict: { order: other.order, ref: String((await logged(t, conflictCb.traceId)).id), gyyx: first.gyyx_order_no, traceId: conflictCb.traceId },
      notification: { order: unnotified.order, ref: eventId },
    }
  }

  let made: Awaited<ReturnType<typeof makeAnomalies>>
  let burstRef: string
  let burstHour: number

  const count = async (table: 'anomaly_resolutions' | 'refunds' | 'audit_log' | 'notification_attempts') =>
    Number((await db().selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
  const counts = async () => ({
    resolutions: await count('anomaly_resolutions'), refunds: await count('refunds'), audit: await count('audit_log'), attempts: await count('notification_attempts'),
  })
  const auditOf = (action: string) => db().selectFrom('audit_log').selectAll().where('action', '=', action).orderBy('id').execute()
  const snapshot = async () => ({
    orders: await db().selectFrom('orders').selectAll().orderBy('order_no').execute(),
    payments: await db().selectFrom('payments').selectAll().orderBy('id').execute(),
  })

  before(async () => {
    receiver = await startReceiver(() => ({ status: 200 }))
    t = await createTestApp(dialect, {
      env: { NOTIFY_URL: receiver.url, NOTIFY_SECRET, NOTIFY_RETRY_SECONDS: '15,60' },
      clock: () => Date.now() + shift,
    })
    admin = await tokenFor(t, 'anna', 'admin')
    viewer = await tokenFor(t, 'vic', 'viewer')
    made = await makeAnomalies()

    // Ten bad signatures from one address within an hour two hours ago; nine from another.
    burstHour = Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR
    shift = burstHour + 10 * 60_000 - Date.now()
    for (let i = 0; i < 10; i++) {
      assert.equal((await callback({ ...signed(callbackParams(made.mismatch.order, 30)), sign: 'not-the-signature' }, BURST_IP)).body.state, 'SIGN_INVALID')
    }
    for (let i = 0; i < 9; i++) await callback({ ...signed(callbackParams(made.mismatch.order, 30)), sign: 'bad' }, QUIET_IP)
    shift = 0
    burstRef = `${BURST_IP}@${new Date(burstHour).toISOString()}`
  })

  after(async () => {
    await t.close()
    await receiver.close()
  })

  test('when anomalies of every kind exist, then the queue lists each with its order, platform number, yuan amounts, address and trace', async () => {
    const items = await queue(admin)
    const find = (kind: string, ref: string) => items.find((i) => i.kind === kind && i.ref === ref)

    const mismatch = find('amount_mismatch', made.mismatch.ref)
    assert.ok(mismatch, JSON.stringify(items))
    assert.deepEqual(
      [mismatch.order_no, mismatch.gyyx_order_no, mismatch.amount, mismatch.order_amount, mismatch.source_ip, mismatch.trace_id, mismatch.resolved, mismatch.refundable],
      [made.mismatch.order, `P${made.mismatch.order.split('-')[1]}`, 31, 30, '127.0.0.1', made.mismatch.traceId, null, false])

    const duplicate = find('duplicate_payment', made.duplicate.ref)
    assert.ok(duplicate)
    assert.deepEqual(
      [duplicate.order_no, duplicate.gyyx_order_no, duplicate.amount, duplicate.order_amount, duplicate.source_ip, duplicate.trace_id, duplicate.payment_id, duplicate.refundable, duplicate.refund],
      [made.duplicate.order, `DUP-${made.duplicate.order}`, 30, 30, '127.0.0.1', made.duplicate.traceId, made.duplicate.id, true, null])

    const late = find('late_payment', made.late.ref)
    assert.ok(late)
    assert.deepEqual([late.order_no, late.amount, late.source_ip, late.trace_id, late.payment_id, late.refundable], [made.late.order, 30, '127.0.0.1', made.late.traceId, made.late.id, true])

    const conflict = find('gyyx_conflict', made.conflict.ref)
    assert.ok(conflict)
    assert.deepEqual([conflict.order_no, conflict.gyyx_order_no, conflict.amount, conflict.trace_id], [made.conflict.order, made.conflict.gyyx, 30, made.conflict.traceId])

    const failed = find('notification_failed', made.notification.ref)
    assert.ok(failed)
    assert.deepEqual([failed.order_no, failed.order_amount, failed.count], [made.notification.order, 30, 3])

    const burst = find('signature_burst', burstRef)
    assert.ok(burst, JSON.stringify(items.filter((i) => i.kind === 'signature_burst')))
    assert.deepEqual([burst.source_ip, burst.count, burst.at, burst.order_no], [BURST_IP, 10, new Date(burstHour).toISOString(), null])
    assert.equal(items.some((i) => i.source_ip === QUIET_IP), false, 'nine bad signatures in an hour are no burst')

    // The paid order's own payment and the callbacks that applied payments are no anomalies.
    assert.equal(items.some((i) => i.payment_id === made.duplicate.applied), false)
    const times = items.map((i) => Date.parse(i.at))
    assert.deepEqual(times, [...times].sort((a, b) => b - a), 'newest first')

    const onlyLate = await queue(admin, '?kind=late_payment')
    assert.ok(onlyLate.length >= 1)
    assert.ok(onlyLate.every((i) => i.kind === 'late_payment'))
    const bad = await api(admin, 'GET', '/api/admin/anomalies?kind=nonsense')
    assert.equal(bad.statusCode, 400)
    assert.equal(bad.json().state, 'INVALID_PARAMS')
  })

  test('when an admin resolves an item with a note, then it is recorded and audited, leaves the unresolved list, and a second resolve is CONFLICT', async () => {
    const before = await snapshot()
    const res = await api(admin, 'POST', '/api/admin/anomalies/resolve', { kind: 'amount_mismatch', ref: made.mismatch.ref, note: '  user paid 31, refunded by hand  ' })
    assert.equal(res.statusCode, 200, res.body)
    const data = res.json().data
    assert.deepEqual([data.kind, data.ref, data.note, data.resolved_by, data.target], ['amount_mismatch', made.mismatch.ref, 'user paid 31, refunded by hand', 'anna', made.mismatch.order])

    const row = await db().selectFrom('anomaly_resolutions').selectAll().where('kind', '=', 'amount_mismatch').where('ref', '=', made.mismatch.ref).executeTakeFirstOrThrow()
    assert.deepEqual([row.note, row.resolved_by, new Date(Number(row.resolved_at)).toISOString()], ['user paid 31, refunded by hand', 'anna', data.resolved_at])
    const audit = (await auditOf('anomaly.resolve')).at(-1)!
    assert.deepEqual([audit.operator, audit.target, audit.trace_id], ['anna', made.mismatch.order, res.json().trace_id])
    assert.deepEqual(JSON.parse(audit.after_value ?? 'null'), { kind: 'amount_mismatch', ref: made.mismatch.ref, note: 'user paid 31, refunded by hand' })

    assert.equal((await queue(admin)).some((i) => i.kind === 'amount_mismatch' && i.ref === made.mismatch.ref), false)
    const resolved = (await queue(admin, '?resolved=true')).find((i) => i.ref === made.mismatch.ref && i.kind === 'amount_mismatch')
    assert.deepEqual(resolved?.resolved, { note: 'user paid 31, refunded by hand', by: 'anna', at: data.resolved_at })
    assert.ok((await queue(admin, '?resolved=all')).some((i) => i.ref === made.mismatch.ref && i.kind === 'amount_mismatch'))
    assert.ok((await queue(admin, '?resolved=true')).every((i) => i.resolved !== null))

    const written = await counts()
    const again = await api(admin, 'POST', '/api/admin/anomalies/resolve', { kind: 'amount_mismatch', ref: made.mismatch.ref, note: 'again' })
    assert.equal(again.statusCode, 409)
    assert.equal(again.json().state, 'CONFLICT')
    assert.deepEqual(await counts(), written)
    assert.deepEqual(await snapshot(), before, 'orders and payments are untouched')
  })

  test('when a resolve lacks a note, names an unknown kind or no such anomaly, then it is refused and nothing is written', async () => {
    const written = await counts()
    const cases: Array<[object, number, string, string]> = [
      [{ kind: 'gyyx_conflict', ref: made.conflict.ref }, 400, 'INVALID_PARAMS', 'note'],
      [{ kind: 'gyyx_conflict', ref: made.conflict.ref, note: '' }, 400, 'INVALID_PARAMS', 'note'],
      [{ kind: 'gyyx_conflict', ref: made.conflict.ref, note: '   ' }, 400, 'INVALID_PARAMS', 'note'],
      [{ kind: 'gyyx_conflict', ref: made.conflict.ref, note: 'x'.repeat(1025) }, 400, 'INVALID_PARAMS', 'note'],
      [{ kind: 'nonsense', ref: made.conflict.ref, note: 'n' }, 400, 'INVALID_PARAMS', 'kind'],
      [{ kind: 'gyyx_conflict', ref: made.mismatch.ref, note: 'n' }, 404, 'NOT_FOUND', made.mismatch.ref],
      [{ kind: 'duplicate_payment', ref: String(made.duplicate.applied), note: 'n' }, 404, 'NOT_FOUND', String(made.duplicate.applied)],
      [{ kind: 'signature_burst', ref: `${QUIET_IP}@${new Date(burstHour).toISOString()}`, note: 'n' }, 404, 'NOT_FOUND', QUIET_IP],
    ]
    for (const [body, status, state, mentions] of cases) {
      const res = await t.app.inject({ method: 'POST', url: '/api/admin/anomalies/resolve', headers: { ...bearer(admin), 'accept-language': 'en' }, payload: body })
      assert.equal(res.statusCode, status, `${JSON.stringify(body).slice(0, 80)}: ${res.body}`)
      assert.equal(res.json().state, state)
      assert.ok(res.json().message.includes(mentions), `"${res.json().message}" should mention ${mentions}`)
    }
    assert.deepEqual(await counts(), written)
  })

  test('when the late payment, the reused platform number and the burst are resolved, then the paid orders and payments stay byte-for-byte the same', async () => {
    const before = await snapshot()
    const paid = before.orders.find((o) => o.order_no === made.late.order)!
    assert.equal(paid.status, 'paid')
    for (const [kind, ref, target] of [['late_payment', made.late.ref, made.late.order], ['gyyx_conflict', made.conflict.ref, made.conflict.order], ['signature_burst', burstRef, BURST_IP]]) {
      const res = await api(admin, 'POST', '/api/admin/anomalies/resolve', { kind, ref, note: `checked ${kind}` })
      assert.equal(res.statusCode, 200, res.body)
      assert.equal(res.json().data.target, target)
    }
    assert.deepEqual(await snapshot(), before)
    const after = await db().selectFrom('orders').selectAll().where('order_no', '=', made.late.order).executeTakeFirstOrThrow()
    assert.deepEqual([after.status, after.paid_fen, after.paid_at, after.gyyx_order_no], [paid.status, paid.paid_fen, paid.paid_at, paid.gyyx_order_no])
    assert.deepEqual((await auditOf('anomaly.resolve')).slice(-3).map((a) => a.target), [made.late.order, made.conflict.order, BURST_IP])
    const unresolved = await queue(admin)
    const gone = [`late_payment:${made.late.ref}`, `gyyx_conflict:${made.conflict.ref}`, `signature_burst:${burstRef}`]
    assert.equal(unresolved.some((i) => gone.includes(`${i.kind}:${i.ref}`)), false)
  })

  test('when a refund of a duplicate payment is recorded, then it is stored, audited, shown, and resolves its anomaly in the same step', async () => {
    const before = await snapshot()
    const url = `/api/admin/payments/${made.duplicate.id}/refund`
    const res = await api(admin, 'POST', url, { refund_no: 'R-DUP-1', amount: '30', refunded_at: '2025-03-01 16:30' })
    assert.equal(res.statusCode, 200, res.body)
    assert.deepEqual(res.json().data, {
      payment_id: made.duplicate.id, order_no: made.duplicate.order, refund_no: 'R-DUP-1', amount: 30, refunded_at: '2025-03-01T08:30:00.000Z', resolved: true,
    })

    const refund = await db().selectFrom('refunds').selectAll().where('payment_id', '=', made.duplicate.id).executeTakeFirstOrThrow()
    assert.deepEqual(
      [refund.order_no, refund.refund_no, Number(refund.amount_fen), Number(refund.refunded_at), refund.recorded_by, refund.trace_id],
      [made.duplicate.order, 'R-DUP-1', 3000, Date.UTC(2025, 2, 1, 8, 30), 'anna', res.json().trace_id])
    const audit = (await auditOf('payment.refund')).at(-1)!
    assert.equal(audit.target, made.duplicate.order)
    assert.deepEqual(JSON.parse(audit.before_value ?? 'null'), { refunded: false })
    assert.deepEqual(JSON.parse(audit.after_value ?? 'null'), { refund_no: 'R-DUP-1', amount_fen: 3000, refunded_at: '2025-03-01T08:30:00.000Z' })
    const resolution = await db().selectFrom('anomaly_resolutions').selectAll().where('kind', '=', 'duplicate_payment').where('ref', '=', made.duplicate.ref).executeTakeFirstOrThrow()
    assert.deepEqual([resolution.note, resolution.resolved_by], ['refund R-DUP-1', 'anna'])
    assert.deepEqual(await snapshot(), before, 'the payment and its order stay as they are')

    assert.equal((await queue(admin)).some((i) => i.kind === 'duplicate_payment' && i.ref === made.duplicate.ref), false)
    const shown = (await queue(admin, '?resolved=all&kind=duplicate_payment')).find((i) => i.ref === made.duplicate.ref)
    assert.deepEqual(shown?.refund, { refund_no: 'R-DUP-1', amount: 30, refunded_at: '2025-03-01T08:30:00.000Z' })
    assert.equal(shown?.refundable, false)

    const written = await counts()
    const second = await api(admin, 'POST', url, { refund_no: 'R-DUP-2', amount: 30, refunded_at: '2025-03-01T08:30:00Z' })
    assert.equal(second.statusCode, 409)
    assert.equal(second.json().state, 'CONFLICT')
    const sameNumber = await api(admin, 'POST', `/api/admin/payments/${made.late.id}/refund`, { refund_no: 'R-DUP-1', amount: 30, refunded_at: '2025-03-01T08:30:00Z' })
    assert.equal(sameNumber.statusCode, 409)
    assert.equal(sameNumber.json().state, 'CONFLICT')
    assert.deepEqual(await counts(), written)
  })

  test('when a refund is above the payment, malformed, or of the applied payment, then it is refused and nothing is written', async () => {
    const written = await counts()
    const url = `/api/admin/payments/${made.late.id}/refund`
    const cases: Array<[string, object, number, string, string]> = [
      [url, { refund_no: 'R-X', amount: 30.01, refunded_at: '2025-03-01 16:30' }, 400, 'INVALID_PARAMS', 'amount'],
      [url, { refund_no: 'R-X', amount: '1.234', refunded_at: '2025-03-01 16:30' }, 400, 'INVALID_PARAMS', 'amount'],
      [url, { refund_no: 'R-X', amount: 0, refunded_at: '2025-03-01 16:30' }, 400, 'INVALID_PARAMS', 'amount'],
      [url, { refund_no: 'R-X', amount: 10, refunded_at: '2025-02-30 16:30' }, 400, 'INVALID_PARAMS', 'refunded_at'],
      [url, { refund_no: 'R-X', amount: 10, refunded_at: new Date(Date.now() + 24 * HOUR).toISOString() }, 400, 'INVALID_PARAMS', 'refunded_at'],
      [url, { refund_no: '', amount: 10, refunded_at: '2025-03-01 16:30' }, 400, 'INVALID_PARAMS', 'refund_no'],
      [url, { refund_no: 'R'.repeat(129), amount: 10, refunded_at: '2025-03-01 16:30' }, 400, 'INVALID_PARAMS', 'refund_no'],
      [`/api/admin/payments/${made.duplicate.applied}/refund`, { refund_no: 'R-X', amount: 30, refunded_at: '2025-03-01 16:30' }, 409, 'CONFLICT', 'applied'],
      ['/api/admin/payments/999999999/refund', { refund_no: 'R-X', amount: 30, refunded_at: '2025-03-01 16:30' }, 404, 'NOT_FOUND', '999999999'],
    ]
    for (const [at, body, status, state, mentions] of cases) {
      const res = await t.app.inject({ method: 'POST', url: at, headers: { ...bearer(admin), 'accept-language': 'en' }, payload: body })
      assert.equal(res.statusCode, status, `${JSON.stringify(body)}: ${res.body}`)
      assert.equal(res.json().state, state)
      assert.ok(res.json().message.includes(mentions), `"${res.json().message}" should mention ${mentions}`)
    }
    assert.deepEqual(await counts(), written)

    // A part of a late payment, its amount as a number; its anomaly was already resolved.
    const part = await api(admin, 'POST', url, { refund_no: 'R-LATE-1', amount: 12.5, refunded_at: '2025-03-01T09:00:00+08:00' })
    assert.equal(part.statusCode, 200, part.body)
    assert.deepEqual([part.json().data.amount, part.json().data.refunded_at, part.json().data.resolved], [12.5, '2025-03-01T01:00:00.000Z', false])
    assert.equal(Number((await db().selectFrom('refunds').select('amount_fen').where('refund_no', '=', 'R-LATE-1').executeTakeFirstOrThrow()).amount_fen), 1250)
  })

  test('when an admin resends a failed notification, then it is delivered, audited and leaves the queue', async () => {
    const res = await api(admin, 'POST', `/api/admin/notifications/${made.notification.ref}/resend`)
    assert.equal(res.statusCode, 200, res.body)
    assert.deepEqual(res.json().data, {
      event_id: made.notification.ref, order_no: made.notification.order, attempt: 4, delivered: true, http_status: 200, error: null, status: 'delivered',
    })
    assert.equal(receiver.of(made.notification.ref).length, 1)
    const event = await db().selectFrom('notification_events').selectAll().where('event_id', '=', made.notification.ref).executeTakeFirstOrThrow()
    assert.equal(event.status, 'delivered')
    const audit = (await auditOf('notification.resend')).at(-1)!
    assert.equal(audit.target, made.notification.order)
    assert.deepEqual(JSON.parse(audit.after_value ?? 'null'), { event_id: made.notification.ref, attempt: 4, http_status: 200, delivered: true, status: 'delivered' })
    assert.equal((await queue(admin, '?kind=notification_failed')).some((i) => i.ref === made.notification.ref), false)

    const unknown = await api(admin, 'POST', '/api/admin/notifications/evt-none/resend')
    assert.equal(unknown.statusCode, 404)
    assert.equal(unknown.json().state, 'NOT_FOUND')
  })

  test('when a viewer resolves, refunds or resends, then FORBIDDEN and nothing is written; the viewer still reads the queue', async () => {
    const fresh = await makeAnomalies()
    const session = await signIn(t, 'vic', 'viewer')
    const written = await counts()
    const before = await snapshot()
    const changes: Array<[string, object]> = [
      ['/api/admin/anomalies/resolve', { kind: 'amount_mismatch', ref: fresh.mismatch.ref, note: 'viewer' }],
      [`/api/admin/payments/${fresh.duplicate.id}/refund`, { refund_no: 'R-VIEWER', amount: 30, refunded_at: '2025-03-01 16:30' }],
      [`/api/admin/notifications/${fresh.notification.ref}/resend`, {}],
    ]
    for (const [url, payload] of changes) {
      const byToken = await api(viewer, 'POST', url, payload)
      assert.equal(byToken.statusCode, 403, url)
      assert.equal(byToken.json().state, 'FORBIDDEN')
      const bySession = await session.inject({ method: 'POST', url, payload })
      assert.equal(bySession.statusCode, 403, url)
      assert.equal(bySession.json().state, 'FORBIDDEN')
    }
    const forms: Array<[string, Record<string, string>]> = [
      ['/console/anomalies/resolve', { kind: 'amount_mismatch', ref: fresh.mismatch.ref, note: 'viewer' }],
      [`/console/payments/${fresh.duplicate.id}/refund`, { refund_no: 'R-VIEWER', amount: '30', refunded_at: '2025-03-01T16:30' }],
      [`/console/notifications/${fresh.notification.ref}/resend`, {}],
    ]
    for (const [url, fields] of forms) {
      const res = await form(session, url, fields)
      assert.equal(res.statusCode, 403, url)
      assert.match(res.body, /FORBIDDEN/)
    }
    assert.deepEqual(await counts(), written)
    assert.deepEqual(await snapshot(), before)
    assert.equal(receiver.of(fresh.notification.ref).length, 0)
    assert.ok((await queue(viewer)).some((i) => i.kind === 'amount_mismatch' && i.ref === fresh.mismatch.ref))
  })

  test('when there are no credentials, then the API answers 401 and the pages send to sign-in, and nothing is written', async () => {
    const written = await counts()
    const list = await t.app.inject({ url: '/api/admin/anomalies' })
    assert.equal(list.statusCode, 401)
    assert.equal(list.json().state, 'UNAUTHORIZED')
    for (const url of ['/api/admin/anomalies/resolve', `/api/admin/payments/${made.late.id}/refund`, `/api/admin/notifications/${made.notification.ref}/resend`]) {
      const res = await t.app.inject({ method: 'POST', url, payload: { kind: 'amount_mismatch', ref: '1', note: 'n', refund_no: 'R-ANON', amount: 1, refunded_at: '2025-03-01 16:30' } })
      assert.equal(res.statusCode, 401, url)
      assert.equal(res.json().state, 'UNAUTHORIZED')
    }
    const page = await t.app.inject({ url: '/console/anomalies' })
    assert.equal(page.statusCode, 303)
    assert.equal(page.headers.location, `/console/sign-in?next=${encodeURIComponent('/console/anomalies')}`)
    const posted = await t.app.inject({
      method: 'POST', url: '/console/anomalies/resolve', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'kind=gyyx_conflict&ref=1&note=n',
    })
    assert.equal(posted.statusCode, 303)
    assert.match(String(posted.headers.location), /^\/console\/sign-in/)
    assert.deepEqual(await counts(), written)
  })

  describe('the page', () => {
    let fresh: Awaited<ReturnType<typeof makeAnomalies>>
    let session: Session

    before(async () => {
      fresh = await makeAnomalies()
      session = await signIn(t, 'anna')
    })

    test('when an admin opens the queue, then every item shows with its order link, yuan amounts, and the resolve, refund and resend forms', async () => {
      const res = await session.inject({ url: '/console/anomalies?lang=en' })
      assert.equal(res.statusCode, 200)
      const html = res.body
      for (const label of ['Amount mismatch', 'Duplicate payment (to refund)', 'Late payment (cancelled/expired order)', 'Platform number reused for another order', 'Failed notification']) {
        assert.ok(html.includes(label), label)
      }
      for (const o of [fresh.mismatch.order, fresh.duplicate.order, fresh.late.order, fresh.conflict.order, fresh.notification.order]) {
        assert.ok(html.includes(`href="/console/orders/${o}"`), o)
      }
      assert.ok(html.includes('31.00') && html.includes('30.00'))
      assert.ok(html.includes(fresh.duplicate.traceId))
      assert.ok(html.includes('action="/console/anomalies/resolve"'))
      assert.ok(html.includes(`name="ref" value="${fresh.mismatch.ref}"`))
      assert.ok(html.includes(`action="/console/payments/${fresh.duplicate.id}/refund"`))
      assert.ok(html.includes(`action="/console/payments/${fresh.late.id}/refund"`))
      assert.ok(html.includes(`action="/console/notifications/${fresh.notification.ref}/resend"`))
      assert.ok(!html.includes(`action="/console/payments/${fresh.duplicate.applied}/refund"`), 'no refund form for the applied payment')
      assert.ok(html.includes('type="datetime-local"'))

      const onlyBursts = await session.inject({ url: '/console/anomalies?kind=signature_burst&resolved=all&lang=en' })
      assert.ok(onlyBursts.body.includes(BURST_IP))
      assert.ok(onlyBursts.body.includes('10 bad signatures in that hour'))
      assert.ok(!onlyBursts.body.includes(fresh.mismatch.order))
    })

    test('when an admin resolves and records a refund through the forms, then each redirects back with a notice and is stored', async () => {
      const resolved = await form(session, '/console/anomalies/resolve', { kind: 'gyyx_conflict', ref: fresh.conflict.ref, note: 'platform reused the number; told them' })
      assert.equal(resolved.statusCode, 303)
      assert.equal(resolved.headers.location, '/console/anomalies?done=resolved')
      const row = await db().selectFrom('anomaly_resolutions').selectAll().where('kind', '=', 'gyyx_conflict').where('ref', '=', fresh.conflict.ref).executeTakeFirstOrThrow()
      assert.deepEqual([row.note, row.resolved_by], ['platform reused the number; told them', 'anna'])
      const notice = await session.inject({ url: '/console/anomalies?done=resolved&lang=en' })
      assert.ok(notice.body.includes('class="notice"') && notice.body.includes('Resolved.'))

      const refunded = await form(session, `/console/payments/${fresh.duplicate.id}/refund`, { refund_no: 'R-FORM-1', amount: '30.00', refunded_at: '2025-03-01T16:30' })
      assert.equal(refunded.statusCode, 303)
      assert.equal(refunded.headers.location, '/console/anomalies?done=refunded')
      const refund = await db().selectFrom('refunds').selectAll().where('refund_no', '=', 'R-FORM-1').executeTakeFirstOrThrow()
      assert.deepEqual([Number(refund.payment_id), Number(refund.amount_fen), Number(refund.refunded_at)], [fresh.duplicate.id, 3000, Date.UTC(2025, 2, 1, 8, 30)])
      const all = await session.inject({ url: '/console/anomalies?kind=duplicate_payment&resolved=all&lang=en' })
      assert.ok(all.body.includes('refunded R-FORM-1: 30.00 yuan'))

      const resent = await form(session, `/console/notifications/${fresh.notification.ref}/resend`, {})
      assert.equal(resent.statusCode, 303)
      assert.equal(resent.headers.location, '/console/anomalies?done=resent')
    })

    test('when a form lacks the note, then the error page names it and nothing is written', async () => {
      const written = await counts()
      const res = await form(session, '/console/anomalies/resolve', { kind: 'amount_mismatch', ref: fresh.mismatch.ref, note: '' })
      assert.equal(res.statusCode, 400)
      assert.match(res.body, /note/)
      assert.match(res.body, /INVALID_PARAMS/)
      assert.deepEqual(await counts(), written)
    })

    test('when a viewer opens the queue, then the items show but no form to change them', async () => {
      const viewerSession = await signIn(t, 'vic', 'viewer')
      const res = await viewerSession.inject({ url: '/console/anomalies?lang=en' })
      assert.equal(res.statusCode, 200)
      assert.ok(res.body.includes(`href="/console/orders/${fresh.mismatch.order}"`))
      assert.ok(!res.body.includes('action="/console/anomalies/resolve"'))
      assert.ok(!res.body.includes('/refund"'))
      assert.ok(!res.body.includes('/resend"'))
      assert.ok(!res.body.includes('<textarea'))
    })
  })
})
