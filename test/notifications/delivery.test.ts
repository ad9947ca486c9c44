// Every order that becomes paid is announced to the game server once: a signed order.paid event,
// written with the payment and delivered by a real HTTP request to a receiver on 127.0.0.1.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createOrder, forEachDialect, freshDatabaseUrl, pay } from '../helper.ts'
import { closedPortUrl, startReceiver, until, verifySignature, type Receiver } from './receiver.ts'
import { attemptRows, countEvents, eventsOf, notificationsCounted, notifyApp, NOTIFY_SECRET, T0, testClock, type NotifyApp } from './notify-app.ts'

forEachDialect('order.paid notifications', (dialect) => {
  let receiver: Receiver
  let t: NotifyApp
  const clock = testClock()
  let users = 0

  before(async () => {
    receiver = await startReceiver((req) => ({ status: 200, body: `ok ${req.eventId}` }))
    t = await notifyApp(dialect, { notifyUrl: receiver.url, clock: clock.now })
  })
  after(async () => {
    await t?.close()
    await receiver?.close()
  })

  test('when a callback pays an order, then one order.paid event is delivered, signed with NOTIFY_SECRET, its body as documented', async () => {
    const o = await createOrder(t.app,
      { user_id: `paid-${++users}`, item: '钻石x6480', item_id: '4', single_pric: 648, amount_num: 2, server_flag: 's1' })
    const paid = await pay(t.app, o.order, 1296, { gyyx_order_no: `G-${o.order}` })
    assert.equal(paid.status, 200, JSON.stringify(paid.body))

    const [event] = await eventsOf(t, o.order)
    assert.equal(event.status, 'pending')
    assert.equal(event.attempts, 0)
    assert.equal(event.type, 'order.paid')
    assert.equal(event.server_flag, 's1')
    assert.equal(event.created_at, T0)
    assert.match(event.event_id, /^evt_[0-9a-f]{32}$/)

    const reports = await t.ctx.notifications.deliverDue()
    assert.deepEqual(reports.map((r) => [r.eventId, r.outcome, r.result.httpStatus]), [[event.event_id, 'delivered', 200]])

    const received = receiver.of(event.event_id)
    assert.equal(received.length, 1)
    const [req] = received
    assert.equal(req.path, '/gamepay/events')
    assert.equal(req.headers['content-type'], 'application/json')
    const signature = verifySignature(req.headers['gamepay-signature'], req.raw, NOTIFY_SECRET)
    assert.ok(signature.ok, `signature ${req.headers['gamepay-signature']} verifies`)
    assert.equal(signature.t, Math.floor(T0 / 1000))
    assert.equal(verifySignature(req.headers['gamepay-signature'], req.raw, 'another-secret-of-16+chars').ok, false)
    // The body sent is the one stored, byte for byte.
    assert.equal(req.raw, event.payload)
    assert.deepEqual(req.json, {
      event_id: event.event_id,
      type: 'order.paid',
      created_at: '2025-03-01T08:00:00.000Z',
      data: {
        order: o.order,
        user_id: `paid-${users}`,
        item: '钻石x6480',
        item_id: 4,
        amount_num: 2,
        rmb_yuan: 1296,
        gyyx_order_no: `G-${o.order}`,
        status: 'paid',
        paid_at: '2025-03-01T08:00:00.000Z',
        server_flag: 's1',
        late_payment: false,
      },
    })

    const [delivered] = await eventsOf(t, o.order)
    assert.equal(delivered.status, 'delivered')
    assert.equal(delivered.attempts, 1)
    assert.equal(delivered.delivered_at, T0)
    assert.equal(delivered.lease_owner, null)
    const attempts = await attemptRows(t, event.event_id)
    assert.equal(attempts.length, 1)
    assert.equal(attempts[0].trigger, 'schedule')
    assert.equal(attempts[0].url, receiver.url)
    assert.equal(attempts[0].started_at, T0)
    assert.equal(attempts[0].http_status, 200)
    assert.equal(attempts[0].error, null)
    assert.equal(attempts[0].response_head, `ok ${event.event_id}`)
    assert.ok(attempts[0].latency_ms !== null && attempts[0].latency_ms >= 0)
    assert.equal(await notificationsCounted(t, 'delivered'), 1)

    // Delivered is final: nothing is due any more.
    assert.deepEqual(await t.ctx.notifications.deliverDue(), [])
    assert.equal(receiver.of(event.event_id).length, 1)
  })

  test('when the same callback comes again, then it makes no second event and nothing more is sent', async () => {
    const o = await createOrder(t.app, { user_id: `again-${++users}` })
    assert.equal((await pay(t.app, o.order, 30)).status, 200)
    await t.ctx.notifications.deliverDue()
    const before = receiver.requests.length

    const again = await pay(t.app, o.order, 30)
    assert.equal(again.status, 200, JSON.stringify(again.body))
    const events = await eventsOf(t, o.order)
    assert.equal(events.length, 1)
    assert.equal(events[0].status, 'delivered')
    assert.deepEqual(await t.ctx.notifications.deliverDue(), [])
    assert.equal(receiver.requests.length, before)
  })

  test('when an expired order is paid late, then its event says late_payment: true', async () => {
    const o = await createOrder(t.app, { user_id: `late-${++users}` })
    clock.advance(3600_000)
    const paid = await pay(t.app, o.order, 30)
    assert.equal(paid.status, 200, JSON.stringify(paid.body))
    const [event] = await eventsOf(t, o.order)
    await t.ctx.notifications.deliverDue()
    const [req] = receiver.of(event.event_id)
    assert.equal(req.json.data.late_payment, true)
    assert.equal(req.json.data.paid_at, new Date(clock.now()).toISOString())
    assert.equal((await eventsOf(t, o.order))[0].status, 'delivered')
  })

  test('when a payment does not make the order paid (a failed payment, a wrong amount), then no event is made', async () => {
    const o = await createOrder(t.app, { user_id: `unpaid-${++users}` })
    const failed = await pay(t.app, o.order, 30, { result: 'fail' })
    assert.equal(failed.status, 200, JSON.stringify(failed.body))
    const wrong = await pay(t.app, o.order, 31, { gyyx_order_no: `W-${o.order}` })
    assert.equal(wrong.body.state, 'AMOUNT_MISMATCH')
    assert.deepEqual(await eventsOf(t, o.order), [])
  })

  test('when the receiver answers with a long body, then the attempt keeps its first 512 bytes', async () => {
    const long = await startReceiver(() => ({ status: 202, body: '数'.repeat(400) }))
    const other = await notifyApp(dialect, { notifyUrl: long.url, url: t.url, clock: clock.now })
    try {
      const o = await createOrder(other.app, { user_id: `long-${++users}` })
      assert.equal((await pay(other.app, o.order, 30)).status, 200)
      const [report] = await other.ctx.notifications.deliverDue()
      assert.equal(report.outcome, 'delivered')
      const [attempt] = await attemptRows(other, report.eventId)
      assert.equal(attempt.http_status, 202)
      // 170 three-byte characters are 510 bytes; the 171st would cross 512 and is left out whole.
      assert.equal(attempt.response_head, '数'.repeat(170))
    } finally {
      await other.close()
      await long.close()
    }
  })
})

