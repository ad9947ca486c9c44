// kill -9 in the middle of a create-order and callback load, then restart: what was acknowledged
// survives, nothing is applied twice, no order number repeats.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { GamepayTransportError } from '@gamepay/client'
import type { Store } from '../src/db/connect.ts'
import {
  assertAcknowledgedKept, assertConsistent, bounded, call, clientFor, forEachDialect, freshSystemDatabase, openStore, paidCallback,
  startInstance, stopAll, workerIdOf, MONTH_CARD, type Acknowledged, type Instance,
} from './processes.ts'

// What a game server and the payment platform send, through the typed client.
const createOrder = (on: Instance, user: string) => clientFor(on).createOrder({ user_id: user, ...MONTH_CARD })
const pay = (on: Instance, order: string, gyyx: string) => clientFor(on).callback(paidCallback(order, gyyx))

forEachDialect('an instance is killed under load', (dialect) => {
  let url: string
  let store: Store
  // SQLite is one process per database file; the shared databases get two instances.
  const count = dialect === 'sqlite' ? 1 : 2
  let instances: Instance[] = []
  let victim: Instance
  let victimWorkerId: number
  const acked: Acknowledged = { orders: new Map(), payments: new Map() }
  const handedOut: string[] = []

  before(async () => {
    url = await freshSystemDatabase(dialect)
    store = openStore(url)
    instances = await Promise.all(Array.from({ length: count }, (_, n) => startInstance({ url, name: `instance ${n + 1} (${dialect})` })))
    victim = instances[0]
    victimWorkerId = (await call(victim.base, 'GET', '/readyz')).body.data.worker_id
  })
  after(async () => {
    await stopAll('kill')
    await store?.close()
  })

  test('when one instance is killed with SIGKILL mid-load, then only its in-flight requests fail, and nothing else does', async () => {
    let victimAnswers = 0
    let killed: Promise<void> | null = null
    const failures: string[] = []
    let lostToTheCrash = 0
    const jobs = Array.from({ length: 160 }, (_, i) => i)
    const outcomes = await bounded(jobs, 8, async (i) => {
      const maker = instances[i % count]
      const payer = instances[(i + 1) % count]
      const user = `crash-${i}`
      const tally = (on: Instance) => {
        if (on === victim && ++victimAnswers === 60) killed = victim.kill()
      }
      // Only a request to the killed instance may fail, and only for want of an answer: a failure
      // envelope (a GamepayError) is never excused.
      const excused = (on: Instance, err: unknown) => on === victim && killed !== null && err instanceof GamepayTransportError
      let order: string
      try {
        order = (await createOrder(maker, user)).order
        tally(maker)
      } catch (err) {
        if (!excused(maker, err)) failures.push(`create on ${maker.name}: ${(err as Error).name} ${(err as Error).message}`)
        lostToTheCrash++
        return
      }
      handedOut.push(order)
      acked.orders.set(order, user)
      const gyyx = `PK-${order}`
      try {
        await pay(payer, order, gyyx)
        tally(payer)
        acked.payments.set(order, gyyx)
      } catch (err) {
        if (!excused(payer, err)) failures.push(`callback on ${payer.name}: ${(err as Error).name} ${(err as Error).message}`)
        lostToTheCrash++
      }
    })
    for (const outcome of outcomes) assert.equal(outcome.status, 'fulfilled', String((outcome as PromiseRejectedResult).reason))
    assert.ok(killed, 'the victim was killed during the load')
    await killed
    assert.deepEqual(await victim.exited, { code: null, signal: 'SIGKILL' })
    assert.deepEqual(failures, [], 'only requests to the killed instance may fail')
    assert.ok(lostToTheCrash > 0, 'the load went on after the kill')
    assert.ok(acked.orders.size > 0)
  })

  test('when the killed instance is started again, then every acknowledged order and payment is there and nothing is applied twice', async () => {
    const restarted = await startInstance({ url, port: victim.port, name: `restarted (${dialect})` })
    instances[0] = restarted
    const ready = await call(restarted.base, 'GET', '/readyz')
    assert.equal(ready.status, 200)
    // The killed process's lease is still live: the new one must not reuse its worker id yet.
    assert.notEqual(ready.body.data.worker_id, victimWorkerId)

    await assertAcknowledgedKept(store, acked)
    await assertConsistent(store)

    // The platform retries every callback it is unsure of (and some it is sure of): each applies once.
    const orders = [...acked.orders.keys()]
    await Promise.all(orders.map((order, i) => pay(instances[i % count], order, `PK-${order}`)))
    for (const order of orders) {
      const payments = await store.db.selectFrom('payments').select(['gyyx_order_no', 'kind']).where('order_no', '=', order).execute()
      assert.deepEqual(payments, [{ gyyx_order_no: `PK-${order}`, kind: 'applied' }])
      const verified = await clientFor(restarted).verify({ user_id: acked.orders.get(order) as string, item: MONTH_CARD.item, order })
      assert.equal(verified.gyyx_order_no, `PK-${order}`)
    }
    await assertConsistent(store)
  })

  test('when orders are created after the restart, then no order number ever repeats', async () => {
    const after = await Promise.all(Array.from({ length: 40 }, (_, i) => createOrder(instances[i % count], `crash-after-${i}`)))
    for (const created of after) {
      assert.notEqual(workerIdOf(created.order), victimWorkerId)
      handedOut.push(created.order)
    }
    assert.equal(new Set(handedOut).size, handedOut.length, 'an order number was handed out twice')
    const rows = await store.db.selectFrom('orders').select('order_no').execute()
    assert.equal(new Set(rows.map((r) => r.order_no)).size, rows.length)
    for (const order of handedOut) assert.ok(rows.some((r) => r.order_no === order))
  })
})
