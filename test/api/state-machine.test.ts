import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { createTestApp, forEachDialect, pay, post, type TestApp } from '../helper.ts'

// The order life cycle under random sequences of create, cancel, callback,
// expire and verify, through the HTTP API, against a model: after every step the response and the
// stored rows agree with what the model says.

type Status = 'unpaid' | 'cancelled' | 'expired' | 'paid'
interface ModelOrder { order: string, status: Status, expireAt: number, gyyx: string | null, payments: number, events: number }

const TTL_MS = 60_000
const USERS = ['u1', 'u2']

type Command =
  | { kind: 'create', user: number }
  | { kind: 'cancel', pick: number }
  | { kind: 'pay', pick: number, sameGyyx: boolean }
  | { kind: 'expire' }
  | { kind: 'verify', pick: number }

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), user: fc.nat(USERS.length - 1) }),
  fc.record({ kind: fc.constant('cancel' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('pay' as const), pick: fc.nat(), sameGyyx: fc.boolean() }),
  fc.record({ kind: fc.constant('expire' as const) }),
  fc.record({ kind: fc.constant('verify' as const), pick: fc.nat() })
)

async function run (t: TestApp, clock: { now: number }, commands: Command[]) {
  const orders: (ModelOrder & { user: string })[] = []
  let gyyxSeq = 0
  const effective = (o: ModelOrder): Status => o.status === 'unpaid' && o.expireAt <= clock.now ? 'expired' : o.status

  for (const c of commands) {
    if (c.kind === 'expire') {
      clock.now += TTL_MS
      continue
    }
    if (c.kind === 'create') {
      const user = USERS[c.user]
      const res = await post(t.app, '/api/pay/create-order', { user_id: user, item: '月卡', single_pric: 30 })
      assert.equal(res.body.state, '')
      const open = orders.find((o) => o.user === user && effective(o) === 'unpaid')
      assert.equal(res.body.data.reused, Boolean(open), 'an open unpaid order is reused, no other')
      if (open) {
        assert.equal(res.body.data.order, open.order)
      } else {
        // Creating past an expired holder records its expiry first.
        for (const o of orders) if (o.user === user && o.status === 'unpaid' && effective(o) === 'expired') { o.status = 'expired'; o.events++ }
        orders.push({ order: res.body.data.order, user, status: 'unpaid', expireAt: clock.now + TTL_MS, gyyx: null, payments: 0, events: 1 })
      }
      continue
    }
    if (orders.length === 0) continue
    const o = orders[c.pick % orders.length]
    const before = effective(o)
    if (c.kind === 'cancel') {
      const res = await post(t.app, '/api/pay/cancel-order', { user_id: o.user, order: o.order })
      if (before === 'paid') {
        assert.equal(res.body.state, 'ORDER_ALREADY_PAID')
      } else {
        assert.equal(res.body.state, '')
        assert.equal(res.body.data.status, before === 'unpaid' ? 'cancelled' : before)
        if (o.status !== (before === 'unpaid' ? 'cancelled' : before)) o.events++
        o.status = before === 'unpaid' ? 'cancelled' : before
      }
    } else if (c.kind === 'pay') {
      const gyyx = c.sameGyyx && o.gyyx ? o.gyyx : `G${++gyyxSeq}-${o.order}`
      const res = await pay(t.app, o.order, 30, { gyyx_order_no: gyyx })
      assert.equal(res.body.state, '')
      if (before === 'paid') {
        if (gyyx !== o.gyyx) o.payments++ // a duplicate payment: recorded to refund, order unchanged
      } else {
        if (o.status === 'unpaid' && before === 'expired') o.events++ // the expiry is recorded first
        o.status = 'paid'
        o.gyyx = gyyx
        o.payments++
        o.events++
      }
    } else {
      const res = await post(t.app, '/api/pay/verification', { user_id: o.user, item: '月卡', order: o.order })
      assert.equal(res.body.state, before === 'paid' ? '' : 'ORDER_NOT_PAID')
    }

    const db = t.ctx.store.db
    const row = await db.selectFrom('orders').select(['status', 'gyyx_order_no']).where('order_no', '=', o.order).executeTakeFirstOrThrow()
    assert.equal(row.status, o.status, `${o.order} stored status`)
    assert.equal(row.gyyx_order_no, o.gyyx)
    const payments = await db.selectFrom('payments').select('kind').where('order_no', '=', o.order).execute()
    assert.equal(payments.length, o.payments)
    assert.ok(payments.filter((p) => p.kind !== 'duplicate').length <= 1, 'a payment is applied at most once')
    const events = await db.selectFrom('order_events').select('to_status').where('order_no', '=', o.order).execute()
    assert.equal(events.length, o.events, `${o.order} history`)
    assert.ok(events.filter((e) => e.to_status === 'paid').length <= 1, 'paid at most once')
  }
}

forEachDialect('order state machine', (dialect) => {
  test('when random sequences of create, cancel, callback, expire and verify run, then responses and rows follow the life cycle', async () => {
    const clock = { now: Date.UTC(2026, 0, 1) }
    const t = await createTestApp(dialect, { clock: () => clock.now, env: { ORDER_TTL_SECONDS: String(TTL_MS / 1000) } })
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 25 }), async (commands) => {
          // Each sequence starts with a clean slate of orders for its users.
          await t.ctx.store.db.deleteFrom('order_events').execute()
          await t.ctx.store.db.deleteFrom('payments').execute()
          await t.ctx.store.db.deleteFrom('orders').execute()
          await run(t, clock, commands)
        }),
        { numRuns: dialect === 'sqlite' ? 60 : 25 }
      )
    } finally {
      await t.close()
    }
  })
})
