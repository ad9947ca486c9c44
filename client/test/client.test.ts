// The typed client against gamepay itself, listening on a real port: typed data, GamepayError, the
// Idempotency-Key, requests sent once on a 4xx, and retries that wait as Retry-After asks.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { freshDatabaseUrl, createTestApp, forEachDialect, TEST_SECRET, type TestApp } from '../../test/helper.ts'
import { forEachSharedDialect, serverOf, startTcpProxy, viaProxy, type TcpProxy } from '../../test-system/processes.ts'
import { GamepayClient, GamepayError, signCallback, type RetryInfo } from '../src/index.ts'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const MONTH_CARD = { item: '月卡', item_id: '2', single_pric: 30 }

async function listen (t: TestApp): Promise<string> {
  await t.app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = t.app.server.address() as { port: number }
  return `http://127.0.0.1:${port}`
}

/** A success callback for the order, signed with the client's own signer. */
const paidCallback = (order: string, gyyx: string, amount: number | string = 30) => ({
  game_order_no: order,
  gyyx_order_no: gyyx,
  result: 'success',
  result_message: '',
  rmb_yuan: amount,
  server_flag: '',
  timestamp: String(Math.floor(Date.now() / 1000)),
})

/** Rejects with a GamepayError; returns it for the assertions. */
async function refused (promise: Promise<unknown>): Promise<GamepayError> {
  const err = await promise.then(() => null, (e: unknown) => e)
  assert.ok(err instanceof GamepayError, `expected a GamepayError, got ${String(err)}`)
  return err
}

forEachDialect('the typed client against a running gamepay', (dialect) => {
  let t: TestApp
  let client: GamepayClient
  const answers: { path: string, attempt: number, state: string }[] = []

  before(async () => {
    t = await createTestApp(dialect)
    client = new GamepayClient({ baseUrl: await listen(t), onResponse: (r) => answers.push(r) })
  })
  after(async () => { await t?.close() })

  const orderRow = (order: string) => t.ctx.store.db.selectFrom('orders').selectAll().where('order_no', '=', order).executeTakeFirstOrThrow()

  test('when goods are asked for, then their typed data comes back', async () => {
    const goods = await client.goods(2)
    assert.deepEqual(goods, { id: 2, item: '月卡', single_pric: 30, on_sale: true })
  })

  test('when an order is created, paid by a callback the client signed, and verified, then each call returns its data and the order is stored paid', async () => {
    const created = await client.createOrder({ user_id: 'typed-1', ...MONTH_CARD, server_flag: 's1' })
    assert.equal(created.status, 'unpaid')
    assert.equal(created.rmb_yuan, 30)
    assert.equal(created.reused, false)
    assert.match(created.expire_at, ISO)
    assert.match(created.order, /^811-\d+$/)

    await client.callback(signCallback(paidCallback(created.order, `PT-${created.order}`), { secret: TEST_SECRET, signType: 'MD5' }))

    const paid = await client.verify({ user_id: 'typed-1', item: MONTH_CARD.item, order: created.order })
    assert.equal(paid.status, 'paid')
    assert.equal(paid.gyyx_order_no, `PT-${created.order}`)
    assert.equal(paid.verify_count, 1)
    assert.match(paid.paid_at, ISO)

    const row = await orderRow(created.order)
    assert.equal(row.status, 'paid')
    assert.equal(row.gyyx_order_no, `PT-${created.order}`)
    assert.equal(Number(row.verify_count), 1)
  })

  test('when a callback is sent as a form body, then it is signed over the values as sent and pays the order', async () => {
    const created = await client.createOrder({ user_id: 'typed-form', ...MONTH_CARD })
    const params = signCallback({ ...paidCallback(created.order, `PF-${created.order}`, '30.00'), common_param: 'a=1;b=2' },
      { secret: TEST_SECRET })
    await client.callback(params, { as: 'form' })
    const row = await orderRow(created.order)
    assert.equal(row.status, 'paid')
    const logged = await t.ctx.store.db.selectFrom('callbacks').select(['sign_type', 'signature', 'outcome'])
      .where('game_order_no', '=', created.order).execute()
    assert.deepEqual(logged, [{ sign_type: 'HMAC-SHA256', signature: 'valid', outcome: 'paid' }])
  })

  test('when create-order repeats an Idempotency-Key, then the first answer comes back verbatim and one order and one key are stored', async () => {
    const first = await client.createOrder({ user_id: 'typed-idem', ...MONTH_CARD }, { idempotencyKey: 'idem-1' })
    const again = await client.createOrder({ user_id: 'typed-idem', ...MONTH_CARD, amount_num: 3 }, { idempotencyKey: 'idem-1' })
    assert.deepEqual(again, first)
    const orders = await t.ctx.store.db.selectFrom('orders').select('order_no').where('user_id', '=', 'typed-idem').execute()
    assert.deepEqual(orders, [{ order_no: first.order }])
    const keys = await t.ctx.store.db.selectFrom('idempotency_keys').select(['idem_key', 'order_no']).where('user_id', '=', 'typed-idem').execute()
    assert.deepEqual(keys, [{ idem_key: 'idem-1', order_no: first.order }])
  })

  test('when an order is cancelled twice, then both answers say cancelled and the order is stored cancelled', async () => {
    const created = await client.createOrder({ user_id: 'typed-cancel', ...MONTH_CARD })
    assert.deepEqual(await client.cancelOrder({ user_id: 'typed-cancel', order: created.order }), { order: created.order, status: 'cancelled' })
    assert.deepEqual(await client.cancelOrder({ user_id: 'typed-cancel', order: created.order }), { order: created.order, status: 'cancelled' })
    assert.equal((await orderRow(created.order)).status, 'cancelled')
  })

  test('when the service refuses a request, then the GamepayError carries its state, message, trace id and HTTP status, and nothing is stored', async () => {
    const english = new GamepayClient({ baseUrl: `http://127.0.0.1:${(t.app.server.address() as { port: number }).port}`, language: 'en' })
    const err = await refused(english.createOrder({ user_id: 'typed-refused', ...MONTH_CARD, single_pric: 31 }, { requestId: 'typed-price-1' }))
    assert.equal(err.status, 400)
    assert.equal(err.state, 'PRICE_MISMATCH')
    assert.equal(err.trace_id, 'typed-price-1')
    assert.match(err.message, /single_pric/)
    assert.equal(err.name, 'GamepayError')
    assert.equal(err.retryAfter, undefined)
    assert.deepEqual(await t.ctx.store.db.selectFrom('orders').select('order_no').where('user_id', '=', 'typed-refused').execute(), [])

    const created = await client.createOrder({ user_id: 'typed-unpaid', ...MONTH_CARD })
    const unpaid = await refused(client.verify({ user_id: 'typed-unpaid', item: MONTH_CARD.item, order: created.order }))
    assert.deepEqual([unpaid.status, unpaid.state], [409, 'ORDER_NOT_PAID'])
    const missing = await refused(client.goods(999))
    assert.deepEqual([missing.status, missing.state], [404, 'GOODS_NOT_FOUND'])
    assert.equal(Number((await orderRow(created.order)).verify_count), 0)
  })

  test('when a callback is signed with the wrong secret, then SIGN_INVALID comes back after one request, with one row in the callback log', async () => {
    const created = await client.createOrder({ user_id: 'typed-forged', ...MONTH_CARD })
    answers.length = 0
    const forged = signCallback(paidCallback(created.order, `PX-${created.order}`), { secret: 'not-the-secret' })
    const err = await refused(client.callback(forged, { requestId: 'typed-forged-1' }))
    assert.deepEqual([err.status, err.state, err.trace_id], [401, 'SIGN_INVALID', 'typed-forged-1'])
    assert.deepEqual(answers.map((a) => [a.path, a.attempt, a.state]), [['/api/pay/callback', 1, 'SIGN_INVALID']])
    const logged = await t.ctx.store.db.selectFrom('callbacks').select(['trace_id', 'outcome']).where('game_order_no', '=', created.order).execute()
    assert.deepEqual(logged, [{ trace_id: 'typed-forged-1', outcome: 'SIGN_INVALID' }])
    assert.equal((await orderRow(created.order)).status, 'unpaid')
  })
})

