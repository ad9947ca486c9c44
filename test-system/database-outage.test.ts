// The database goes away under a running instance (a TCP proxy between them is cut), and comes back.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Store } from '../src/db/connect.ts'
import {
  assertConsistent, assertEnvelope, bounded, call, cancelOrder, createOrder, forEachSharedDialect, freshSystemDatabase, openStore, payOrder,
  post, serverOf, sleep, startInstance, startTcpProxy, stopAll, viaProxy, MONTH_CARD, type Instance, type Reply, type TcpProxy,
} from './processes.ts'

const POOL_SIZE = 4
const ok = (res: Reply) => res.status === 200 && res.body.result === 'success' && res.body.state === ''
const unavailable = (res: Reply) => res.status === 503 && res.body.result === 'fail' && res.body.state === 'SERVICE_UNAVAILABLE'

/** Polls /readyz until it answers 200 (the service recovers by itself; bounded, not timed). */
async function untilReady (instance: Instance) {
  const deadline = Date.now() + 30_000
  for (;;) {
    const res = await call(instance.base, 'GET', '/readyz')
    if (res.status === 200) return res
    if (Date.now() > deadline) throw new Error(`not ready again after 30 s: ${JSON.stringify(res.body)}\n${instance.output()}`)
    await sleep(200)
  }
}