forEachDialect('where notifications go', (dialect) => {
  test('when no NOTIFY_URL of any kind is set, then a payment makes no event', async () => {
    const t = await notifyApp(dialect)
    try {
      const o = await createOrder(t.app, { user_id: 'no-url' })
      assert.equal((await pay(t.app, o.order, 30)).status, 200)
      assert.equal(await countEvents(t), 0)
      assert.equal(t.ctx.config.notify, null)
    } finally {
      await t.close()
    }
  })

  test('when NOTIFY_URL_<FLAG> is set, then that server_flag\'s events go there, others to NOTIFY_URL, and with no NOTIFY_URL no event is made for them', async () => {
    const global = await startReceiver()
    const s2 = await startReceiver()
    const url = await freshDatabaseUrl(dialect)
    const both = await notifyApp(dialect, { url, notifyUrl: global.url, env: { NOTIFY_URL_CN_EAST_2: s2.url } })
    const flagOnly = await notifyApp(dialect, { url, env: { NOTIFY_URL_CN_EAST_2: s2.url } })
    try {
      const east = await createOrder(both.app, { user_id: 'flag-1', server_flag: 'cn-east.2' })
      const west = await createOrder(both.app, { user_id: 'flag-2', server_flag: 's9' })
      assert.equal((await pay(both.app, east.order, 30)).status, 200)
      assert.equal((await pay(both.app, west.order, 30)).status, 200)
      const reports = await both.ctx.notifications.deliverDue()
      assert.equal(reports.length, 2)
      assert.deepEqual(s2.requests.map((r) => r.json.data.order), [east.order])
      assert.deepEqual(global.requests.map((r) => r.json.data.order), [west.order])

      // Only NOTIFY_URL_CN_EAST_2: an order of another server_flag has nowhere to go, so no event.
      const eastAgain = await createOrder(flagOnly.app, { user_id: 'flag-3', server_flag: 'cn-east.2' })
      const westAgain = await createOrder(flagOnly.app, { user_id: 'flag-4', server_flag: 's9' })
      assert.equal((await pay(flagOnly.app, eastAgain.order, 30)).status, 200)
      assert.equal((await pay(flagOnly.app, westAgain.order, 30)).status, 200)
      assert.equal((await eventsOf(flagOnly, eastAgain.order)).length, 1)
      assert.deepEqual(await eventsOf(flagOnly, westAgain.order), [])
    } finally {
      await flagOnly.close()
      await both.close()
      await global.close()
      await s2.close()
    }
  })

  test('when the configuration changed between the payment and the delivery, then the event goes to the URL configured when it is sent', async () => {
    const old = await closedPortUrl()
    const current = await startReceiver()
    const url = await freshDatabaseUrl(dialect)
    const before = await notifyApp(dialect, { url, notifyUrl: old })
    const o = await createOrder(before.app, { user_id: 'moved' })
    assert.equal((await pay(before.app, o.order, 30)).status, 200)
    await before.close()
    const after = await notifyApp(dialect, { url, notifyUrl: current.url })
    try {
      const [report] = await after.ctx.notifications.deliverDue()
      assert.equal(report.outcome, 'delivered')
      assert.deepEqual(current.requests.map((r) => r.json.data.order), [o.order])
      assert.equal((await attemptRows(after, report.eventId))[0].url, current.url)
    } finally {
      await after.close()
      await current.close()
    }
  })

  test('when the event\'s server_flag has no URL any more when it is sent, then the attempt says so and the schedule goes on', async () => {
    const receiver = await startReceiver()
    const url = await freshDatabaseUrl(dialect)
    const before = await notifyApp(dialect, { url, env: { NOTIFY_URL_S1: receiver.url } })
    const o = await createOrder(before.app, { user_id: 'unrouted', server_flag: 's1' })
    assert.equal((await pay(before.app, o.order, 30)).status, 200)
    await before.close()
    const after = await notifyApp(dialect, { url, env: { NOTIFY_URL_S2: receiver.url } })
    try {
      const [report] = await after.ctx.notifications.deliverDue()
      assert.equal(report.outcome, 'retry')
      const [attempt] = await attemptRows(after, report.eventId)
      assert.deepEqual([attempt.url, attempt.http_status, attempt.error],
        ['', null, 'no URL is configured for server_flag "s1": neither NOTIFY_URL_S1 nor NOTIFY_URL'])
      assert.equal((await eventsOf(after, o.order))[0].status, 'pending')
      assert.equal(receiver.requests.length, 0)
    } finally {
      await after.close()
      await receiver.close()
    }
  })

  test('when NOTIFY_SECRET is not set on loopback, then the delivery loop warns at start and signs with the development secret', async () => {
    const receiver = await startReceiver()
    const t = await notifyApp(dialect, { notifyUrl: receiver.url, deliverMs: 3_600_000, env: { NOTIFY_SECRET: '' } })
    try {
      const warning = /^NOTIFY_SECRET is not set: notifications are signed with the development secret/
      assert.ok(t.logs.some((l) => l.level === 'warn' && warning.test(l.msg)), JSON.stringify(t.logs))
      const o = await createOrder(t.app, { user_id: 'dev-secret' })
      assert.equal((await pay(t.app, o.order, 30)).status, 200)
      await until('the event is delivered', () => receiver.requests.length === 1)
      const [req] = receiver.requests
      assert.ok(verifySignature(req.headers['gamepay-signature'], req.raw, 'gamepay-development-notify-secret').ok)
    } finally {
      await t.close()
      await receiver.close()
    }
  })

  test('when the delivery loop runs, then a paid order is delivered as soon as its payment commits, not at the next poll', async () => {
    const receiver = await startReceiver()
    // A poll far in the future: only the wake-up after the payment can deliver this in time.
    const t = await notifyApp(dialect, { notifyUrl: receiver.url, deliverMs: 3_600_000 })
    try {
      const o = await createOrder(t.app, { user_id: 'loop' })
      assert.equal((await pay(t.app, o.order, 30)).status, 200)
      await until('the event is delivered', async () => (await eventsOf(t, o.order))[0]?.status === 'delivered')
      assert.equal(receiver.requests.length, 1)
      assert.equal(receiver.requests[0].json.data.order, o.order)
    } finally {
      await t.close()
      await receiver.close()
    }
  })
})
