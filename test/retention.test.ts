// What the background sweep purges: callbacks whose signature was not verified, after
// CALLBACK_REJECT_RETENTION_DAYS, idempotency keys out of their 24 h window, and expired operator
// sessions. Nothing else.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { findOperatorByName, findSession, insertOperator, insertSession } from '../src/modules/console/auth/operators.repository.ts'
import { createRetention } from '../src/modules/maintenance/retention.ts'
import {
  callbackParams, createOrder, createTestApp, forEachDialect, pay, post, signed, type TestApp,
} from './helper.ts'

const DAY = 24 * 3600 * 1000
const T0 = Date.UTC(2025, 2, 1, 8, 0, 0)

/** The sweep's purge, as the context builds it, on the app's database and test clock. */
const retentionOf = (t: TestApp, clock: () => number, batchSize?: number) => createRetention({
  store: t.ctx.store, clock, rejectedCallbackDays: t.ctx.config.callbackRejectRetentionDays, batchSize,
})

/** A callback refused before or at its signature: logged with signature invalid, missing or not_checked. */
async function refusedCallback (t: TestApp, traceId: string, kind: 'invalid' | 'missing' | 'not_checked' = 'invalid') {
  const params = signed(callbackParams('811-1', 30))
  const body = kind === 'invalid'
    ? { ...params, sign: '0'.repeat(32) }
    : kind === 'missing' ? { ...params, sign: '' } : { ...params, signType: '' }
  const res = await post(t.app, '/api/pay/callback', body, { 'x-request-id': traceId })
  assert.equal(res.status, kind === 'not_checked' ? 400 : 401, JSON.stringify(res.body))
}

/** A verified callback that was still refused: no such order. */
async function verifiedUnknownOrder (t: TestApp, traceId: string) {
  const res = await post(t.app, '/api/pay/callback', signed(callbackParams('811-1', 30)), { 'x-request-id': traceId })
  assert.equal(res.body.state, 'ORDER_NOT_FOUND')
}

const callbacksLeft = async (t: TestApp) =>
  (await t.ctx.store.db.selectFrom('callbacks').select(['trace_id', 'signature']).orderBy('trace_id').execute())
    .map((r) => `${r.trace_id}:${r.signature}`)

const keysLeft = async (t: TestApp) =>
  (await t.ctx.store.db.selectFrom('idempotency_keys').select('idem_key').orderBy('idem_key').execute())
    .map((r) => r.idem_key)

