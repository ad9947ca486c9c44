// GET /api/pay/goods?id=…, and the money rule that amounts print with at most two decimals.
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createTestApp, forEachDialect, type TestApp } from '../helper.ts'

async function goods (t: TestApp, query: string, headers: Record<string, string> = {}) {
  const res = await t.app.inject({ method: 'GET', url: `/api/pay/goods${query}`, headers })
  return { status: res.statusCode, body: res.json() }
}

async function goodsRow (t: TestApp, id: number) {
  return t.ctx.store.db.selectFrom('goods').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
}

function catalogFile (entries: unknown[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'gamepay-goods-')), 'goods.json')
  writeFileSync(file, JSON.stringify(entries))
  return file
}

forEachDialect('goods lookup', (dialect) => {
  describe('the development catalog', () => {
    let t: TestApp
    before(async () => { t = await createTestApp(dialect) })
    after(async () => { await t.close() })

    test('when the seed\'s example id=1 is asked for, then the seed\'s answer comes back: 商品属性 at 99.99, on sale', async () => {
      const res = await goods(t, '?id=1')
      assert.equal(res.status, 200)
      assert.equal(res.body.result, 'success')
      assert.equal(res.body.state, '')
      assert.deepEqual(res.body.data, { id: 1, item: '商品属性', single_pric: 99.99, on_sale: true })
      const row = await goodsRow(t, 1)
      assert.equal(row.item, '商品属性')
      assert.equal(Number(row.price_fen), 9999)
    })

    test('when the id is missing, then INVALID_PARAMS names id', async () => {
      for (const query of ['', '?', '?ID=1', '?item_id=1']) {
        const res = await goods(t, query)
        assert.equal(res.status, 400, query)
        assert.equal(res.body.state, 'INVALID_PARAMS')
        assert.match(res.body.message, /\bid\b/)
        assert.equal(Object.hasOwn(res.body, 'data'), false)
      }
    })

    test('when the id is not a positive integer, then INVALID_PARAMS names id', async () => {
      for (const id of ['abc', '1.5', '1.0', '0', '-1', '+1', '1e2', '0x10', '%201', '1%20', '%E5%95%86%E5%93%81ID', '', '99999999999999999999999']) {
        const res = await goods(t, `?id=${id}`, { 'accept-language': 'en' })
        assert.equal(res.status, 400, `id=${id}`)
        assert.equal(res.body.state, 'INVALID_PARAMS', `id=${id}`)
        assert.match(res.body.message, /\bid\b/)
      }
    })

    test('when id is given twice, then INVALID_PARAMS names id rather than picking one', async () => {
      const res = await goods(t, '?id=1&id=2')
      assert.equal(res.status, 400)
      assert.equal(res.body.state, 'INVALID_PARAMS')
      assert.match(res.body.message, /\bid\b/)
    })

    test('when no goods have the id, then GOODS_NOT_FOUND names it', async () => {
      for (const id of ['999', '7', '999999999999999']) {
        const res = await goods(t, `?id=${id}`)
        assert.equal(res.status, 404)
        assert.equal(res.body.result, 'fail')
        assert.equal(res.body.state, 'GOODS_NOT_FOUND')
        assert.ok(res.body.message.includes(id))
      }
      const rows = await t.ctx.store.db.selectFrom('goods').select('id').where('id', '=', 999).execute()
      assert.deepEqual(rows, [])
    })

    test('when goods are off sale (id 6, 绝版礼包), then they are still returned, with on_sale false', async () => {
      const res = await goods(t, '?id=6')
      assert.equal(res.status, 200)
      assert.deepEqual(res.body.data, { id: 6, item: '绝版礼包', single_pric: 128, on_sale: false })
      assert.equal(Number((await goodsRow(t, 6)).on_sale), 0)
    })

    test('when the query carries unknown parameters too, then they are ignored', async () => {
      const res = await goods(t, '?id=2&user_id=888888&t=1732600000')
      assert.equal(res.status, 200)
      assert.deepEqual(res.body.data, { id: 2, item: '月卡', single_pric: 30, on_sale: true })
    })

    test('when every demo goods is fetched, then id is a number and single_pric a number of at most two decimals', async () => {
      const rows = await t.ctx.store.db.selectFrom('goods').selectAll().orderBy('id').execute()
      assert.ok(rows.length >= 6)
      for (const row of rows) {
        const res = await goods(t, `?id=${String(row.id)}`)
        assert.equal(typeof res.body.data.id, 'number')
        assert.equal(typeof res.body.data.single_pric, 'number')
        assert.equal(Math.round(res.body.data.single_pric * 100), Number(row.price_fen))
        assert.match(String(res.body.data.single_pric), /^\d+(\.\d{1,2})?$/)
      }
    })

    test('when an operator changes a price in the database by hand, then goods answers the current price once the cache learns of it (NOTIFY, or the version check)', async () => {
      const priceOf = async () => (await goods(t, '?id=3')).body.data.single_pric as number
      await t.ctx.store.db.updateTable('goods').set({ price_fen: 3300 }).where('id', '=', 3).execute()
      try {
        // The change reaches the cache asynchronously (within the version check's interval): bounded, not timed.
        const deadline = Date.now() + 10_000
        while (await priceOf() !== 33) {
          if (Date.now() > deadline) assert.fail('goods still answer the old price after 10 s')
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        assert.equal(Number((await goodsRow(t, 3)).price_fen), 3300)
      } finally {
        await t.ctx.store.db.updateTable('goods').set({ price_fen: 600 }).where('id', '=', 3).execute()
      }
    })
  })

  describe('a catalog from GOODS_SEED', () => {
    let t: TestApp
    before(async () => {
      t = await createTestApp(dialect, {
        env: {
          GOODS_SEED: catalogFile([
            { id: 1, item: '月卡', single_pric: 30, on_sale: true },
            { id: 12, item: '礼包', single_pric: 120.88 },
            { id: 13, item: '半价券', single_pric: 1.5 },
            { id: 14, item: '一分钱', single_pric: 0.01 },
            { id: 15, item: '至尊', single_pric: 10000000 },
            { id: 100000000000, item: '大编号', single_pric: 6, on_sale: false },
          ]),
        },
      })
    })
    after(async () => { await t.close() })

    test('when the catalog is loaded, then each goods answers its name, its price as printed in the seed and on_sale', async () => {
      const expected: Array<[string, unknown]> = [
        ['1', { id: 1, item: '月卡', single_pric: 30, on_sale: true }],
        ['12', { id: 12, item: '礼包', single_pric: 120.88, on_sale: true }],
        ['13', { id: 13, item: '半价券', single_pric: 1.5, on_sale: true }],
        ['14', { id: 14, item: '一分钱', single_pric: 0.01, on_sale: true }],
        ['15', { id: 15, item: '至尊', single_pric: 10000000, on_sale: true }],
        ['100000000000', { id: 100000000000, item: '大编号', single_pric: 6, on_sale: false }],
      ]
      for (const [id, data] of expected) {
        const res = await goods(t, `?id=${id}`)
        assert.equal(res.status, 200, id)
        assert.deepEqual(res.body.data, data)
      }
      assert.equal(Number((await goodsRow(t, 12)).price_fen), 12088)
      assert.equal(Number((await goodsRow(t, 14)).price_fen), 1)
    })

    test('when the seed replaces the demo catalog, then demo goods are not there', async () => {
      const res = await goods(t, '?id=5')
      assert.equal(res.body.state, 'GOODS_NOT_FOUND')
    })
  })
})