forEachSharedDialect('the database goes away and comes back', (dialect) => {
  let url: string
  let store: Store
  let proxy: TcpProxy
  let instance: Instance

  before(async () => {
    url = await freshSystemDatabase(dialect)
    store = openStore(url)
    proxy = await startTcpProxy(serverOf(url))
    instance = await startInstance({
      url: viaProxy(url, proxy),
      name: `behind a proxy (${dialect})`,
      env: { DB_POOL_SIZE: String(POOL_SIZE), DB_STATEMENT_TIMEOUT_MS: '1500' },
    })
  })
  after(async () => {
    await stopAll('kill')
    await proxy?.close()
    await store?.close()
  })

  test('when the database is there, then /healthz and /readyz answer success with what they checked', async () => {
    const alive = await call(instance.base, 'GET', '/healthz')
    assert.equal(alive.status, 200)
    assert.deepEqual({ ...alive.body, trace_id: '' }, { result: 'success', state: '', trace_id: '' })
    const ready = await call(instance.base, 'GET', '/readyz')
    assert.equal(ready.status, 200)
    assert.equal(ready.body.result, 'success')
    assert.equal(ready.body.data.database, true)
    assert.equal(ready.body.data.migrations, true)
    const lease = await store.db.selectFrom('worker_leases').select('worker_id').where('worker_id', '=', ready.body.data.worker_id).executeTakeFirst()
    assert.ok(lease, 'the worker id readyz reports is leased in the database')
  })

  test('when a burst of requests arrives, then the instance never opens more connections than DB_POOL_SIZE (and, on PostgreSQL, the goods cache\'s LISTEN connection)', async () => {
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => createOrder(instance.base, `pool-${i}`)))
    for (const res of results) assert.ok(ok(res), JSON.stringify(res.body))
    const limit = POOL_SIZE + (dialect === 'postgres' ? 1 : 0)
    assert.ok(proxy.maxOpen() <= limit, `${proxy.maxOpen()} connections open at once`)
    const count = await store.db.selectFrom('orders').select((eb) => eb.fn.countAll().as('n')).where('user_id', 'like', 'pool-%').executeTakeFirstOrThrow()
    assert.equal(Number(count.n), 40)
  })

  test('when a statement waits on a lock past DB_STATEMENT_TIMEOUT_MS, then the request answers 503 and succeeds once the lock is gone', async () => {
    const made = await createOrder(instance.base, 'locked-user')
    const order = made.body.data.order
    let release!: () => void
    const released = new Promise<void>((resolve) => { release = resolve })
    let locked!: () => void
    const isLocked = new Promise<void>((resolve) => { locked = resolve })
    const holder = store.db.transaction().execute(async (trx) => {
      await trx.selectFrom('orders').select('order_no').where('order_no', '=', order).forUpdate().execute()
      locked()
      await released
    })
    await isLocked
    try {
      const res = await cancelOrder(instance.base, 'locked-user', order, { timeoutMs: 60_000 })
      assertEnvelope(res, 'SERVICE_UNAVAILABLE', 503)
      assert.equal(res.headers['retry-after'], '1')
    } finally {
      release()
      await holder
    }
    const row = await store.db.selectFrom('orders').select('status').where('order_no', '=', order).executeTakeFirstOrThrow()
    assert.equal(row.status, 'unpaid', 'the timed-out cancel changed nothing')
    const again = await cancelOrder(instance.base, 'locked-user', order)
    assert.ok(ok(again), JSON.stringify(again.body))
    assert.deepEqual(again.body.data, { order, status: 'cancelled' })
  })

  test('when the database is unreachable, then every route answers 503 with the envelope, /healthz stays up and /readyz says not ready', async () => {
    const made = await createOrder(instance.base, 'outage-user')
    assert.ok(ok(made))
    const order = made.body.data.order
    await proxy.down()

    const answers = {
      goods: await call(instance.base, 'GET', '/api/pay/goods?id=2'),
      create: await createOrder(instance.base, 'outage-user-2'),
      cancel: await cancelOrder(instance.base, 'outage-user', order),
      verify: await post(instance.base, '/api/pay/verification', { user_id: 'outage-user', item: MONTH_CARD.item, order }),
      callback: await payOrder(instance.base, order, `PO-${order}`),
      readyz: await call(instance.base, 'GET', '/readyz'),
    }
    for (const [route, res] of Object.entries(answers)) {
      assert.ok(unavailable(res), `${route}: ${res.status} ${JSON.stringify(res.body)}`)
      assertEnvelope(res, 'SERVICE_UNAVAILABLE', 503)
    }
    const english = await call(instance.base, 'GET', '/readyz', { headers: { 'accept-language': 'en' } })
    assert.match(english.body.message, /unavailable/i)
    const alive = await call(instance.base, 'GET', '/healthz')
    assert.equal(alive.status, 200)
    assert.equal(alive.body.result, 'success')

    const rows = await store.db.selectFrom('orders').select('status').where('order_no', '=', order).execute()
    assert.deepEqual(rows, [{ status: 'unpaid' }])
    assert.equal((await store.db.selectFrom('orders').select('order_no').where('user_id', '=', 'outage-user-2').execute()).length, 0)
  })

  test('when the database comes back, then the same process serves again by itself', async () => {
    await proxy.up()
    const ready = await untilReady(instance)
    assert.equal(ready.body.data.database, true)
    assert.equal(instance.running(), true)

    const made = await createOrder(instance.base, 'after-outage')
    assert.ok(ok(made), JSON.stringify(made.body))
    const paid = await payOrder(instance.base, made.body.data.order, `PA-${made.body.data.order}`)
    assert.ok(ok(paid), JSON.stringify(paid.body))
    const verified = await post(instance.base, '/api/pay/verification', { user_id: 'after-outage', item: MONTH_CARD.item, order: made.body.data.order })
    assert.ok(ok(verified), JSON.stringify(verified.body))
    const row = await store.db.selectFrom('orders').select(['status', 'verify_count']).where('order_no', '=', made.body.data.order).executeTakeFirstOrThrow()
    assert.equal(row.status, 'paid')
    assert.equal(Number(row.verify_count), 1)
  })

  test('when the database stops answering (a network black hole), then requests answer 503 instead of hanging, and the service recovers when the network heals', async () => {
    const made = await createOrder(instance.base, 'stall-user')
    assert.ok(ok(made), JSON.stringify(made.body))
    const order = made.body.data.order
    proxy.stall()
    try {
      // More requests than the pool has connections, so every pooled connection meets the black hole.
      const answers = await Promise.all([
        ...Array.from({ length: POOL_SIZE + 2 }, (_, i) => createOrder(instance.base, `stall-new-${i}`)),
        payOrder(instance.base, order, `PS-${order}`),
        call(instance.base, 'GET', '/readyz'),
      ])
      for (const res of answers) assertEnvelope(res, 'SERVICE_UNAVAILABLE', 503)
      const alive = await call(instance.base, 'GET', '/healthz')
      assert.equal(alive.status, 200)
    } finally {
      await proxy.up()
    }
    await untilReady(instance)
    const paid = await payOrder(instance.base, order, `PS-${order}`)
    assert.ok(ok(paid), JSON.stringify(paid.body))
    const row = await store.db.selectFrom('orders').select(['status', 'gyyx_order_no']).where('order_no', '=', order).executeTakeFirstOrThrow()
    assert.deepEqual(row, { status: 'paid', gyyx_order_no: `PS-${order}` })
    await assertConsistent(store)
    assert.equal(instance.running(), true)
  })

  test('when the database stops in the middle of a load, then each request answers success or 503, nothing is half-written, and retried callbacks apply once', async () => {
    let answered = 0
    let refused = 0
    let phase: 'before' | 'down' | 'after' = 'before'
    const flips: Promise<void>[] = []
    // Cut the database after some successes, restore it after some refusals: driven by answers, not by time.
    const observe = (res: Reply) => {
      answered++
      if (unavailable(res)) refused++
      if (phase === 'before' && answered >= 40) {
        phase = 'down'
        flips.push(proxy.down())
      } else if (phase === 'down' && refused >= 30) {
        phase = 'after'
        flips.push(proxy.up())
      }
      return res
    }
    const acknowledged = { orders: [] as { order: string, user: string }[], payments: [] as { order: string, gyyx: string }[] }
    const toRetry: { order: string, gyyx: string }[] = []
    const outcomes = await bounded(Array.from({ length: 120 }, (_, i) => i), 6, async (i) => {
      const user = `load-${i}`
      const created = observe(await createOrder(instance.base, user))
      if (!ok(created)) return created
      const order = created.body.data.order as string
      acknowledged.orders.push({ order, user })
      const gyyx = `PL-${order}`
      const paid = observe(await payOrder(instance.base, order, gyyx))
      if (ok(paid)) acknowledged.payments.push({ order, gyyx })
      else toRetry.push({ order, gyyx })
      return paid
    })
    await Promise.all(flips)
    await proxy.up()
    for (const outcome of outcomes) {
      assert.equal(outcome.status, 'fulfilled', `${String((outcome as PromiseRejectedResult).reason)}\n${instance.output()}`)
      const res = (outcome as PromiseFulfilledResult<Reply>).value
      assert.ok(ok(res) || unavailable(res), `${res.status} ${JSON.stringify(res.body)}`)
    }
    assert.equal(phase, 'after', `the load ended before the outage was over (${answered} answers, ${refused} refused)`)
    assert.ok(refused >= 30)

    await untilReady(instance)
    for (const { order, user } of acknowledged.orders) {
      const row = await store.db.selectFrom('orders').select(['user_id']).where('order_no', '=', order).executeTakeFirst()
      assert.equal(row?.user_id, user, `acknowledged order ${order} is missing`)
    }
    for (const { order, gyyx } of acknowledged.payments) {
      const row = await store.db.selectFrom('orders').select(['status', 'gyyx_order_no']).where('order_no', '=', order).executeTakeFirstOrThrow()
      assert.deepEqual(row, { status: 'paid', gyyx_order_no: gyyx })
    }
    await assertConsistent(store)

    // The platform retries what was refused, and some of what was not: each payment applies once.
    const retries = [...toRetry, ...acknowledged.payments.slice(0, 10)]
    const again = await Promise.all(retries.map(({ order, gyyx }) => payOrder(instance.base, order, gyyx)))
    for (const res of again) assert.ok(ok(res), JSON.stringify(res.body))
    for (const { order, gyyx } of retries) {
      const payments = await store.db.selectFrom('payments').select(['gyyx_order_no', 'kind']).where('order_no', '=', order).execute()
      assert.deepEqual(payments, [{ gyyx_order_no: gyyx, kind: 'applied' }])
    }
    await assertConsistent(store)
    assert.equal(instance.running(), true)
  })
})