const count = async (t: TestApp, table: 'payments' | 'order_events' | 'orders') =>
  Number((await t.ctx.store.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)

/** What is never purged: [payments, order events, orders]. */
const history = async (t: TestApp) =>
  [await count(t, 'payments'), await count(t, 'order_events'), await count(t, 'orders')]

forEachDialect('retention', (dialect) => {
  test('when refused callbacks pass CALLBACK_REJECT_RETENTION_DAYS, then they go; younger ones, verified ones, payments and history stay', async () => {
    let now = T0
    const t = await createTestApp(dialect, { clock: () => now })
    try {
      await refusedCallback(t, 'old-invalid', 'invalid')
      await refusedCallback(t, 'old-missing', 'missing')
      await refusedCallback(t, 'old-not-checked', 'not_checked')
      await verifiedUnknownOrder(t, 'old-verified')
      const order = await createOrder(t.app, { user_id: 'ret-paid' })
      assert.equal((await pay(t.app, order.order, 30)).body.state, '')
      now = T0 + DAY
      await refusedCallback(t, 'young-invalid')
      const kept = await history(t)
      assert.deepEqual(kept, [1, 2, 1])

      assert.deepEqual((await callbacksLeft(t)).filter((c) => c.startsWith('old-') && !c.endsWith(':valid')),
        ['old-invalid:invalid', 'old-missing:missing', 'old-not-checked:not_checked'])

      const retention = retentionOf(t, () => now)
      now = T0 + 30 * DAY
      // Exactly 30 days old: kept.
      assert.deepEqual(await retention.purgeExpired(), { callbacks: 0, idempotencyKeys: 0, sessions: 0 })
      now = T0 + 30 * DAY + 1
      assert.deepEqual(await retention.purgeExpired(), { callbacks: 3, idempotencyKeys: 0, sessions: 0 })

      const paidCallback = (await callbacksLeft(t)).find((c) => !c.startsWith('old-') && !c.startsWith('young-'))
      assert.deepEqual(await callbacksLeft(t), ['old-verified:valid', paidCallback, 'young-invalid:invalid'].sort())
      assert.match(String(paidCallback), /:valid$/)
      assert.deepEqual(await history(t), kept)

      // Years later, verified callbacks, payments and history are all still there.
      now = T0 + 3650 * DAY
      assert.deepEqual(await retention.purgeExpired(), { callbacks: 1, idempotencyKeys: 0, sessions: 0 })
      assert.deepEqual(await callbacksLeft(t), ['old-verified:valid', paidCallback].sort())
      assert.deepEqual(await history(t), kept)
    } finally {
      await t.close()
    }
  })

  test('when CALLBACK_REJECT_RETENTION_DAYS=2, then a refused callback goes after 2 days', async () => {
    let now = T0
    const t = await createTestApp(dialect, { clock: () => now, env: { CALLBACK_REJECT_RETENTION_DAYS: '2' } })
    try {
      await refusedCallback(t, 'short-invalid')
      await verifiedUnknownOrder(t, 'short-verified')
      const retention = retentionOf(t, () => now)
      now = T0 + 2 * DAY
      assert.equal((await retention.purgeExpired()).callbacks, 0)
      assert.deepEqual(await callbacksLeft(t), ['short-invalid:invalid', 'short-verified:valid'])
      now = T0 + 2 * DAY + 1
      assert.equal((await retention.purgeExpired()).callbacks, 1)
      assert.deepEqual(await callbacksLeft(t), ['short-verified:valid'])
    } finally {
      await t.close()
    }
  })

  test('when idempotency keys are 24 h old, then they go, younger keys stay and still answer, and their orders stay', async () => {
    let now = T0
    const t = await createTestApp(dialect, { clock: () => now })
    try {
      const first = await createOrder(t.app, { user_id: 'idem-a' }, { 'idempotency-key': 'key-old' })
      now = T0 + 3600 * 1000
      const second = await createOrder(t.app, { user_id: 'idem-b' }, { 'idempotency-key': 'key-young' })
      const retention = retentionOf(t, () => now)

      now = T0 + DAY - 1
      assert.deepEqual(await retention.purgeExpired(), { callbacks: 0, idempotencyKeys: 0, sessions: 0 })
      now = T0 + DAY
      assert.deepEqual(await retention.purgeExpired(), { callbacks: 0, idempotencyKeys: 1, sessions: 0 })
      assert.deepEqual(await keysLeft(t), ['key-young'])

      const again = await createOrder(t.app, { user_id: 'idem-b' }, { 'idempotency-key': 'key-young' })
      assert.equal(again.order, second.order, 'a key within its window still answers with its order')
      const orders = await t.ctx.store.db.selectFrom('orders').select('order_no').orderBy('order_no').execute()
      assert.deepEqual(orders.map((o) => o.order_no), [first.order, second.order].sort())
    } finally {
      await t.close()
    }
  })

  test('when the backlog is larger than a batch, then each call deletes one batch and the calls together empty it', async () => {
    let now = T0
    const t = await createTestApp(dialect, { clock: () => now })
    try {
      for (let i = 0; i < 7; i++) await refusedCallback(t, `backlog-${i}`)
      await verifiedUnknownOrder(t, 'backlog-verified')
      for (let i = 0; i < 5; i++) {
        await createOrder(t.app, { user_id: `backlog-${i}` }, { 'idempotency-key': `backlog-key-${i}` })
      }
      const orders = await count(t, 'orders')

      now = T0 + 31 * DAY
      const retention = retentionOf(t, () => now, 3)
      const rounds = []
      for (let i = 0; i < 4; i++) {
        const { callbacks, idempotencyKeys } = await retention.purgeExpired()
        rounds.push([callbacks, idempotencyKeys, (await callbacksLeft(t)).length, (await keysLeft(t)).length])
      }
      // [callbacks purged, keys purged, callback rows left, key rows left] after each call.
      assert.deepEqual(rounds, [[3, 3, 5, 2], [3, 2, 2, 0], [1, 0, 1, 0], [0, 0, 1, 0]])
      assert.deepEqual(await callbacksLeft(t), ['backlog-verified:valid'])
      assert.equal(await count(t, 'orders'), orders)
    } finally {
      await t.close()
    }
  })

  test('when operator sessions have expired, then they go and a live session still signs its operator in', async () => {
    const now = T0
    const t = await createTestApp(dialect, { clock: () => now })
    try {
      const db = t.ctx.store.db
      await insertOperator(db, { name: 'ret-operator', role: 'viewer', passwordHash: 'not-a-real-hash', now })
      const operatorId = (await findOperatorByName(db, 'ret-operator'))!.id
      const session = (id: string, expiresAt: number) => insertSession(db, { id, operatorId, csrfToken: `csrf-${id}`, sourceIp: '127.0.0.1', now, expiresAt })
      await session('expired-long-ago', now - DAY)
      await session('expired-just-now', now)
      await session('live', now + 1)

      assert.deepEqual(await retentionOf(t, () => now).purgeExpired(), { callbacks: 0, idempotencyKeys: 0, sessions: 2 })
      const left = await db.selectFrom('operator_sessions').select('id').execute()
      assert.deepEqual(left.map((r) => r.id), ['live'])
      assert.equal((await findSession(db, 'live', now))?.name, 'ret-operator')
    } finally {
      await t.close()
    }
  })
})

forEachDialect('retention keeps manual payments', (dialect) => {
  test('when an operator applied a payment by hand long ago, then its callback-log row (signature manual) is never purged', async () => {
    let now = T0
    const t = await createTestApp(dialect, { clock: () => now })
    try {
      const order = await createOrder(t.app, { user_id: 'ret-manual' })
      const outcome = await t.ctx.callbacks.applyManual({
        orderNo: order.order,
        gyyxOrderNo: 'PLAT-MANUAL-1',
        amountFen: 3000,
        platformTime: '',
        note: 'lost callback',
        operator: 'ops',
        sourceIp: '127.0.0.1',
        traceId: 'manual-trace',
        audit: async () => {},
      })
      assert.equal(outcome, 'paid')
      now = T0 + 3650 * DAY
      await retentionOf(t, () => now).purgeExpired()
      assert.deepEqual(await callbacksLeft(t), ['manual-trace:manual'])
      const payment = await t.ctx.store.db.selectFrom('payments').select(['kind', 'applied_by']).executeTakeFirstOrThrow()
      assert.deepEqual(payment, { kind: 'applied', applied_by: 'ops' })
    } finally {
      await t.close()
    }
  })
})
