// Several real `gamepay serve` processes on one PostgreSQL or MariaDB database.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { sql } from 'kysely'
import type { Store } from '../src/db/connect.ts'
import { GamepayError } from '@gamepay/client'
import {
  bounded, call, clientFor, forEachDialect, forEachSharedDialect, freshSystemDatabase, openStore, paidCallback, sleep,
  startInstance, stopAll, workerIdOf, MONTH_CARD, type Instance,
} from './processes.ts'

// What a game server and the payment platform send, through the typed client.
const createOrder = (on: Instance, user: string) => clientFor(on).createOrder({ user_id: user, ...MONTH_CARD })
const pay = (on: Instance, order: string, gyyx: string) => clientFor(on).callback(paidCallback(order, gyyx))

forEachSharedDialect('several instances on one database', (dialect) => {
  let url: string
  let store: Store
  let instances: Instance[] = []
  const workerIds = new Map<Instance, number>()
  const orders: { order: string, user: string, instance: Instance }[] = []

  before(async () => {
    url = await freshSystemDatabase(dialect)
    store = openStore(url)
  })
  after(async () => {
    await stopAll('kill')
    await store?.close()
  })

  // Orders made for the stories below, by user, paid or not.
  const takeOrders = (n: number) => orders.splice(0, n)

  test('when three instances start together on an empty database, then each migrates once and holds its own worker id', async () => {
    instances = await Promise.all([1, 2, 3].map((n) => startInstance({ url, name: `instance ${n}` })))
    for (const instance of instances) {
      const ready = await call(instance.base, 'GET', '/readyz')
      assert.equal(ready.status, 200, JSON.stringify(ready.body))
      assert.deepEqual({ ...ready.body.data, worker_id: 0 }, { database: true, migrations: true, worker_id: 0 })
      workerIds.set(instance, ready.body.data.worker_id)
      const alive = await call(instance.base, 'GET', '/healthz')
      assert.equal(alive.status, 200)
      assert.equal(alive.body.result, 'success')
    }
    assert.equal(new Set(workerIds.values()).size, 3, `worker ids: ${[...workerIds.values()]}`)

    const leases = await store.db.selectFrom('worker_leases').selectAll().execute()
    const now = Date.now()
    const held = leases.filter((l) => Number(l.expires_at) > now)
    assert.deepEqual(held.map((l) => Number(l.worker_id)).sort((a, b) => a - b), [...workerIds.values()].sort((a, b) => a - b))
    assert.equal(new Set(held.map((l) => l.owner)).size, 3)
    const migrations = (await sql<{ name: string }>`select name from kysely_migration`.execute(store.db)).rows.map((r) => r.name)
    assert.ok(migrations.includes('001_init'))
    assert.equal(new Set(migrations).size, migrations.length, 'each migration applied once')
  })

  test('when create-order load is spread over the instances, then every order number is unique and carries its instance\'s worker id', async () => {
    const requests = Array.from({ length: 150 }, (_, i) => ({ user: `mi-user-${i}`, instance: instances[i % instances.length] }))
    const results = await bounded(requests, 24, ({ user, instance }) => createOrder(instance, user))
    const numbers: string[] = []
    results.forEach((r, i) => {
      assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason))
      const created = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof createOrder>>>).value
      assert.equal(created.reused, false)
      assert.equal(created.user_id, requests[i].user)
      assert.equal(workerIdOf(created.order), workerIds.get(requests[i].instance))
      numbers.push(created.order)
      orders.push({ order: created.order, user: requests[i].user, instance: requests[i].instance })
    })
    assert.equal(new Set(numbers).size, numbers.length, 'an order number was handed out twice')

    const rows = await store.db.selectFrom('orders').select(['order_no', 'user_id', 'status', 'amount_fen']).execute()
    assert.equal(rows.length, 150)
    assert.deepEqual(new Set(rows.map((r) => r.order_no)), new Set(numbers))
    for (const row of rows) {
      assert.equal(row.status, 'unpaid')
      assert.equal(String(row.amount_fen), '3000')
      assert.notEqual(typeof row.amount_fen, 'number', 'BIGINT money is never a JS number')
    }
    const created = await store.db.selectFrom('order_events').select(['order_no']).where('to_status', '=', 'unpaid').execute()
    assert.equal(created.length, 150)
  })

  test('when a burst of identical callbacks for the same orders lands on every instance at once, then each payment is applied exactly once', async () => {
    const batch = takeOrders(10)
    const sends = batch.flatMap((o, i) => Array.from({ length: 6 }, (_, k) => ({ ...o, gyyx: `PI-${i}-${o.order}`, on: instances[k % 3] })))
    // Each callback answers success, or the client throws the GamepayError.
    await Promise.all(sends.map((s) => pay(s.on, s.order, s.gyyx)))

    for (const [i, o] of batch.entries()) {
      const order = await store.db.selectFrom('orders').selectAll().where('order_no', '=', o.order).executeTakeFirstOrThrow()
      assert.equal(order.status, 'paid')
      assert.equal(order.gyyx_order_no, `PI-${i}-${o.order}`)
      assert.equal(String(order.paid_fen), '3000')
      const payments = await store.db.selectFrom('payments').selectAll().where('order_no', '=', o.order).execute()
      assert.deepEqual(payments.map((p) => [p.gyyx_order_no, p.kind, String(p.amount_fen)]), [[`PI-${i}-${o.order}`, 'applied', '3000']])
      const paid = await store.db.selectFrom('order_events').select('id').where('order_no', '=', o.order).where('to_status', '=', 'paid').execute()
      assert.equal(paid.length, 1)
      const logged = await store.db.selectFrom('callbacks').select(['outcome']).where('game_order_no', '=', o.order).execute()
      assert.equal(logged.length, 6, 'every callback is kept in the log')
    }
  })

  test('when distinct callbacks for the same orders race on every instance, then one pays and the others are recorded as duplicates', async () => {
    const batch = takeOrders(10)
    const sends = batch.flatMap((o) => [0, 1, 2].flatMap((g) => [0, 1].map((k) => ({ ...o, gyyx: `PD-${g}-${o.order}`, on: instances[(g + k) % 3] }))))
    await Promise.all(sends.map((s) => pay(s.on, s.order, s.gyyx)))

    for (const o of batch) {
      const order = await store.db.selectFrom('orders').selectAll().where('order_no', '=', o.order).executeTakeFirstOrThrow()
      assert.equal(order.status, 'paid')
      const payments = await store.db.selectFrom('payments').selectAll().where('order_no', '=', o.order).execute()
      assert.equal(payments.length, 3, 'one row per platform order number')
      const applied = payments.filter((p) => p.kind === 'applied')
      assert.equal(applied.length, 1)
      assert.equal(payments.filter((p) => p.kind === 'duplicate').length, 2)
      assert.equal(order.gyyx_order_no, applied[0].gyyx_order_no)
      const paid = await store.db.selectFrom('order_events').select('id').where('order_no', '=', o.order).where('to_status', '=', 'paid').execute()
      assert.equal(paid.length, 1)
    }
  })

  test('when cancel races the callback across instances, then every order ends paid with one payment', async () => {
    const batch = takeOrders(16)
    const results = await Promise.all(batch.map(async (o, i) => {
      const [cancelled] = await Promise.all([
        clientFor(instances[i % 3]).cancelOrder({ user_id: o.user, order: o.order }).catch((err: unknown) => err),
        pay(instances[(i + 1) % 3], o.order, `PC-${o.order}`),
      ])
      return { o, cancelled }
    }))
    for (const { o, cancelled } of results) {
      const order = await store.db.selectFrom('orders').selectAll().where('order_no', '=', o.order).executeTakeFirstOrThrow()
      assert.equal(order.status, 'paid')
      assert.equal(order.gyyx_order_no, `PC-${o.order}`)
      const payments = await store.db.selectFrom('payments').selectAll().where('order_no', '=', o.order).execute()
      assert.equal(payments.length, 1)
      const events = await store.db.selectFrom('order_events').select(['from_status', 'to_status']).where('order_no', '=', o.order).orderBy('id').execute()
      if (!(cancelled instanceof Error)) {
        // Cancel won: the payment still lands, flagged late (the user's money is never lost).
        assert.deepEqual(cancelled, { order: o.order, status: 'cancelled' })
        assert.equal(payments[0].kind, 'late')
        assert.equal(Number(order.late_payment), 1)
        assert.deepEqual(events.map((e) => e.to_status), ['unpaid', 'cancelled', 'paid'])
      } else {
        assert.ok(cancelled instanceof GamepayError, String(cancelled))
        assert.equal(cancelled.status, 409)
        assert.equal(cancelled.state, 'ORDER_ALREADY_PAID')
        assert.equal(payments[0].kind, 'applied')
        assert.deepEqual(events.map((e) => e.to_status), ['unpaid', 'paid'])
      }
      const verified = await clientFor(instances[2]).verify({ user_id: o.user, item: MONTH_CARD.item, order: o.order })
      assert.equal(verified.status, 'paid')
    }
  })

  test('when an instance shuts down, then its worker id is released at once and a new instance can hold it', async () => {
    const used = new Set((await store.db.selectFrom('worker_leases').select('worker_id').execute()).map((r) => Number(r.worker_id)))
    const fixed = [...Array(1024).keys()].reverse().find((id) => !used.has(id)) as number
    const first = await startInstance({ url, name: 'fixed id, first', env: { WORKER_ID: String(fixed) } })
    const made = await createOrder(first, 'mi-release')
    assert.equal(workerIdOf(made.order), fixed)
    await first.stop()
    assert.deepEqual(await first.exited, { code: 0, signal: null })
    const lease = await store.db.selectFrom('worker_leases').selectAll().where('worker_id', '=', fixed).executeTakeFirstOrThrow()
    assert.ok(Number(lease.expires_at) <= Date.now() + 1, 'the lease ends with the process')

    const second = await startInstance({ url, name: 'fixed id, second', env: { WORKER_ID: String(fixed) } })
    const ready = await call(second.base, 'GET', '/readyz')
    assert.equal(ready.body.data.worker_id, fixed)
    const next = await createOrder(second, 'mi-release-2')
    assert.ok(BigInt(next.order.split('-')[1]) > BigInt(made.order.split('-')[1]))
    await second.stop()
  })

  test('when an instance is killed, then its worker id stays held until the lease lapses and is then reclaimed without repeating a number', async () => {
    const ttl = { WORKER_LEASE_TTL_MS: '6000' }
    const used = new Set((await store.db.selectFrom('worker_leases').select('worker_id').execute()).map((r) => Number(r.worker_id)))
    const fixed = [...Array(1024).keys()].reverse().find((id) => !used.has(id)) as number
    const crashed = await startInstance({ url, name: 'crashed', env: { ...ttl, WORKER_ID: String(fixed) } })
    const issued: string[] = []
    for (let i = 0; i < 5; i++) issued.push((await createOrder(crashed, `mi-crash-${i}`)).order)
    await crashed.kill()

    // A crashed holder can't give its id back: nobody may use it while the lease could still be live.
    const refused = await startInstance({ url, name: 'too early', env: { ...ttl, WORKER_ID: String(fixed) }, expectExit: true })
    assert.equal((await refused.exited).code, 1)
    assert.match(refused.output(), new RegExp(`WORKER_ID ${fixed} is leased by another running instance`))
    const other = await startInstance({ url, name: 'any id', env: ttl })
    assert.notEqual((await call(other.base, 'GET', '/readyz')).body.data.worker_id, fixed)

    const lease = await store.db.selectFrom('worker_leases').selectAll().where('worker_id', '=', fixed).executeTakeFirstOrThrow()
    await sleep(Math.max(0, Number(lease.expires_at) - Date.now()) + 200)
    const reclaimed = await startInstance({ url, name: 'reclaimed', env: { ...ttl, WORKER_ID: String(fixed) } })
    const next = await createOrder(reclaimed, 'mi-crash-after')
    assert.equal(workerIdOf(next.order), fixed)
    const last = issued.map((o) => BigInt(o.split('-')[1])).reduce((a, b) => (a > b ? a : b))
    assert.ok(BigInt(next.order.split('-')[1]) > last, 'the new holder starts after the crashed one')
    const owner = await store.db.selectFrom('worker_leases').select('owner').where('worker_id', '=', fixed).executeTakeFirstOrThrow()
    assert.notEqual(owner.owner, lease.owner)
    await reclaimed.stop()
    await other.stop()
  })
})

forEachDialect('integers beyond 2^53', (dialect) => {
  let store: Store
  before(async () => { store = openStore(await freshSystemDatabase(dialect)) })
  after(async () => { await store?.close() })

  test('when the database returns a BIGINT, then the driver hands it over exactly, never as a lossy number', async () => {
    const big = '9223372036854775807'
    const query = dialect === 'mysql'
      ? sql<{ v: unknown }>`select cast(${sql.raw(big)} as signed) as v`
      : sql<{ v: unknown }>`select cast(${sql.raw(big)} as bigint) as v`
    const { rows } = await query.execute(store.db)
    assert.notEqual(typeof rows[0].v, 'number')
    assert.equal(String(rows[0].v), big)
  })
})
