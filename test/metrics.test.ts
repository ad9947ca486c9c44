import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { sql } from 'kysely'
import {
  callbackParams, createOrder, createTestApp, forEachDialect, logged, orderRow, pay, post, signed, type TestApp,
} from './helper.ts'
import { eventsOf, notifyApp, testClock } from './notifications/notify-app.ts'
import { startReceiver } from './notifications/receiver.ts'

interface Sample { name: string, labels: Record<string, string>, value: number }

/** The samples of a Prometheus text exposition. */
function parseMetrics (text: string): Sample[] {
  const samples: Sample[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line)
    assert.ok(m, `not a sample line: ${line}`)
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v
    samples.push({ name: m[1], labels, value: Number(m[3]) })
  }
  return samples
}

/** The sum of the samples of `name` whose labels include `labels`; undefined when there is none. */
function valueOf (samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0)
}

async function scrape (app: TestApp['app'], headers: Record<string, string> = {}) {
  const res = await app.inject({ url: '/metrics', headers })
  assert.equal(res.statusCode, 200, res.body)
  return parseMetrics(res.body)
}

const DURATION = 'gamepay_http_request_duration_seconds'
const callbacks = (samples: Sample[], outcome: string) => valueOf(samples, 'gamepay_callbacks_total', { outcome })

