// A receiver that never answers costs at most NOTIFY_CONCURRENCY requests in flight, and nothing
// else: payments and new orders go on, and stopping the instance loses no event.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createOrder, forEachDialect, pay, post } from '../helper.ts'
import { startReceiver, until } from './receiver.ts'
import { attemptRows, eventsOf, notifyApp } from './notify-app.ts'

forEachDialect('a receiver that never answers', (dialect) => {
  test('when the receiver hangs, then at most NOTIFY_CONCURRENCY deliveries are in flight, callbacks and create-order still answer, and on close nothing is lost', async () => {
    const dead = await startReceiver(() => 'hang')
    const t = await notifyApp(dialect, { notifyUrl: dead.url, deliverMs: 20, env: { NOTIFY_CONCURRENCY: '2', NOTIFY_TIMEOUT_MS: '60000' } })
    const orders: string[] = []
    let closed = false
    try {
      for (let i = 0; i < 4; i++) {
        const o = await createOrder(t.app, { user_id: `hang-${i}` })
        assert.equal((await pay(t.app, o.order, 30)).status, 200)
        orders.push(o.order)
      }
      await until('two deliveries are held by the receiver', () => dead.open() === 2)

      // While both slots hang, payments and orders are answered and their events stored.
      for (let i = 4; i < 10; i++) {
        const o = await createOrder(t.app, { user_id: `hang-${i}` })
        const paid = await pay(t.app, o.order, 30)
        assert.equal(paid.status, 200, JSON.stringify(paid.body))
        assert.equal(paid.body.result, 'success')
        orders.push(o.order)
      }
      const goods = await post(t.app, '/api/pay/create-order', { user_id: 'hang-extra', item: '月卡', item_id: '2', single_pric: 30 })
      assert.equal(goods.status, 200)
      assert.equal(dead.maxOpen(), 2)
      assert.equal(dead.requests.length, 2)
      const events = (await Promise.all(orders.map((o) => eventsOf(t, o)))).flat()
      assert.equal(events.length, orders.length)
      const held = events.filter((e) => e.attempts === 1)
      assert.equal(held.length, 2)
      assert.ok(held.every((e) => e.status === 'pending' && e.lease_owner !== null))
      assert.deepEqual(events.filter((e) => e.attempts === 0).map((e) => [e.status, e.lease_owner]), Array(orders.length - 2).fill(['pending', null]))

      await t.close()
      closed = true
      // The interrupted attempts are recorded as such and their events are due again at once.
      const after = await notifyApp(dialect, { url: t.url })
      try {
        for (const e of held) {
          const [attempt] = await attemptRows(after, e.event_id)
          assert.equal(attempt.error, 'interrupted: this instance was stopping')
          assert.equal(attempt.http_status, null)
          const [event] = await eventsOf(after, e.order_no)
          assert.deepEqual([event.status, event.lease_owner, event.attempts], ['pending', null, 1])
        }
      } finally {
        await after.close()
      }
    } finally {
      if (!closed) await t.close()
      await dead.close()
    }

    const alive = await startReceiver()
    const next = await notifyApp(dialect, { url: t.url, notifyUrl: alive.url, deliverMs: 20 })
    try {
      await until('every event is delivered', async () => {
        const events = (await Promise.all(orders.map((o) => eventsOf(next, o)))).flat()
        return events.every((e) => e.status === 'delivered')
      })
      assert.deepEqual(alive.requests.map((r) => r.json.data.order).sort(), [...orders].sort())
    } finally {
      await next.close()
      await alive.close()
    }
  })
})
