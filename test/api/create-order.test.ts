// POST /api/pay/create-order (fields, rules 0-5 in order, order numbers) and the money rules.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { parseOrderNumber } from '../../src/domain/order-number.ts'
import { importCatalog } from '../../src/modules/goods/goods.service.ts'
import { createTestApp, forEachDialect, pay, post, type TestApp } from '../helper.ts'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/
const DATA_KEYS = ['amount_num', 'created_at', 'expire_at', 'item', 'item_id', 'order', 'reused', 'rmb_yuan', 'single_pric', 'status', 'user_id']

const create = (t: TestApp, body: Record<string, unknown>, headers: Record<string, string> = {}) =>
  post(t.app, '/api/pay/create-order', body, headers)

async function createRaw (t: TestApp, payload: string, headers: Record<string, string> = {}) {
  const res = await t.app.inject({ method: 'POST', url: '/api/pay/create-order', payload, headers: { 'content-type': 'application/json', ...headers } })
  return { status: res.statusCode, body: res.json() }
}

const ordersOf = (t: TestApp, userId: string) =>
  t.ctx.store.db.selectFrom('orders').selectAll().where('user_id', '=', userId).orderBy('order_no').execute()

const keysOf = (t: TestApp, userId: string) =>
  t.ctx.store.db.selectFrom('idempotency_keys').selectAll().where('user_id', '=', userId).execute()

const eventsOf = (t: TestApp, orderNo: string) =>
  t.ctx.store.db.selectFrom('order_events').selectAll().where('order_no', '=', orderNo).orderBy('id').execute()

/** A failure naming the field, that stored no order for the user. */
async function assertRefused (t: TestApp, res: { status: number, body: Record<string, any> }, state: string, status: number, field: RegExp | null, userId: string) {
  assert.equal(res.body.result, 'fail')
  assert.equal(res.body.state, state)
  assert.equal(res.status, status)
  assert.equal(Object.hasOwn(res.body, 'data'), false)
  if (field) assert.match(res.body.message, field)
  assert.deepEqual(await ordersOf(t, userId), [])
}

