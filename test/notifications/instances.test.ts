// Several instances on one database claim from the same outbox: each attempt is made by one of
// them only, never two at once. The receiver counts the requests of each event open at once.
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { createOrder, forEachDialect, freshDatabaseUrl, pay } from '../helper.ts'
import { startReceiver, until } from './receiver.ts'
import { attemptRows, notifyApp, testClock, type NotifyApp } from './notify-app.ts'

/**
 * Each claimer starts on a turn of its own. Two SQLite connections in one process must not begin
 * transactions in the same tick: the second one's busy wait blocks the event loop the first needs
 * to finish (separate processes, as in production, wait for each other normally).
 */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve))

async function allEvents (t: NotifyApp) {
  const rows = await t.ctx.store.db.selectFrom('notification_events').select(['event_id', 'status', 'attempts']).execute()
  return rows.map((r) => ({ ...r, attempts: Number(r.attempts) }))
}

forEachDialect('notifications from two instances on one database', (dialect) => {
  test('when two instances claim at the same time, round after round, then no attempt is sent twice or by both at once', async () => {
    // Held a moment, so that requests overlap; the first request of each event fails, to retry them all once.
    const receiver = await startReceiver(async (_req, nth) => {
      await sleep(20)
      return nth === 1 ? { status: 500 } : { status: 200 }
    })
    const clock = testClock()
    const url = await freshDatabaseUrl(dialect)
    const env = { NOTIFY_RETRY_SECONDS: '1,1' }
    const a = await notifyApp(dialect, { url, notifyUrl: receiver.url, clock: clock.now, env })
    const b = await notifyApp(dialect, { url, notifyUrl: receiver.url, clock: clock.now, env })
    try {
      const orders: string[] = []
      for (let i = 0; i < 16; i++) {
        const app = i % 2 === 0 ? a.app : b.app
        const o = await createOrder(app, { user_id: `two-${i}` })
        assert.equal((await pay(app, o.order, 30)).status, 200)
        orders.push(o.order)
      }
      const byInstance = { a: 0, b: 0 }
      for (let round = 0; round < 40; round++) {
        const reports = await Promise.all([a, b, a, b].map((t) => nextTurn().then(() => t.ctx.notifications.deliverDue(3))))
        byInstance.a += reports[0].length + reports[2].length
        byInstance.b += reports[1].length + reports[3].length
        const events = await allEvents(a)
        if (events.every((e) => e.status === 'delivered')) break
        clock.advance(1000)
      }
      const events = await allEvents(a)
      assert.equal(events.length, orders.length)
      assert.ok(events.every((e) => e.status === 'delivered' && e.attempts === 2), JSON.stringify(events))
      assert.equal(receiver.maxConcurrentPerEvent(), 1, 'two requests of one event were open at once')
      for (const e of events) {
        assert.equal(receiver.of(e.event_id).length, 2, `event ${e.event_id} was sent ${receiver.of(e.event_id).length} times`)
        assert.deepEqual((await attemptRows(a, e.event_id)).map((r) => [r.attempt, r.http_status]), [[1, 500], [2, 200]])
      }
      assert.ok(byInstance.a > 0 && byInstance.b > 0, `both instances delivered: ${JSON.stringify(byInstance)}`)
    } finally {
      await a.close()
      await b.close()
      await receiver.close()
    }
  })

  test('when both instances run their delivery loops, then every paid order is delivered exactly once', async () => {
    const receiver = await startReceiver(async () => {
      await sleep(5)
      return { status: 200 }
    })
    const url = await freshDatabaseUrl(dialect)
    const a = await notifyApp(dialect, { url, notifyUrl: receiver.url, deliverMs: 10 })
    const b = await notifyApp(dialect, { url, notifyUrl: receiver.url, deliverMs: 10 })
    try {
      const orders = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
        const app = i % 2 === 0 ? a.app : b.app
        const o = await createOrder(app, { user_id: `loops-${i}` })
        assert.equal((await pay(app, o.order, 30)).status, 200)
        return o.order
      }))
      await until('every event is delivered', async () => {
        const events = await allEvents(a)
        return events.length === orders.length && events.every((e) => e.status === 'delivered')
      })
      assert.deepEqual(receiver.requests.map((r) => r.json.data.order).sort(), [...orders].sort())
      assert.equal(receiver.maxConcurrentPerEvent(), 1)
      for (const e of await allEvents(a)) assert.equal(e.attempts, 1)
    } finally {
      await a.close()
      await b.close()
      await receiver.close()
    }
  })
})