describe('metrics', () => {
  test('when /metrics is scraped, then it answers Prometheus text with the service\'s series and the process\'s CPU, memory and event-loop delay', async () => {
    const t = await createTestApp('sqlite')
    try {
      await t.app.inject({ url: '/api/pay/goods?id=1' })
      const res = await t.app.inject({ url: '/metrics' })
      assert.equal(res.statusCode, 200)
      assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/)
      const types = new Map([...res.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]))
      for (const [name, type] of Object.entries({
        gamepay_orders_created_total: 'counter',
        gamepay_orders_paid_total: 'counter',
        gamepay_callbacks_total: 'counter',
        gamepay_notifications_total: 'counter',
        [DURATION]: 'histogram',
        gamepay_db_pool_connections: 'gauge',
        gamepay_db_pool_waiting: 'gauge',
        gamepay_db_pool_max: 'gauge',
        gamepay_db_up: 'gauge',
        gamepay_outbox_due_events: 'gauge',
        gamepay_outbox_oldest_age_seconds: 'gauge',
      })) assert.equal(types.get(name), type, name)

      const samples = parseMetrics(res.body)
      for (const name of [
        'process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes',
        'nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p50_seconds', 'nodejs_eventloop_lag_p99_seconds',
      ]) assert.notEqual(valueOf(samples, name), undefined, name)
      // The results the contract names exist before the first delivery, so rate() sees the first one.
      for (const result of ['delivered', 'retry', 'failed']) {
        assert.equal(valueOf(samples, 'gamepay_notifications_total', { result }), 0, result)
      }
      assert.equal(valueOf(samples, `${DURATION}_count`, { route: '/api/pay/goods', status: '200' }), 1)
      // A duration was measured, not a 0 for want of Fastify's reply timing.
      assert.ok(valueOf(samples, `${DURATION}_sum`, { route: '/api/pay/goods', status: '200' })! > 0)
    } finally {
      await t.close()
    }
  })

  test('when METRICS_TOKEN is set, then /metrics without "Authorization: Bearer <token>" is 401 UNAUTHORIZED in the envelope', async () => {
    const token = 'scrape-token-0123456789'
    const t = await createTestApp('sqlite', { env: { METRICS_TOKEN: token } })
    try {
      const refused = [
        {},
        { authorization: `Bearer ${token}x` },
        { authorization: `Bearer ${token.slice(0, -1)}` },
        { authorization: 'Bearer ' },
        { authorization: token },
        { authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` },
      ]
      for (const headers of refused) {
        const res = await t.app.inject({ url: '/metrics', headers: { ...headers, 'accept-language': 'en', 'x-request-id': 'scrape-1' } })
        assert.equal(res.statusCode, 401, JSON.stringify(headers))
        assert.equal(res.headers['www-authenticate'], 'Bearer')
        const body = res.json()
        assert.deepEqual([body.result, body.state, body.trace_id], ['fail', 'UNAUTHORIZED', 'scrape-1'])
        assert.match(body.message, /Bearer <METRICS_TOKEN>/)
        assert.doesNotMatch(res.body, /gamepay_|scrape-token/)
      }
      const samples = await scrape(t.app, { authorization: `Bearer ${token}` })
      // The refusals themselves were timed, under the route pattern and their status.
      assert.equal(valueOf(samples, `${DURATION}_count`, { route: '/metrics', status: '401' }), refused.length)
      assert.ok(valueOf(samples, 'gamepay_orders_created_total') !== undefined)
      // The scheme is case-insensitive (RFC 9110).
      await scrape(t.app, { authorization: `bearer ${token}` })
    } finally {
      await t.close()
    }
  })

  test('when the rate limit is low, then /metrics is not counted against it, while the public routes are', async () => {
    const t = await createTestApp('sqlite', { env: { RATE_LIMIT_PER_MINUTE: '2' } })
    try {
      for (let i = 0; i < 5; i++) {
        const res = await t.app.inject({ url: '/metrics' })
        assert.equal(res.statusCode, 200)
        assert.equal(res.headers['x-ratelimit-limit'], undefined)
      }
      const statuses = []
      for (let i = 0; i < 3; i++) statuses.push((await t.app.inject({ url: '/api/pay/goods?id=1' })).statusCode)
      assert.deepEqual(statuses, [200, 200, 429])
      const samples = await scrape(t.app)
      assert.equal(valueOf(samples, `${DURATION}_count`, { route: '/api/pay/goods', status: '429' }), 1)
    } finally {
      await t.close()
    }
  })

  test('when requests match no route, then they are timed under route="unmatched", never their raw URL', async () => {
    const t = await createTestApp('sqlite')
    try {
      assert.equal((await t.app.inject({ url: '/no/such/path-12345?x=1' })).statusCode, 404)
      assert.equal((await t.app.inject({ method: 'POST', url: '/metrics' })).statusCode, 405)
      assert.equal((await t.app.inject({ url: '/api/pay/goods?id=1&probe=raw-url' })).statusCode, 200)
      const samples = await scrape(t.app)
      assert.equal(valueOf(samples, `${DURATION}_count`, { route: 'unmatched', status: '404' }), 1)
      assert.equal(valueOf(samples, `${DURATION}_count`, { route: 'unmatched', status: '405' }), 1)
      assert.equal(valueOf(samples, `${DURATION}_count`, { route: '/api/pay/goods', status: '200' }), 1)
      const routes = new Set(samples.filter((s) => s.name === `${DURATION}_count`).map((s) => s.labels.route))
      assert.deepEqual([...routes].sort(), ['/api/pay/goods', 'unmatched'])
    } finally {
      await t.close()
    }
  })
})

forEachDialect('metrics of orders and payments', (dialect) => {
  test('when an order is created and paid, then orders created, orders paid and callbacks{outcome="paid"} each rise by one', async () => {
    const t = await createTestApp(dialect)
    try {
      const before = await scrape(t.app)
      const order = await createOrder(t.app)
      const reused = await createOrder(t.app)
      assert.equal(reused.order, order.order)
      const created = await scrape(t.app)
      // A reused open order is not a new one.
      assert.equal(valueOf(created, 'gamepay_orders_created_total'), valueOf(before, 'gamepay_orders_created_total')! + 1)
      assert.equal(valueOf(created, 'gamepay_orders_paid_total'), valueOf(before, 'gamepay_orders_paid_total'))

      const paid = await pay(t.app, order.order, order.rmb_yuan)
      assert.equal(paid.status, 200, JSON.stringify(paid.body))
      assert.equal((await orderRow(t, order.order)).status, 'paid')
      const after = await scrape(t.app)
      assert.equal(valueOf(after, 'gamepay_orders_paid_total'), valueOf(before, 'gamepay_orders_paid_total')! + 1)
      assert.equal(callbacks(after, 'paid'), callbacks(before, 'paid')! + 1)
      assert.equal(valueOf(after, `${DURATION}_count`, { route: '/api/pay/create-order', status: '200' }), 2)
      assert.equal(valueOf(after, `${DURATION}_count`, { route: '/api/pay/callback', status: '200' }), 1)

      // The same callback again changes nothing and is counted as what the log records.
      await pay(t.app, order.order, order.rmb_yuan)
      const again = await scrape(t.app)
      assert.equal(valueOf(again, 'gamepay_orders_paid_total'), valueOf(after, 'gamepay_orders_paid_total'))
      assert.equal(callbacks(again, 'already_applied'), 1)
    } finally {
      await t.close()
    }
  })

  test('when a callback\'s signature is wrong, then callbacks{outcome="SIGN_INVALID"} rises and nothing is paid', async () => {
    const t = await createTestApp(dialect)
    try {
      const order = await createOrder(t.app)
      const before = await scrape(t.app)
      const forged = { ...signed(callbackParams(order.order, order.rmb_yuan)), sign: '0'.repeat(32) }
      const res = await post(t.app, '/api/pay/callback', forged, { 'x-request-id': 'forged-1' })
      assert.equal(res.status, 401)
      assert.equal(res.body.state, 'SIGN_INVALID')
      assert.equal((await logged(t, 'forged-1')).outcome, 'SIGN_INVALID')
      assert.equal((await orderRow(t, order.order)).status, 'unpaid')
      const after = await scrape(t.app)
      assert.equal(callbacks(after, 'SIGN_INVALID'), callbacks(before, 'SIGN_INVALID')! + 1)
      assert.equal(valueOf(after, 'gamepay_orders_paid_total'), valueOf(before, 'gamepay_orders_paid_total'))
      assert.equal(valueOf(after, `${DURATION}_count`, { route: '/api/pay/callback', status: '401' }), 1)
    } finally {
      await t.close()
    }
  })
})

forEachDialect('metrics of the database', (dialect) => {
  const poolSize = dialect === 'sqlite' ? 1 : 3

  test('when /metrics is scraped, then the pool gauges show its size and connections, and gamepay_db_up is 1', async () => {
    const t = await createTestApp(dialect, { env: { DB_POOL_SIZE: String(poolSize) } })
    try {
      const samples = await scrape(t.app)
      assert.equal(valueOf(samples, 'gamepay_db_pool_max'), poolSize)
      assert.equal(valueOf(samples, 'gamepay_db_up'), 1)
      assert.equal(valueOf(samples, 'gamepay_db_pool_waiting'), 0)
      const open = valueOf(samples, 'gamepay_db_pool_connections')!
      assert.ok(open >= 1 && open <= poolSize, `open connections: ${open}`)
      assert.equal(valueOf(samples, 'gamepay_outbox_due_events'), 0)
      assert.equal(valueOf(samples, 'gamepay_outbox_oldest_age_seconds'), 0)

      // A transaction holds a connection while it runs.
      const inUse = await t.ctx.store.db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx)
        return parseMetrics(await t.ctx.metrics.registry.getSingleMetricAsString('gamepay_db_pool_connections'))
      })
      assert.ok(valueOf(inUse, 'gamepay_db_pool_connections', { state: 'in_use' })! >= 1)
    } finally {
      await t.close()
    }
  })

  test('when every connection is taken, then a query waiting for one is counted in gamepay_db_pool_waiting', async () => {
    const t = await createTestApp(dialect, { env: { DB_POOL_SIZE: '1' } })
    const waiting = async () => {
      const text = await t.ctx.metrics.registry.getSingleMetricAsString('gamepay_db_pool_waiting')
      return valueOf(parseMetrics(text), 'gamepay_db_pool_waiting')
    }
    try {
      let queued: Promise<unknown> | undefined
      let seen: number | undefined
      await t.ctx.store.db.transaction().execute(async (trx) => {
        await sql`select 1`.execute(trx)
        queued = t.ctx.store.db.selectFrom('goods').select('id').execute()
        // The query reaches the pool after a few turns of the event loop; bounded, not timed.
        for (let i = 0; i < 1000 && (seen = await waiting()) !== 1; i++) await new Promise((resolve) => setImmediate(resolve))
      })
      await queued
      assert.equal(seen, 1)
      assert.equal(await waiting(), 0)
    } finally {
      await t.close()
    }
  })

  test('when the database stops answering, then gamepay_db_up is 0, the outbox series are left out, and the scrape still answers', async () => {
    const t = await createTestApp(dialect)
    try {
      assert.equal(valueOf(await scrape(t.app), 'gamepay_db_up'), 1)
      await t.ctx.store.close()
      const res = await t.app.inject({ url: '/metrics' })
      assert.equal(res.statusCode, 200)
      const samples = parseMetrics(res.body)
      assert.equal(valueOf(samples, 'gamepay_db_up'), 0)
      assert.equal(valueOf(samples, 'gamepay_outbox_due_events'), undefined)
      assert.equal(valueOf(samples, 'gamepay_outbox_oldest_age_seconds'), undefined)
      assert.ok(valueOf(samples, 'gamepay_orders_created_total') !== undefined)
      // The readiness probe agrees.
      assert.equal((await t.app.inject({ url: '/readyz' })).statusCode, 503)
    } finally {
      await t.app.close()
      // The store is already closed; the lease it held simply expires.
      await t.ctx.close().catch(() => {})
    }
  })

  test('when a notification cannot be delivered, then the outbox gauges show it due and ageing, each retry and the failure are counted, and the backlog empties', async () => {
    const receiver = await startReceiver(() => ({ status: 500, body: 'down for maintenance' }))
    const clock = testClock()
    const t = await notifyApp(dialect, { notifyUrl: receiver.url, clock: clock.now, env: { NOTIFY_RETRY_SECONDS: '15,60' } })
    try {
      const order = await createOrder(t.app)
      assert.equal((await pay(t.app, order.order, order.rmb_yuan)).status, 200)
      clock.advance(10_000)
      let samples = await scrape(t.app)
      assert.equal(valueOf(samples, 'gamepay_outbox_due_events'), 1)
      assert.equal(valueOf(samples, 'gamepay_outbox_oldest_age_seconds'), 10)

      const outcomes = []
      for (const wait of [0, 15_000, 60_000]) {
        clock.advance(wait)
        const reports = await t.ctx.notifications.deliverDue()
        outcomes.push(...reports.map((r) => r.outcome))
        samples = await scrape(t.app)
        if (wait === 0) {
          // Tried and waiting for its next attempt: pending, not due.
          assert.equal(valueOf(samples, 'gamepay_outbox_due_events'), 0)
          assert.equal(valueOf(samples, 'gamepay_outbox_oldest_age_seconds'), 10)
        }
      }
      assert.deepEqual(outcomes, ['retry', 'retry', 'failed'])
      assert.equal(receiver.requests.length, 3)
      const [event] = await eventsOf(t, order.order)
      assert.equal(event.status, 'failed')
      assert.equal(valueOf(samples, 'gamepay_notifications_total', { result: 'retry' }), 2)
      assert.equal(valueOf(samples, 'gamepay_notifications_total', { result: 'failed' }), 1)
      assert.equal(valueOf(samples, 'gamepay_notifications_total', { result: 'delivered' }), 0)
      // A failed event is no longer pending: the backlog is empty again.
      assert.equal(valueOf(samples, 'gamepay_outbox_due_events'), 0)
      assert.equal(valueOf(samples, 'gamepay_outbox_oldest_age_seconds'), 0)
    } finally {
      await t.close()
      await receiver.close()
    }
  })
})