describe('the typed client against gamepay answering always-200', () => {
  let t: TestApp
  let client: GamepayClient
  before(async () => {
    t = await createTestApp('sqlite', { env: { HTTP_STATUS_MODE: 'always-200' } })
    client = new GamepayClient({ baseUrl: await listen(t) })
  })
  after(async () => { await t?.close() })

  test('when a request is refused, then it is still a GamepayError, with the HTTP status 200 it came with', async () => {
    const err = await refused(client.cancelOrder({ user_id: 'nobody', order: '811-1' }))
    assert.deepEqual([err.status, err.state], [200, 'ORDER_NOT_FOUND'])
    assert.deepEqual(await t.ctx.store.db.selectFrom('orders').select('order_no').execute(), [])
  })
})

forEachSharedDialect('the typed client while the database is away', (dialect) => {
  let t: TestApp
  let proxy: TcpProxy
  before(async () => {
    const url = await freshDatabaseUrl(dialect)
    proxy = await startTcpProxy(serverOf(url))
    t = await createTestApp(dialect, { url: viaProxy(url, proxy), env: { DB_STATEMENT_TIMEOUT_MS: '1500' } })
  })
  after(async () => {
    await t?.close()
    await proxy?.close()
  })

  test('when gamepay answers 503 with Retry-After, then the client waits as asked, retries, and the order is created once', async () => {
    const retried: RetryInfo[] = []
    const client = new GamepayClient({
      baseUrl: await listen(t),
      retries: 20,
      onRetry: (info) => {
        // The database comes back while the client waits after its first 503.
        if (retried.push(info) === 1) proxy.up().catch(() => {})
      },
    })
    await proxy.down()
    const created = await client.createOrder({ user_id: 'typed-outage', ...MONTH_CARD }, { requestId: 'typed-outage-1' })
    assert.ok(retried.length >= 1, 'the first answer was a 503')
    for (const { delayMs, error } of retried) {
      assert.equal(delayMs, 1000, 'as Retry-After: 1 asks')
      assert.ok(error instanceof GamepayError)
      assert.deepEqual([error.status, error.state, error.trace_id, error.retryAfter], [503, 'SERVICE_UNAVAILABLE', 'typed-outage-1', 1])
    }
    const orders = await t.ctx.store.db.selectFrom('orders').select('order_no').where('user_id', '=', 'typed-outage').execute()
    assert.deepEqual(orders, [{ order_no: created.order }])
  })
})
