// kill -9 the instance that is delivering a notification, while the receiver holds the request:
// another instance (or the same one restarted) delivers it, and no event is lost.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Store } from '../src/db/connect.ts'
import { NO_RESULT } from '../src/modules/notifications/outbox.repository.ts'
import { startReceiver, until, verifySignature, type Receiver } from '../test/notifications/receiver.ts'
import { createOrder, forEachDialect, freshSystemDatabase, openStore, payOrder, startInstance, stopAll, type Instance } from './processes.ts'

const NOTIFY_SECRET = 'system-notify-secret-of-16+chars'

forEachDialect('notifications when the delivering instance is killed', (dialect) => {
  let url: string
  let store: Store
  let receiver: Receiver
  // SQLite: one instance, started again after the kill; PostgreSQL and MySQL: a second one takes over.
  const count = dialect === 'sqlite' ? 1 : 2
  let instances: Instance[] = []
  // The request's deadline (3 s) plus two statement timeouts (2 s): the lease a killed instance leaves behind.
  const env = () => ({
    NOTIFY_URL: receiver.url, NOTIFY_SECRET, NOTIFY_TIMEOUT_MS: '3000', DB_STATEMENT_TIMEOUT_MS: '1000', NOTIFY_RETRY_SECONDS: '1',
  })

  before(async () => {
    url = await freshSystemDatabase(dialect)
    store = openStore(url)
    // The first request of each event is held open for good: the instance sending it dies meanwhile.
    receiver = await startReceiver((_req, nth) => nth === 1 ? 'hang' : { status: 200, body: 'granted' })
    instances = await Promise.all(Array.from({ length: count }, (_, n) => startInstance({ url, name: `instance ${n + 1} (${dialect})`, env: env() })))
  })
  after(async () => {
    await stopAll('kill')
    await receiver?.close()
    await store?.close()
  })

  const events = async () => (await store.db.selectFrom('notification_events').selectAll().orderBy('id').execute())
    .map((e) => ({ ...e, attempts: Number(e.attempts) }))

  test('when the instance holding the deliveries is killed with SIGKILL, then they are delivered by the next instance and nothing is lost', async () => {
    const orders: string[] = []
    for (let i = 0; i < 3; i++) {
      const created = await createOrder(instances[0].base, `notify-kill-${i}`)
      assert.equal(created.status, 200, JSON.stringify(created.body))
      const paid = await payOrder(instances[0].base, created.body.data.order, `NK-${created.body.data.order}`)
      assert.equal(paid.status, 200, JSON.stringify(paid.body))
      orders.push(created.body.data.order)
    }
    await until('the receiver holds every first delivery', () => receiver.open() === orders.length, 30_000)

    // Kill every instance that holds a lease (its pid is in the lease's owner), with no clean-up at all.
    const holders = new Set((await events()).map((e) => Number(e.lease_owner?.split(':')[1])))
    const victims = instances.filter((i) => holders.has(i.pid))
    assert.ok(victims.length > 0, `a lease holder among ${instances.map((i) => i.pid)}: ${[...holders]}`)
    await Promise.all(victims.map((v) => v.kill()))
    for (const v of victims) assert.deepEqual(await v.exited, { code: null, signal: 'SIGKILL' })
    const survivors = instances.filter((i) => !victims.includes(i))
    if (survivors.length === 0) survivors.push(await startInstance({ url, name: `restarted (${dialect})`, env: env() }))
    instances = survivors

    await until('every event is delivered', async () => (await events()).every((e) => e.status === 'delivered'), 60_000)
    const stored = await events()
    assert.deepEqual(stored.map((e) => JSON.parse(e.payload).data.order), orders)
    for (const e of stored) {
      const sent = receiver.of(e.event_id)
      assert.equal(sent.length, 2, `event ${e.event_id} was sent ${sent.length} times`)
      // The retry is the same event, byte for byte, and signed.
      assert.equal(sent[0].raw, sent[1].raw)
      assert.ok(verifySignature(sent[1].headers['gamepay-signature'], sent[1].raw, NOTIFY_SECRET).ok)
      assert.equal(e.attempts, 2)
      assert.equal(e.lease_owner, null)
      const attempts = await store.db.selectFrom('notification_attempts').select(['attempt', 'http_status', 'error', 'response_head'])
        .where('event_id', '=', e.event_id).orderBy('attempt').execute()
      assert.deepEqual(attempts.map((a) => [Number(a.attempt), a.http_status === null ? null : Number(a.http_status), a.error, a.response_head]),
        [[1, null, NO_RESULT, ''], [2, 200, null, 'granted']])
    }
    assert.equal(receiver.maxConcurrentPerEvent(), 1)
  })
})
