// POST /api/pay/verification, "has this user paid for this?".
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createOrder, createTestApp, forEachDialect, pay, post, type TestApp } from '../helper.ts'

const DATA_KEYS = ['amount_num', 'first_verified_at', 'gyyx_order_no', 'item', 'item_id', 'order', 'paid_at', 'purchase_time',
  'rmb_yuan', 'single_pric', 'status', 'user_id', 'verify_count']

// 16:30:05 UTC on New Year's Eve is already 00:30:05 on New Year's Day in Shanghai.
const T0 = Date.UTC(2024, 11, 31, 16, 30, 5, 123)

const verify = (t: TestApp, body: Record<string, unknown>) => post(t.app, '/api/pay/verification', body)

const orderRow = (t: TestApp, orderNo: string) =>
  t.ctx.store.db.selectFrom('orders').selectAll().where('order_no', '=', orderNo).executeTakeFirstOrThrow()

forEachDialect('verification', (dialect) => {
  let t: TestApp
  // A test clock, moved on by hand (ORDER_TTL_SECONDS=5, so an order expires after 5 s of it).
  let now = T0
  before(async () => { t = await createTestApp(dialect, { clock: () => now, env: { ORDER_TTL_SECONDS: '5' } }) })
  after(async () => { await t.close() })

  describe('with an order number', () => {
    test('when the order is paid, then success with the order, the payment, purchase_time in Shanghai time and verify_count 1', async () => {
      const order = await createOrder(t.app, { user_id: 'v-paid', amount_num: 2, server_flag: 's9' })
      assert.equal((await pay(t.app, order.order, 60, { gyyx_order_no: 'GY-v-paid' })).body.state, '')
      const res = await verify(t, { user_id: 'v-paid', item: '月卡', item_id: '2', order: order.order })
      assert.equal(res.status, 200)
      assert.equal(res.body.result, 'success')
      assert.equal(res.body.state, '')
      assert.deepEqual(Object.keys(res.body.data).sort(), DATA_KEYS)
      assert.deepEqual(res.body.data, {
        order: order.order,
        user_id: 'v-paid',
        item: '月卡',
        item_id: 2,
        single_pric: 30,
        amount_num: 2,
        rmb_yuan: 60,
        status: 'paid',
        gyyx_order_no: 'GY-v-paid',
        paid_at: '2024-12-31T16:30:05.123Z',
        purchase_time: '2025-01-01 00:30:05',
        verify_count: 1,
        first_verified_at: '2024-12-31T16:30:05.123Z',
      })
      const row = await orderRow(t, order.order)
      assert.equal(Number(row.verify_count), 1)
      assert.equal(Number(row.first_verified_at), T0)
      assert.equal(Number(row.paid_at), T0)
    })

    test('when a paid order is verified again later, then verify_count goes up and first_verified_at stays', async () => {
      const order = await createOrder(t.app, { user_id: 'v-again' })
      await pay(t.app, order.order, order.rmb_yuan)
      const firstAt = now
      const first = await verify(t, { user_id: 'v-again', item: '月卡', order: order.order })
      now += 2000
      const second = await verify(t, { user_id: 'v-again', item: '月卡', order: order.order })
      const third = await verify(t, { user_id: 'v-again', item: '月卡' })
      assert.deepEqual([first, second, third].map((r) => r.body.data.verify_count), [1, 2, 3])
      for (const res of [first, second, third]) assert.equal(res.body.data.first_verified_at, new Date(firstAt).toISOString())
      const row = await orderRow(t, order.order)
      assert.equal(Number(row.verify_count), 3)
      assert.equal(Number(row.first_verified_at), firstAt)
    })

    test('when the order is unpaid or cancelled, then ORDER_NOT_PAID and nothing is counted', async () => {
      const unpaid = await createOrder(t.app, { user_id: 'v-unpaid' })
      const cancelled = await createOrder(t.app, { user_id: 'v-unpaid', amount_num: 2 })
      await post(t.app, '/api/pay/cancel-order', { user_id: 'v-unpaid', order: cancelled.order })
      for (const order of [unpaid, cancelled]) {
        const res = await verify(t, { user_id: 'v-unpaid', item: '月卡', order: order.order })
        assert.equal(res.status, 409)
        assert.equal(res.body.result, 'fail')
        assert.equal(res.body.state, 'ORDER_NOT_PAID')
        assert.equal(Object.hasOwn(res.body, 'data'), false)
        const row = await orderRow(t, order.order)
        assert.equal(Number(row.verify_count), 0)
        assert.equal(row.first_verified_at, null)
      }
    })

    test('when the unpaid order has expired, then ORDER_NOT_PAID, even before any sweep recorded the expiry', async () => {
      const order = await createOrder(t.app, { user_id: 'v-expired' })
      now += 5000
      const res = await verify(t, { user_id: 'v-expired', item: '月卡', order: order.order })
      assert.equal(res.body.state, 'ORDER_NOT_PAID')
      assert.equal(Number((await orderRow(t, order.order)).verify_count), 0)
    })

    test('when the order belongs to another user or does not exist, then ORDER_NOT_FOUND', async () => {
      const order = await createOrder(t.app, { user_id: 'v-owner' })
      await pay(t.app, order.order, order.rmb_yuan)
      for (const body of [
        { user_id: 'v-stranger', item: '月卡', order: order.order },
        { user_id: 'v-owner', item: '月卡', order: '811-1' },
      ]) {
        const res = await verify(t, body)
        assert.equal(res.status, 404)
        assert.equal(res.body.state, 'ORDER_NOT_FOUND')
      }
      assert.equal(Number((await orderRow(t, order.order)).verify_count), 0)
    })

    test('when item or item_id is not what the order is for, then ITEM_MISMATCH and nothing is counted', async () => {
      const order = await createOrder(t.app, { user_id: 'v-mismatch' })
      await pay(t.app, order.order, order.rmb_yuan)
      for (const body of [
        { user_id: 'v-mismatch', item: '商品属性', order: order.order },
        { user_id: 'v-mismatch', item: '月卡', item_id: '1', order: order.order },
        { user_id: 'v-mismatch', item: '月卡', item_id: 3, order: order.order },
      ]) {
        const res = await verify(t, body)
        assert.equal(res.status, 400, JSON.stringify(body))
        assert.equal(res.body.state, 'ITEM_MISMATCH')
        assert.match(res.body.message, /月卡/)
      }
      assert.equal(Number((await orderRow(t, order.order)).verify_count), 0)
    })

    test('when item_id is the seed\'s placeholder "商品ID", then it counts as absent and the order verifies', async () => {
      const order = await createOrder(t.app, { user_id: 'v-placeholder' })
      await pay(t.app, order.order, order.rmb_yuan)
      const res = await verify(t, { user_id: 'v-placeholder', item: '月卡', item_id: '商品ID', order: order.order })
      assert.equal(res.body.data.status, 'paid')
    })

    test('when an expired order was paid late, then it verifies as paid', async () => {
      const order = await createOrder(t.app, { user_id: 'v-late' })
      now += 5000
      assert.equal((await pay(t.app, order.order, order.rmb_yuan)).body.state, '')
      const res = await verify(t, { user_id: 'v-late', item: '月卡', order: order.order })
      assert.equal(res.body.data.status, 'paid')
      assert.equal(Number((await orderRow(t, order.order)).late_payment), 1)
    })
  })

  describe('without an order number', () => {
    test('when the user has several paid orders for the goods, then the one with the latest paid_at answers', async () => {
      const older = await createOrder(t.app, { user_id: 'v-latest', amount_num: 1 })
      const newer = await createOrder(t.app, { user_id: 'v-latest', amount_num: 2 })
      // The order created last is paid first: "latest" means paid_at, not created_at.
      await pay(t.app, newer.order, newer.rmb_yuan)
      now += 1000
      await pay(t.app, older.order, older.rmb_yuan)
      const res = await verify(t, { user_id: 'v-latest', item: '月卡' })
      assert.equal(res.status, 200)
      assert.equal(res.body.data.order, older.order)
      assert.equal(res.body.data.paid_at, new Date(now).toISOString())
      assert.equal(Number((await orderRow(t, older.order)).verify_count), 1)
      assert.equal(Number((await orderRow(t, newer.order)).verify_count), 0)
    })

    test('when item_id is given, then the goods are found by it as in create-order', async () => {
      const order = await createOrder(t.app, { user_id: 'v-byid', item: '钻石x60', item_id: 3, single_pric: 6 })
      await pay(t.app, order.order, 6)
      for (const itemId of [3, '3', '商品ID', undefined]) {
        const res = await verify(t, { user_id: 'v-byid', item: '钻石x60', item_id: itemId })
        assert.equal(res.body.data?.order, order.order, String(itemId))
      }
    })

    test('when the user has no paid order for the goods, then ORDER_NOT_PAID', async () => {
      await createOrder(t.app, { user_id: 'v-none' })
      const cancelled = await createOrder(t.app, { user_id: 'v-none', amount_num: 3 })
      await post(t.app, '/api/pay/cancel-order', { user_id: 'v-none', order: cancelled.order })
      // Someone else's paid order of the same goods does not count.
      const other = await createOrder(t.app, { user_id: 'v-none-other' })
      await pay(t.app, other.order, other.rmb_yuan)
      for (const user of ['v-none', 'v-never-bought']) {
        const res = await verify(t, { user_id: user, item: '月卡' })
        assert.equal(res.status, 409)
        assert.equal(res.body.state, 'ORDER_NOT_PAID')
      }
      assert.equal(Number((await orderRow(t, other.order)).verify_count), 0)
    })

    test('when the goods are unknown or item_id names other goods, then GOODS_NOT_FOUND or ITEM_MISMATCH', async () => {
      const cases: Array<[Record<string, unknown>, string, number]> = [
        [{ user_id: 'v-goods', item: '不存在' }, 'GOODS_NOT_FOUND', 404],
        [{ user_id: 'v-goods', item: '月卡', item_id: '999' }, 'GOODS_NOT_FOUND', 404],
        [{ user_id: 'v-goods', item: '月卡', item_id: 1 }, 'ITEM_MISMATCH', 400],
      ]
      for (const [body, state, status] of cases) {
        const res = await verify(t, body)
        assert.equal(res.body.state, state, JSON.stringify(body))
        assert.equal(res.status, status)
      }
    })

    test('when the goods were taken off sale or repriced after the payment, then the paid order still verifies', async () => {
      const order = await createOrder(t.app, { user_id: 'v-offsale', item: '钻石x6480', item_id: 4, single_pric: 648 })
      await pay(t.app, order.order, 648)
      await t.ctx.store.db.updateTable('goods').set({ on_sale: 0, price_fen: 70000 }).where('id', '=', 4).execute()
      try {
        const res = await verify(t, { user_id: 'v-offsale', item: '钻石x6480' })
        assert.equal(res.body.data.order, order.order)
        assert.equal(res.body.data.single_pric, 648)
      } finally {
        await t.ctx.store.db.updateTable('goods').set({ on_sale: 1, price_fen: 64800 }).where('id', '=', 4).execute()
      }
    })
  })

  describe('fields and retries', () => {
    test('when a field is missing or mistyped, then INVALID_PARAMS names it', async () => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ item: '月卡' }, /user_id/],
        [{ user_id: 'v-fields' }, /item/],
        [{ user_id: 'v-fields', item: '' }, /item/],
        [{ user_id: 1, item: '月卡' }, /user_id/],
        [{ user_id: 'v-fields', item: 2 }, /item/],
        [{ user_id: 'v-fields', item: '月卡', order: 811 }, /order/],
        [{ user_id: 'v-fields', item: '月卡', order: '' }, /order/],
        [{ user_id: 'v'.repeat(65), item: '月卡' }, /user_id/],
      ]
      for (const [body, field] of cases) {
        const res = await verify(t, body)
        assert.equal(res.status, 400, JSON.stringify(body))
        assert.equal(res.body.state, 'INVALID_PARAMS')
        assert.match(res.body.message, field)
      }
    })

    test('when a game server verifies the same order 10 times at once, then each answer has its own count, 1 to 10', async () => {
      const order = await createOrder(t.app, { user_id: 'v-race' })
      await pay(t.app, order.order, order.rmb_yuan)
      const results = await Promise.all(Array.from({ length: 10 }, () => verify(t, { user_id: 'v-race', item: '月卡', order: order.order })))
      for (const res of results) assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.deepEqual(results.map((r) => r.body.data.verify_count).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      assert.equal(Number((await orderRow(t, order.order)).verify_count), 10)
    })
  })
})