function catalogFile (entries: unknown[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gamepay-goods-')), 'goods.json')
  writeFileSync(file, JSON.stringify(entries))
  return file
}

forEachDialect('create-order', (dialect) => {
  describe('with the development catalog', () => {
    let t: TestApp
    before(async () => { t = await createTestApp(dialect) })
    after(async () => { await t.close() })

    describe('a new order', () => {
      test('when the seed\'s request is sent with the current price, then an unpaid order 811-<snowflake> is created and stored', async () => {
        const res = await create(t, { user_id: '888888', item: '商品属性', item_id: '商品ID', single_pric: 99.99 }, { 'x-request-id': 'co-seed' })
        assert.equal(res.status, 200)
        assert.equal(res.body.result, 'success')
        assert.equal(res.body.state, '')
        const data = res.body.data
        assert.deepEqual(Object.keys(data).sort(), DATA_KEYS)
        assert.equal(data.item, '商品属性')
        assert.equal(data.item_id, 1)
        assert.equal(data.single_pric, 99.99)
        assert.equal(data.user_id, '888888')
        assert.equal(data.amount_num, 1)
        assert.equal(data.rmb_yuan, 99.99)
        assert.equal(data.status, 'unpaid')
        assert.equal(data.reused, false)
        assert.match(data.order, /^811-[1-9]\d*$/)
        const parsed = parseOrderNumber(data.order, '811')
        assert.ok(parsed)
        assert.equal(parsed.workerId, t.ctx.ids.workerId())
        assert.match(data.created_at, ISO)
        assert.match(data.expire_at, ISO)
        assert.equal(Date.parse(data.expire_at) - Date.parse(data.created_at), 1800 * 1000)

        const [row] = await ordersOf(t, '888888')
        assert.equal(row.order_no, data.order)
        assert.equal(row.status, 'unpaid')
        assert.equal(Number(row.goods_id), 1)
        assert.equal(row.item, '商品属性')
        assert.equal(Number(row.price_fen), 9999)
        assert.equal(Number(row.amount_num), 1)
        assert.equal(Number(row.amount_fen), 9999)
        assert.equal(row.server_flag, '')
        assert.equal(Number(row.created_at), Date.parse(data.created_at))
        assert.equal(Number(row.expire_at), Date.parse(data.expire_at))
        assert.equal(row.paid_at, null)
        const events = await eventsOf(t, data.order)
        assert.equal(events.length, 1)
        assert.deepEqual([events[0].from_status, events[0].to_status, events[0].actor, events[0].trace_id], [null, 'unpaid', 'user', 'co-seed'])
      })

      test('when the seed\'s literal example price 120.88 is sent for goods that cost 99.99, then PRICE_MISMATCH and nothing is stored', async () => {
        const res = await create(t, { user_id: 'co-seed-literal', item: '商品属性', item_id: '商品ID', single_pric: 120.88 })
        await assertRefused(t, res, 'PRICE_MISMATCH', 400, /single_pric.*99\.99/, 'co-seed-literal')
      })

      test('when orders are created one after another, then their numbers are distinct and increase', async () => {
        const numbers: bigint[] = []
        for (let i = 0; i < 5; i++) {
          const res = await create(t, { user_id: `co-seq-${i}`, item: '月卡', single_pric: 30 })
          numbers.push(BigInt(res.body.data.order.split('-')[1]))
        }
        for (let i = 1; i < numbers.length; i++) assert.ok(numbers[i] > numbers[i - 1])
      })

      test('when optional fields are sent, then they are stored with the order', async () => {
        const fields = { server_flag: 's1', description: '首充 双倍', game_role_id: 'r-42', game_role_name: '剑圣😀', game_role_grade: '99' }
        const res = await create(t, { user_id: 'co-fields', item: '月卡', single_pric: 30, ...fields })
        assert.equal(res.status, 200)
        const [row] = await ordersOf(t, 'co-fields')
        assert.deepEqual(
          { server_flag: row.server_flag, description: row.description, game_role_id: row.game_role_id, game_role_name: row.game_role_name, game_role_grade: row.game_role_grade },
          fields
        )
      })

      test('when optional fields are absent, then server_flag is stored as "" and the others as null', async () => {
        await create(t, { user_id: 'co-nofields', item: '月卡', single_pric: 30 })
        const [row] = await ordersOf(t, 'co-nofields')
        assert.equal(row.server_flag, '')
        assert.equal(row.description, null)
        assert.equal(row.game_role_id, null)
        assert.equal(row.game_role_name, null)
        assert.equal(row.game_role_grade, null)
      })

      test('when optional strings are exactly 255 characters, then they are accepted and stored whole', async () => {
        const long = '长'.repeat(255)
        const res = await create(t, { user_id: 'co-255', item: '月卡', single_pric: 30, server_flag: long, description: long, game_role_name: long })
        assert.equal(res.status, 200)
        const [row] = await ordersOf(t, 'co-255')
        assert.equal(row.server_flag, long)
        assert.equal(row.description, long)
        assert.equal(row.game_role_name, long)
      })

      test('when unknown extra fields are sent, then they are ignored', async () => {
        const res = await create(t, { user_id: 'co-extra', item: '月卡', single_pric: 30, sign: 'x', status: 'paid', rmb_yuan: 0.01, order: '811-1' })
        assert.equal(res.status, 200)
        assert.equal(res.body.data.status, 'unpaid')
        assert.equal(res.body.data.rmb_yuan, 30)
        const [row] = await ordersOf(t, 'co-extra')
        assert.equal(row.status, 'unpaid')
        assert.equal(Number(row.amount_fen), 3000)
        assert.notEqual(row.order_no, '811-1')
      })
    })

    describe('field validation', () => {
      test('when a required field is missing or empty, then INVALID_PARAMS names it and nothing is stored', async () => {
        const full = { user_id: 'co-missing', item: '月卡', single_pric: 30 }
        for (const field of ['user_id', 'item', 'single_pric'] as const) {
          const body: Record<string, unknown> = { ...full }
          delete body[field]
          await assertRefused(t, await create(t, body), 'INVALID_PARAMS', 400, new RegExp(field), 'co-missing')
        }
        await assertRefused(t, await create(t, { ...full, item: '' }), 'INVALID_PARAMS', 400, /item/, 'co-missing')
        const emptyUser = await create(t, { ...full, user_id: '' })
        assert.equal(emptyUser.body.state, 'INVALID_PARAMS')
        assert.match(emptyUser.body.message, /user_id/)
        assert.deepEqual(await ordersOf(t, ''), [])
      })

      test('when a value has the wrong JSON type, then it is not coerced: INVALID_PARAMS names the field', async () => {
        const full = { user_id: 'co-types', item: '月卡', single_pric: 30 }
        const cases: Array<[string, unknown]> = [
          ['single_pric', '30'],
          ['single_pric', '30.00'],
          ['single_pric', true],
          ['single_pric', null],
          ['single_pric', [30]],
          ['amount_num', '2'],
          ['amount_num', true],
          ['item', 2],
          ['item', ['月卡']],
          ['server_flag', 1],
          ['server_flag', null],
          ['description', { text: 'x' }],
          ['game_role_id', 123],
          ['game_role_name', false],
          ['game_role_grade', 5],
        ]
        for (const [field, value] of cases) {
          const res = await create(t, { ...full, [field]: value }, { 'accept-language': 'en' })
          await assertRefused(t, res, 'INVALID_PARAMS', 400, new RegExp(field), 'co-types')
        }
        // A numeric user id is the classic integration mistake: refused, not stringified.
        for (const userId of [888888, null, { id: 'co-types' }]) {
          const res = await create(t, { ...full, user_id: userId })
          assert.equal(res.body.state, 'INVALID_PARAMS')
          assert.match(res.body.message, /user_id/)
        }
        assert.deepEqual(await ordersOf(t, '888888').then((rows) => rows.filter((r) => r.item === '月卡')), [])
      })

      test('when user_id is 64 code points of characters outside the BMP, then it is accepted and stored intact', async () => {
        const userId = '😀'.repeat(32) + '玩家'.repeat(16)
        assert.equal([...userId].length, 64)
        assert.equal(userId.length, 96)
        const res = await create(t, { user_id: userId, item: '月卡', single_pric: 30 })
        assert.equal(res.status, 200)
        assert.equal(res.body.data.user_id, userId)
        const [row] = await ordersOf(t, userId)
        assert.equal(row.user_id, userId)
      })

      test('when user_id has 65 code points, then INVALID_PARAMS names user_id', async () => {
        for (const userId of ['a'.repeat(65), '😀'.repeat(65)]) {
          await assertRefused(t, await create(t, { user_id: userId, item: '月卡', single_pric: 30 }), 'INVALID_PARAMS', 400, /user_id/, userId)
        }
      })

      test('when item or an optional string is over 255 characters, then INVALID_PARAMS names it', async () => {
        const full = { user_id: 'co-long', item: '月卡', single_pric: 30 }
        for (const field of ['item', 'server_flag', 'description', 'game_role_id', 'game_role_name', 'game_role_grade']) {
          await assertRefused(t, await create(t, { ...full, [field]: 'x'.repeat(256) }), 'INVALID_PARAMS', 400, new RegExp(field), 'co-long')
        }
      })

      test('when amount_num is not an integer from 1 to 999, then INVALID_PARAMS names amount_num', async () => {
        for (const amountNum of [0, -1, 1000, 1.5, 1e9]) {
          await assertRefused(t, await create(t, { user_id: 'co-num', item: '月卡', single_pric: 30, amount_num: amountNum }), 'INVALID_PARAMS', 400, /amount_num/, 'co-num')
        }
      })

      test('when amount_num is 999, then the order is for 999 at the unit price', async () => {
        const res = await create(t, { user_id: 'co-999', item: '钻石x60', single_pric: 6, amount_num: 999 })
        assert.equal(res.status, 200)
        assert.equal(res.body.data.amount_num, 999)
        assert.equal(res.body.data.rmb_yuan, 5994)
        const [row] = await ordersOf(t, 'co-999')
        assert.equal(Number(row.amount_fen), 599400)
      })

      test('when the field checks fail and the goods are unknown too, then the field check answers first', async () => {
        const res = await create(t, { user_id: 'co-first', item: '不存在的商品', single_pric: 1.005 })
        await assertRefused(t, res, 'INVALID_PARAMS', 400, /single_pric/, 'co-first')
      })
    })

    describe('money', () => {
      test('when 每日礼包 (0.1) is bought 3 at a time, then the amount is exactly 0.3, held as 30 fen', async () => {
        const res = await create(t, { user_id: 'co-tenth', item: '每日礼包', item_id: 5, single_pric: 0.1, amount_num: 3 })
        assert.equal(res.status, 200)
        assert.equal(res.body.data.single_pric, 0.1)
        assert.equal(res.body.data.rmb_yuan, 0.3)
        assert.notEqual(0.1 * 3, 0.3) // what binary floating point would have produced
        const [row] = await ordersOf(t, 'co-tenth')
        assert.equal(Number(row.price_fen), 10)
        assert.equal(Number(row.amount_fen), 30)
      })

      test('when single_pric is not a valid amount, then INVALID_PARAMS names single_pric before any goods check', async () => {
        for (const price of [1.005, 30.001, 0, -30, -0.01, 10000000.01, 10000001, 1e21, 5e-324]) {
          await assertRefused(t, await create(t, { user_id: 'co-badmoney', item: '月卡', single_pric: price }), 'INVALID_PARAMS', 400, /single_pric/, 'co-badmoney')
        }
      })

      test('when single_pric is written 30.00 in the JSON text, then it is the same amount as 30', async () => {
        const res = await createRaw(t, '{"user_id":"co-3000","item":"月卡","single_pric":30.00}')
        assert.equal(res.status, 200)
        assert.equal(res.body.data.single_pric, 30)
        assert.equal(Number((await ordersOf(t, 'co-3000'))[0].price_fen), 3000)
      })
    })

    describe('rule 1: finding the goods', () => {
      test('when only item is given, then the goods are found by their unique name', async () => {
        const res = await create(t, { user_id: 'co-byname', item: '钻石x6480', single_pric: 648 })
        assert.equal(res.status, 200)
        assert.equal(res.body.data.item_id, 4)
        assert.equal(Number((await ordersOf(t, 'co-byname'))[0].goods_id), 4)
      })

      test('when item_id is a positive integer as a string or a number, then the goods are found by it', async () => {
        for (const [user, itemId] of [['co-id-str', '3'], ['co-id-num', 3]] as const) {
          const res = await create(t, { user_id: user, item: '钻石x60', item_id: itemId, single_pric: 6 })
          assert.equal(res.status, 200)
          assert.equal(res.body.data.item_id, 3)
          assert.equal(Number((await ordersOf(t, user))[0].goods_id), 3)
        }
      })

      test('when item_id is the seed\'s placeholder "商品ID" or any other non-positive-integer, then it counts as absent', async () => {
        const values: unknown[] = ['商品ID', '', '0', '-2', '2.0', '2.5', ' 2', '0x2', 0, -2, 2.5, null, true, {}, []]
        for (const [i, itemId] of values.entries()) {
          const user = `co-absent-${i}`
          const res = await create(t, { user_id: user, item: '月卡', item_id: itemId, single_pric: 30 })
          assert.equal(res.status, 200, `item_id ${JSON.stringify(itemId)}: ${JSON.stringify(res.body)}`)
          assert.equal(res.body.data.item_id, 2)
          assert.equal(Number((await ordersOf(t, user))[0].goods_id), 2)
        }
      })

      test('when no goods have the name or the id, then GOODS_NOT_FOUND and nothing is stored', async () => {
        await assertRefused(t, await create(t, { user_id: 'co-nogoods', item: '不存在', single_pric: 30 }), 'GOODS_NOT_FOUND', 404, /item/, 'co-nogoods')
        await assertRefused(t, await create(t, { user_id: 'co-nogoods', item: '月卡', item_id: '999', single_pric: 30 }), 'GOODS_NOT_FOUND', 404, /item_id/, 'co-nogoods')
      })

      test('when item is not the name of the goods item_id names, then ITEM_MISMATCH and nothing is stored', async () => {
        await assertRefused(t, await create(t, { user_id: 'co-mismatch', item: '商品属性', item_id: '2', single_pric: 99.99 }), 'ITEM_MISMATCH', 400, /月卡/, 'co-mismatch')
        await assertRefused(t, await create(t, { user_id: 'co-mismatch', item: '月卡', item_id: 1, single_pric: 30 }), 'ITEM_MISMATCH', 400, /商品属性/, 'co-mismatch')
      })

      test('when the goods are off sale (绝版礼包), then GOODS_UNAVAILABLE, found by name or by id', async () => {
        await assertRefused(t, await create(t, { user_id: 'co-offsale', item: '绝版礼包', single_pric: 128 }), 'GOODS_UNAVAILABLE', 409, null, 'co-offsale')
        await assertRefused(t, await create(t, { user_id: 'co-offsale', item: '绝版礼包', item_id: '6', single_pric: 128 }), 'GOODS_UNAVAILABLE', 409, null, 'co-offsale')
      })

      test('when several rules fail, then the first in the contract\'s order answers', async () => {
        // off sale (rule 1) before the wrong price (rule 2)
        await assertRefused(t, await create(t, { user_id: 'co-order', item: '绝版礼包', single_pric: 1 }), 'GOODS_UNAVAILABLE', 409, null, 'co-order')
        // mismatch (rule 1) before the wrong price (rule 2)
        await assertRefused(t, await create(t, { user_id: 'co-order', item: '月卡', item_id: 6, single_pric: 1 }), 'ITEM_MISMATCH', 400, null, 'co-order')
        // not found (rule 1) before the wrong price (rule 2)
        await assertRefused(t, await create(t, { user_id: 'co-order', item: '无', single_pric: 1 }), 'GOODS_NOT_FOUND', 404, null, 'co-order')
      })
    })

    describe('rule 2: the price', () => {
      test('when single_pric is not the current price to the fen, then PRICE_MISMATCH names single_pric and the price', async () => {
        for (const price of [29.99, 30.01, 300, 3]) {
          const res = await create(t, { user_id: 'co-price', item: '月卡', item_id: '2', single_pric: price }, { 'accept-language': 'en' })
          await assertRefused(t, res, 'PRICE_MISMATCH', 400, /single_pric should be 30\b/, 'co-price')
        }
      })

      test('when the operator changes the price, then only the new price is accepted', async () => {
        await t.ctx.store.db.updateTable('goods').set({ price_fen: 700 }).where('id', '=', 3).execute()
        try {
          await assertRefused(t, await create(t, { user_id: 'co-newprice', item: '钻石x60', single_pric: 6 }), 'PRICE_MISMATCH', 400, /7/, 'co-newprice')
          const res = await create(t, { user_id: 'co-newprice', item: '钻石x60', single_pric: 7 })
          assert.equal(res.status, 200)
          assert.equal(Number((await ordersOf(t, 'co-newprice'))[0].price_fen), 700)
        } finally {
          await t.ctx.store.db.updateTable('goods').set({ price_fen: 600 }).where('id', '=', 3).execute()
        }
      })
    })

    describe('rule 4: the open order is reused', () => {
      test('when the same user asks again for the same goods, price, quantity and server, then the same order comes back with reused true', async () => {
        const first = await create(t, { user_id: 'co-reuse', item: '月卡', single_pric: 30, server_flag: 's1' })
        const second = await create(t, { user_id: 'co-reuse', item: '月卡', item_id: 2, single_pric: 30, server_flag: 's1', description: 'again' })
        assert.equal(first.body.data.reused, false)
        assert.equal(second.body.data.reused, true)
        assert.deepEqual({ ...second.body.data, reused: false }, first.body.data)
        const rows = await ordersOf(t, 'co-reuse')
        assert.equal(rows.length, 1)
        assert.equal(rows[0].description, null, 'the open order keeps what it was created with')
        assert.equal((await eventsOf(t, first.body.data.order)).length, 1)
      })

      test('when server_flag is absent once and "" once, then they count as the same', async () => {
        const first = await create(t, { user_id: 'co-reuse-empty', item: '月卡', single_pric: 30 })
        const second = await create(t, { user_id: 'co-reuse-empty', item: '月卡', single_pric: 30, server_flag: '' })
        assert.equal(second.body.data.order, first.body.data.order)
        assert.equal(second.body.data.reused, true)
      })

      test('when server_flag, quantity, goods or user differ, then a new order is created', async () => {
        const base = { user_id: 'co-differ', item: '月卡', single_pric: 30, server_flag: 's1' }
        const first = await create(t, base)
        const variants = [
          { ...base, server_flag: 's2' },
          { ...base, server_flag: '' },
          { ...base, amount_num: 2 },
          { ...base, item: '钻石x60', single_pric: 6 },
        ]
        const seen = new Set([first.body.data.order])
        for (const body of variants) {
          const res = await create(t, body)
          assert.equal(res.body.data.reused, false, JSON.stringify(body))
          seen.add(res.body.data.order)
        }
        const other = await create(t, { ...base, user_id: 'co-differ-2' })
        assert.equal(other.body.data.reused, false)
        seen.add(other.body.data.order)
        assert.equal(seen.size, 6)
        assert.equal((await ordersOf(t, 'co-differ')).length, 5)
      })

      test('when the price changes while an order is open, then the same request at the new price gets a new order, not the old one', async () => {
        const body = { user_id: 'co-reprice', item: '钻石x60', item_id: '3' }
        const first = await create(t, { ...body, single_pric: 6 })
        assert.equal(first.body.data.reused, false)
        await importCatalog(t.ctx.store, [{ id: 3, item: '钻石x60', priceFen: 700, onSale: true }], Date.now())
        try {
          const second = await create(t, { ...body, single_pric: 7 })
          assert.equal(second.status, 200, JSON.stringify(second.body))
          assert.equal(second.body.data.reused, false)
          assert.notEqual(second.body.data.order, first.body.data.order)
          assert.equal(second.body.data.single_pric, 7)
          assert.equal(second.body.data.rmb_yuan, 7)
          const rows = await ordersOf(t, 'co-reprice')
          assert.deepEqual(
            rows.map((r) => [r.order_no, r.status, Number(r.price_fen), Number(r.amount_fen)]).sort(),
            [[first.body.data.order, 'unpaid', 600, 600], [second.body.data.order, 'unpaid', 700, 700]].sort()
          )
        } finally {
          await importCatalog(t.ctx.store, [{ id: 3, item: '钻石x60', priceFen: 600, onSale: true }], Date.now())
        }
      })

      test('when the open order was cancelled or paid, then the next request gets a new order', async () => {
        const body = { user_id: 'co-closed', item: '月卡', single_pric: 30 }
        const first = (await create(t, body)).body.data
        await post(t.app, '/api/pay/cancel-order', { user_id: 'co-closed', order: first.order })
        const second = (await create(t, body)).body.data
        assert.notEqual(second.order, first.order)
        assert.equal(second.reused, false)
        assert.equal((await pay(t.app, second.order, 30)).body.state, '')
        const third = (await create(t, body)).body.data
        assert.notEqual(third.order, second.order)
        assert.equal(third.reused, false)
        const rows = await ordersOf(t, 'co-closed')
        assert.deepEqual(rows.map((r) => [r.order_no, r.status]).sort(), [[first.order, 'cancelled'], [second.order, 'paid'], [third.order, 'unpaid']].sort())
      })

      test('when the same request arrives 10 times at once, then one order is created and the others reuse it', async () => {
        const body = { user_id: 'co-race', item: '月卡', single_pric: 30 }
        const results = await Promise.all(Array.from({ length: 10 }, () => create(t, body)))
        for (const res of results) assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.equal(new Set(results.map((r) => r.body.data.order)).size, 1)
        assert.equal(results.filter((r) => r.body.data.reused === false).length, 1)
        assert.equal((await ordersOf(t, 'co-race')).length, 1)
      })
    })

    describe('rule 0: Idempotency-Key', () => {
      test('when a key is repeated with a different body, then the first response\'s data comes back verbatim and nothing new is stored', async () => {
        const key = { 'idempotency-key': 'co-idem-1' }
        const first = await create(t, { user_id: 'co-idem', item: '月卡', single_pric: 30 }, key)
        assert.equal(first.status, 200)
        const replay = await create(t, { user_id: 'co-idem', item: '钻石x60', single_pric: 6, amount_num: 5 }, key)
        assert.equal(replay.status, 200)
        assert.deepEqual(replay.body.data, first.body.data)
        assert.notEqual(replay.body.trace_id, first.body.trace_id)
        const rows = await ordersOf(t, 'co-idem')
        assert.equal(rows.length, 1)
        const keys = await keysOf(t, 'co-idem')
        assert.equal(keys.length, 1)
        assert.equal(keys[0].idem_key, 'co-idem-1')
        assert.equal(keys[0].order_no, first.body.data.order)
      })

      test('when the order changed since (cancelled), then a replay still answers the first data', async () => {
        const key = { 'idempotency-key': 'co-idem-cancel' }
        const first = await create(t, { user_id: 'co-idem-c', item: '月卡', single_pric: 30 }, key)
        await post(t.app, '/api/pay/cancel-order', { user_id: 'co-idem-c', order: first.body.data.order })
        const replay = await create(t, { user_id: 'co-idem-c', item: '月卡', single_pric: 30 }, key)
        assert.deepEqual(replay.body.data, first.body.data)
        const rows = await ordersOf(t, 'co-idem-c')
        assert.deepEqual(rows.map((r) => r.status), ['cancelled'])
      })

      test('when a first response was a reused order, then the replay answers it verbatim too', async () => {
        const body = { user_id: 'co-idem-r', item: '月卡', single_pric: 30 }
        await create(t, body)
        const reused = await create(t, body, { 'idempotency-key': 'co-idem-r-1' })
        assert.equal(reused.body.data.reused, true)
        const replay = await create(t, body, { 'idempotency-key': 'co-idem-r-1' })
        assert.deepEqual(replay.body.data, reused.body.data)
      })

      test('when another user sends the same key, then it is a different key: that user gets their own order', async () => {
        const key = { 'idempotency-key': 'shared-key' }
        const a = await create(t, { user_id: 'co-idem-a', item: '月卡', single_pric: 30 }, key)
        const b = await create(t, { user_id: 'co-idem-b', item: '月卡', single_pric: 30 }, key)
        assert.equal(b.status, 200)
        assert.equal(b.body.data.user_id, 'co-idem-b')
        assert.notEqual(b.body.data.order, a.body.data.order)
        assert.equal((await ordersOf(t, 'co-idem-b')).length, 1)
        assert.equal((await keysOf(t, 'co-idem-a')).length, 1)
        assert.equal((await keysOf(t, 'co-idem-b')).length, 1)
      })

      test('when the first request with a key fails, then no key is stored and a corrected retry with the key creates the order', async () => {
        const key = { 'idempotency-key': 'co-idem-fail' }
        const failed = await create(t, { user_id: 'co-idem-f', item: '月卡', single_pric: 29 }, key)
        assert.equal(failed.body.state, 'PRICE_MISMATCH')
        assert.deepEqual(await keysOf(t, 'co-idem-f'), [])
        const offSale = await create(t, { user_id: 'co-idem-f', item: '绝版礼包', single_pric: 128 }, key)
        assert.equal(offSale.body.state, 'GOODS_UNAVAILABLE')
        assert.deepEqual(await keysOf(t, 'co-idem-f'), [])
        const retry = await create(t, { user_id: 'co-idem-f', item: '月卡', single_pric: 30 }, key)
        assert.equal(retry.status, 200)
        assert.equal(retry.body.data.reused, false)
        const keys = await keysOf(t, 'co-idem-f')
        assert.equal(keys.length, 1)
        assert.equal(keys[0].order_no, retry.body.data.order)
      })

      test('when a repeated key comes with a body that fails validation, then the fields are checked first: INVALID_PARAMS', async () => {
        const key = { 'idempotency-key': 'co-idem-v' }
        await create(t, { user_id: 'co-idem-v', item: '月卡', single_pric: 30 }, key)
        const res = await create(t, { user_id: 'co-idem-v', item: '月卡', single_pric: '30' }, key)
        assert.equal(res.body.state, 'INVALID_PARAMS')
        assert.match(res.body.message, /single_pric/)
      })

      test('when the key is over 128 characters, then INVALID_PARAMS names it; 128 is fine', async () => {
        const long = await create(t, { user_id: 'co-idem-long', item: '月卡', single_pric: 30 }, { 'idempotency-key': 'k'.repeat(129) })
        await assertRefused(t, long, 'INVALID_PARAMS', 400, /idempotency-key/i, 'co-idem-long')
        assert.deepEqual(await keysOf(t, 'co-idem-long'), [])
        const ok = await create(t, { user_id: 'co-idem-long', item: '月卡', single_pric: 30 }, { 'idempotency-key': 'k'.repeat(128) })
        assert.equal(ok.status, 200)
        assert.equal((await keysOf(t, 'co-idem-long'))[0].idem_key, 'k'.repeat(128))
      })

      test('when the same key arrives 8 times at once with different bodies, then all get one and the same answer', async () => {
        const bodies = Array.from({ length: 8 }, (_, i) => ({ user_id: 'co-idem-race', item: '钻石x60', single_pric: 6, amount_num: i + 1 }))
        const results = await Promise.all(bodies.map((b) => create(t, b, { 'idempotency-key': 'co-idem-race-1' })))
        for (const res of results) assert.equal(res.status, 200, JSON.stringify(res.body))
        for (const res of results) assert.deepEqual(res.body.data, results[0].body.data)
        assert.equal((await ordersOf(t, 'co-idem-race')).length, 1)
        assert.equal((await keysOf(t, 'co-idem-race')).length, 1)
      })
    })
  })

  describe('money, with a catalog from GOODS_SEED', () => {
    let t: TestApp
    before(async () => {
      t = await createTestApp(dialect, {
        env: {
          GOODS_SEED: catalogFile([
            { id: 1, item: '礼包', single_pric: 120.88 },
            { id: 2, item: '半价券', single_pric: 1.5 },
            { id: 3, item: '至尊', single_pric: 10000000 },
            { id: 4, item: '五百万', single_pric: 5000000 },
            { id: 5, item: '一分钱', single_pric: 0.01 },
          ]),
        },
      })
    })
    after(async () => { await t.close() })

    test('when single_pric is 120.88, then the order holds exactly 12088 fen and prints 120.88', async () => {
      const res = await create(t, { user_id: 'm-12088', item: '礼包', item_id: '1', single_pric: 120.88 })
      assert.equal(res.status, 200)
      assert.equal(res.body.data.single_pric, 120.88)
      assert.equal(res.body.data.rmb_yuan, 120.88)
      const [row] = await ordersOf(t, 'm-12088')
      assert.equal(Number(row.price_fen), 12088)
      assert.equal(Number(row.amount_fen), 12088)
    })

    test('when one request sends 1.5 and the next 1.50, then they are the same amount: the open order is reused', async () => {
      const a = await createRaw(t, '{"user_id":"m-150","item":"半价券","single_pric":1.5}')
      const b = await createRaw(t, '{"user_id":"m-150","item":"半价券","single_pric":1.50}')
      const c = await createRaw(t, '{"user_id":"m-150","item":"半价券","single_pric":1.500}')
      assert.equal(a.status, 200)
      assert.equal(b.body.data.order, a.body.data.order)
      assert.equal(b.body.data.reused, true)
      assert.equal(c.body.data.order, a.body.data.order)
      const rows = await ordersOf(t, 'm-150')
      assert.equal(rows.length, 1)
      assert.equal(Number(rows[0].price_fen), 150)
    })

    test('when single_pric has more than two decimals, then INVALID_PARAMS names it (not PRICE_MISMATCH)', async () => {
      for (const price of [1.005, 1.501, 120.881]) {
        await assertRefused(t, await create(t, { user_id: 'm-frac', item: '半价券', single_pric: price }), 'INVALID_PARAMS', 400, /single_pric/, 'm-frac')
      }
    })

    test('when single_pric is 0 or negative, then INVALID_PARAMS names it', async () => {
      for (const payload of ['0', '0.00', '-0', '-1.5', '-120.88']) {
        const res = await createRaw(t, `{"user_id":"m-neg","item":"半价券","single_pric":${payload}}`)
        await assertRefused(t, res, 'INVALID_PARAMS', 400, /single_pric/, 'm-neg')
      }
    })

    test('when goods cost exactly 10,000,000, then they can be ordered; a cent more is INVALID_PARAMS', async () => {
      const ok = await create(t, { user_id: 'm-max', item: '至尊', single_pric: 10000000 })
      assert.equal(ok.status, 200)
      assert.equal(ok.body.data.rmb_yuan, 10000000)
      assert.equal(Number((await ordersOf(t, 'm-max'))[0].amount_fen), 1_000_000_000)
      await assertRefused(t, await create(t, { user_id: 'm-over', item: '至尊', single_pric: 10000000.01 }), 'INVALID_PARAMS', 400, /single_pric/, 'm-over')
    })

    test('when single_pric × amount_num is over 10,000,000, then INVALID_PARAMS names amount_num; exactly 10,000,000 is fine', async () => {
      await assertRefused(t, await create(t, { user_id: 'm-total', item: '五百万', single_pric: 5000000, amount_num: 3 }), 'INVALID_PARAMS', 400, /amount_num/, 'm-total')
      const ok = await create(t, { user_id: 'm-total', item: '五百万', single_pric: 5000000, amount_num: 2 })
      assert.equal(ok.status, 200)
      assert.equal(ok.body.data.rmb_yuan, 10000000)
    })

    test('when a string amount is sent to create-order, then INVALID_PARAMS names single_pric (strings are only for the callback)', async () => {
      for (const price of ['120.88', '1.5', '120', '']) {
        await assertRefused(t, await create(t, { user_id: 'm-str', item: '礼包', single_pric: price }), 'INVALID_PARAMS', 400, /single_pric/, 'm-str')
      }
    })

    test('when 0.01 is bought 999 times, then the amount prints as 9.99', async () => {
      const res = await create(t, { user_id: 'm-cents', item: '一分钱', single_pric: 0.01, amount_num: 999 })
      assert.equal(res.body.data.single_pric, 0.01)
      assert.equal(res.body.data.rmb_yuan, 9.99)
      assert.equal(Number((await ordersOf(t, 'm-cents'))[0].amount_fen), 999)
    })
  })

  describe('ORDER_PREFIX', () => {
    let t: TestApp
    before(async () => { t = await createTestApp(dialect, { env: { ORDER_PREFIX: 'G7' } }) })
    after(async () => { await t.close() })

    test('when ORDER_PREFIX is set, then order numbers are <prefix>-<snowflake>', async () => {
      const res = await create(t, { user_id: 'p-1', item: '月卡', single_pric: 30 })
      assert.match(res.body.data.order, /^G7-[1-9]\d*$/)
      assert.ok(parseOrderNumber(res.body.data.order, 'G7'))
      assert.equal((await ordersOf(t, 'p-1'))[0].order_no, res.body.data.order)
    })
  })
})
