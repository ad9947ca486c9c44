// SQLite group commit under a crash: a serving process takes concurrent create-order and callback
// requests (many share a commit), is killed with SIGKILL mid-load and started again. Whatever was
// answered 2xx is in the database, and no payment is applied twice.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { GamepayTransportError } from '@gamepay/client'
import type { Store } from '../src/db/connect.ts'
import { DIALECTS } from '../test/helper.ts'
import {
  assertAcknowledgedKept, assertConsistent, bounded, clientFor, freshSystemDatabase, openStore, paidCallback, startInstance, stopAll,
  MONTH_CARD, type Acknowledged, type Instance,
} from './processes.ts'

const createOrder = (on: Instance, user: string) => clientFor(on).createOrder({ user_id: user, ...MONTH_CARD })
const pay = (on: Instance, order: string, gyyx: string) => clientFor(on).callback(paidCallback(order, gyyx))

describe('group commit: the instance is killed under load [sqlite]', { skip: !DIALECTS.includes('sqlite') && 'SQLite is not in this run' }, () => {
  let url: string
  let store: Store
  let instance: Instance
  const acked: Acknowledged = { orders: new Map(), payments: new Map() }
  const created: string[] = []

  before(async () => {
    url = await freshSystemDatabase('sqlite')
    store = openStore(url)
    instance = await startInstance({ url, name: 'group commit (sqlite)' })
  })
  after(async () => {
    await stopAll('kill')
    await store?.close()
  })

  test('when the instance is killed with SIGKILL amid concurrent create-orders and callbacks, then only requests without an answer fail', async () => {
    let answers = 0
    let killed: Promise<void> | null = null
    const failures: string[] = []
    let lost = 0
    const answered = () => {
      if (++answers === 400) killed = instance.kill()
    }
    // Only a request left without an answer by the kill may fail: a failure envelope never may.
    const excused = (err: unknown) => killed !== null && err instanceof GamepayTransportError
    const outcomes = await bounded(Array.from({ length: 600 }, (_, i) => i), 48, async (i) => {
      const user = `gc-crash-${i}`
      let order: string
      try {
        order = (await createOrder(instance, user)).order
        answered()
      } catch (err) {
        if (!excused(err)) failures.push(`create ${user}: ${(err as Error).name} ${(err as Error).message}`)
        lost++
        return
      }
      acked.orders.set(order, user)
      created.push(order)
      const gyyx = `GC-${order}`
      // Every third payment arrives twice at once, as a platform retrying early sends it.
      const copies = i % 3 === 0 ? 2 : 1
      const results = await Promise.allSettled(Array.from({ length: copies }, () => pay(instance, order, gyyx)))
      for (const r of results) {
        if (r.status === 'fulfilled') {
          answered()
          acked.payments.set(order, gyyx)
        } else {
          if (!excused(r.reason)) failures.push(`callback ${order}: ${(r.reason as Error).name} ${(r.reason as Error).message}`)
          lost++
        }
      }
    })
    for (const outcome of outcomes) assert.equal(outcome.status, 'fulfilled', String((outcome as PromiseRejectedResult).reason))
    assert.ok(killed, 'the instance was killed during the load')
    await killed
    assert.deepEqual(await instance.exited, { code: null, signal: 'SIGKILL' })
    assert.deepEqual(failures, [], 'only requests the kill left unanswered may fail')
    assert.ok(lost > 0, 'the load went on after the kill')
    assert.ok(acked.orders.size > 0 && acked.payments.size > 0)
  })

  test('when it is started again, then every acknowledged order and payment is there, and retried callbacks apply nothing twice', async () => {
    const restarted = await startInstance({ url, port: instance.port, name: 'group commit restarted (sqlite)' })
    await assertAcknowledgedKept(store, acked)
    for (const [order, gyyx] of acked.payments) {
      const payments = await store.db.selectFrom('payments').select(['gyyx_order_no', 'kind']).where('order_no', '=', order).execute()
      assert.deepEqual(payments, [{ gyyx_order_no: gyyx, kind: 'applied' }], `payment for ${order} applied once`)
    }
    await assertConsistent(store)

    // The platform sends every callback again, the unanswered ones included, concurrently: each applies once.
    const retried = await bounded(created, 48, (order) => pay(restarted, order, `GC-${order}`))
    for (const r of retried) assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason))
    for (const order of created) {
      const payments = await store.db.selectFrom('payments').select(['gyyx_order_no', 'kind']).where('order_no', '=', order).execute()
      assert.deepEqual(payments, [{ gyyx_order_no: `GC-${order}`, kind: 'applied' }])
      const row = await store.db.selectFrom('orders').select('status').where('order_no', '=', order).executeTakeFirstOrThrow()
      assert.equal(row.status, 'paid')
    }
    await assertConsistent(store)
  })
})
