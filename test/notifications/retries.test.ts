// A delivery that is not answered 2xx is tried again after each delay of NOTIFY_RETRY_SECONDS; after
// the last the event is failed, counted, logged and listed. The clock is the test's.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { DialectName } from '../../src/db/dialect.ts'
import { createOrder, forEachDialect, pay } from '../helper.ts'
import { closedPortUrl, startReceiver, type Answer, type Receiver } from './receiver.ts'
import { attemptRows, eventsOf, notificationsCounted, notifyApp, testClock } from './notify-app.ts'

interface Failure {
  name: string
  /** A receiver's answer, or none: the URL refuses connections. */
  answer: Answer | null
  env?: Record<string, string>
  expected: { http_status: number | null, error: string | null, response_head: string }
}

const FAILURES: Failure[] = [
  { name: 'the connection is refused', answer: null, expected: { http_status: null, error: 'connection refused (ECONNREFUSED)', response_head: '' } },
  {
    name: 'the receiver answers 503',
    answer: { status: 503, body: 'down for maintenance' },
    expected: { http_status: 503, error: null, response_head: 'down for maintenance' },
  },
  {
    name: 'the receiver answers with a redirect',
    answer: { status: 302, headers: { location: '/gamepay/elsewhere' } },
    expected: { http_status: 302, error: 'redirect not followed (Location: /gamepay/elsewhere)', response_head: '' },
  },
  {
    name: 'the receiver does not answer within NOTIFY_TIMEOUT_MS',
    answer: 'hang',
    env: { NOTIFY_TIMEOUT_MS: '200' },
    expected: { http_status: null, error: 'no answer within 200 ms', response_head: '' },
  },
]

async function scheduleEndsInFailure (dialect: DialectName, failure: Failure) {
  const answer = failure.answer
  const receiver: Receiver | null = answer === null ? null : await startReceiver(() => answer)
  const clock = testClock()
  const notifyUrl = receiver?.url ?? await closedPortUrl()
  const t = await notifyApp(dialect, { notifyUrl, clock: clock.now, env: { NOTIFY_RETRY_SECONDS: '15,60', ...failure.env } })
  try {
    const o = await createOrder(t.app, { user_id: 'retry' })
    assert.equal((await pay(t.app, o.order, 30)).status, 200)
    const [{ event_id: eventId }] = await eventsOf(t, o.order)
    const start = clock.now()

    const first = await t.ctx.notifications.deliverDue()
    assert.deepEqual(first.map((r) => [r.attempt, r.outcome]), [[1, 'retry']])
    let [event] = await eventsOf(t, o.order)
    assert.deepEqual([event.status, event.attempts, event.next_attempt_at, event.lease_owner], ['pending', 1, start + 15_000, null])

    clock.advance(14_999)
    assert.deepEqual(await t.ctx.notifications.deliverDue(), [], 'not due before its delay is over')
    clock.advance(1)
    const second = await t.ctx.notifications.deliverDue()
    assert.deepEqual(second.map((r) => [r.attempt, r.outcome]), [[2, 'retry']])
    ;[event] = await eventsOf(t, o.order)
    assert.deepEqual([event.status, event.attempts, event.next_attempt_at], ['pending', 2, clock.now() + 60_000])

    clock.advance(60_000)
    const last = await t.ctx.notifications.deliverDue()
    assert.deepEqual(last.map((r) => [r.attempt, r.outcome, r.status]), [[3, 'failed', 'failed']])
    ;[event] = await eventsOf(t, o.order)
    assert.deepEqual([event.status, event.attempts, event.failed_at, event.delivered_at], ['failed', 3, clock.now(), null])

    // Failed is final for the schedule: nothing is tried again, however long one waits.
    clock.advance(30 * 86_400_000)
    assert.deepEqual(await t.ctx.notifications.deliverDue(), [])

    const attempts = await attemptRows(t, eventId)
    assert.deepEqual(attempts.map((a) => [a.attempt, a.trigger, a.started_at]),
      [[1, 'schedule', start], [2, 'schedule', start + 15_000], [3, 'schedule', start + 75_000]])
    for (const a of attempts) {
      assert.deepEqual({ http_status: a.http_status, error: a.error, response_head: a.response_head }, failure.expected)
      assert.equal(a.url, notifyUrl)
      assert.ok(a.latency_ms !== null && a.latency_ms >= 0)
    }
    if (receiver) {
      assert.equal(receiver.of(eventId).length, 3)
      assert.ok(receiver.requests.every((r) => r.path === '/gamepay/events'), 'a redirect is never followed')
    }

    assert.equal(await notificationsCounted(t, 'retry'), 2)
    assert.equal(await notificationsCounted(t, 'failed'), 1)
    assert.equal(await notificationsCounted(t, 'delivered'), 0)
    const warned = t.logs.filter((l) => l.level === 'warn')
    assert.equal(warned.length, 1)
    assert.equal(warned[0].obj.event_id, eventId)
    assert.match(warned[0].msg, /notification failed/)
    // What operators see: the failed event, with its last attempt.
    const failed = await t.ctx.notifications.list({ failed: true })
    assert.deepEqual(failed.map((e) => [e.eventId, e.orderNo, e.status, e.attempts, e.last?.attempt]), [[eventId, o.order, 'failed', 3, 3]])
  } finally {
    await t.close()
    await receiver?.close()
  }
}

forEachDialect('notification retries', (dialect) => {
  for (const failure of FAILURES) {
    test(`when ${failure.name}, then the event is tried again after each delay, and failed, counted and listed once the schedule ends`, async () => {
      await scheduleEndsInFailure(dialect, failure)
    })
  }

  test('when a retry is answered 2xx, then the event is delivered and nothing more is sent', async () => {
    const receiver = await startReceiver((_req, nth) => nth === 1 ? { status: 500, body: 'oops' } : { status: 204 })
    const clock = testClock()
    const t = await notifyApp(dialect, { notifyUrl: receiver.url, clock: clock.now })
    try {
      const o = await createOrder(t.app, { user_id: 'recovers' })
      assert.equal((await pay(t.app, o.order, 30)).status, 200)
      assert.deepEqual((await t.ctx.notifications.deliverDue()).map((r) => r.outcome), ['retry'])
      clock.advance(15_000)
      assert.deepEqual((await t.ctx.notifications.deliverDue()).map((r) => r.outcome), ['delivered'])
      const [event] = await eventsOf(t, o.order)
      assert.deepEqual([event.status, event.attempts, event.delivered_at, event.failed_at], ['delivered', 2, clock.now(), null])
      const attempts = await attemptRows(t, event.event_id)
      assert.deepEqual(attempts.map((a) => [a.attempt, a.http_status, a.response_head]), [[1, 500, 'oops'], [2, 204, '']])
      clock.advance(86_400_000)
      assert.deepEqual(await t.ctx.notifications.deliverDue(), [])
      assert.equal(receiver.requests.length, 2)
      // Both deliveries carried the same bytes and event_id.
      assert.equal(receiver.requests[0].raw, receiver.requests[1].raw)
      assert.equal(await notificationsCounted(t, 'retry'), 1)
      assert.equal(await notificationsCounted(t, 'delivered'), 1)
    } finally {
      await t.close()
      await receiver.close()
    }
  })
})
