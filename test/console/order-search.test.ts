// The console's order search: each filter finds its orders and no others, newest first, one
// keyset page at a time; "unpaid" and "expired" as of now; and every filter reads through an index.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { Executor } from '../../src/db/database.ts'
import { AppError } from '../../src/errors.ts'
import {
  decodeCursor, encodeCursor, explainSearch, searchOrders, type OrderFilter, type OrderPage,
} from '../../src/modules/console/orders/order-search.repository.ts'
import { createOrder, createTestApp, forEachDialect, pay, type TestApp } from '../helper.ts'

const MIN = 60_000
const T0 = Date.UTC(2025, 5, 1, 8, 0, 0)
// The search's "now": one hour after T0.
const NOW = T0 + 60 * MIN

interface Seed {
  no: string
  user?: string
  goods?: number
  flag?: string
  status?: 'unpaid' | 'paid' | 'cancelled' | 'expired'
  /** Minutes after T0. */
  at: number
  /** Minutes after T0; 30 minutes after creation unless given. */
  expires?: number
  gyyx?: string
}

async function insertOrders (db: Executor, seeds: Seed[]) {
  await db.insertInto('orders').values(seeds.map((s) => {
    const createdAt = T0 + s.at * MIN
    const paid = s.status === 'paid'
    return {
      order_no: s.no,
      user_id: s.user ?? 'u-other',
      goods_id: s.goods ?? 1,
      item: `goods-${s.goods ?? 1}`,
      price_fen: 3000,
      amount_num: 1,
      amount_fen: 3000,
      server_flag: s.flag ?? 's1',
      status: s.status ?? 'cancelled',
      open_key: null,
      created_at: createdAt,
      expire_at: s.expires === undefined ? createdAt + 30 * MIN : T0 + s.expires * MIN,
      updated_at: createdAt,
      paid_at: paid ? createdAt + 1000 : null,
      gyyx_order_no: s.gyyx ?? (paid ? `GY-${s.no}` : null),
      paid_fen: paid ? 3000 : null,
      late_payment: 0,
      verify_count: 0,
    }
  })).execute()
}

async function insertCallback (db: Executor, orderNo: string, anomaly: boolean) {
  await db.insertInto('callbacks').values({
    received_at: T0,
    source_ip: '127.0.0.1',
    trace_id: `cb-${orderNo}-${String(anomaly)}`,
    game_order_no: orderNo,
    gyyx_order_no: null,
    params: '{}',
    sign_type: 'MD5',
    signature: 'valid',
    outcome: anomaly ? 'amount_mismatch' : 'paid',
    anomaly: anomaly ? 1 : 0,
  }).execute()
}

// Order numbers sort in creation order here, so "newest first" reads as descending names.
const SEEDS: Seed[] = [
  { no: 'S-01', user: 'alice', goods: 2, flag: 's1', status: 'paid', at: 1 },
  { no: 'S-02', user: 'bob', goods: 3, flag: 's2', status: 'cancelled', at: 2 },
  { no: 'S-03', user: 'alice', goods: 3, flag: 's2', status: 'expired', at: 3 },
  // Unpaid, but past its expiry at NOW: the sweep has not reached it.
  { no: 'S-04', user: 'carol', goods: 2, flag: 's1', status: 'unpaid', at: 4, expires: 34 },
  { no: 'S-05', user: 'alice', goods: 2, flag: 's3', status: 'paid', at: 5 },
  // Unpaid and still payable at NOW.
  { no: 'S-06', user: 'bob', goods: 2, flag: 's1', status: 'unpaid', at: 40, expires: 70 },
  // Expires exactly at NOW: expired.
  { no: 'S-07', user: 'carol', goods: 3, flag: 's3', status: 'unpaid', at: 30, expires: 60 },
  { no: 'S-08', user: 'bob', goods: 2, flag: 's2', status: 'paid', at: 50, gyyx: 'GY-special' },
]

const numbers = (page: OrderPage) => page.rows.map((r) => r.orderNo)

forEachDialect('console order search', (dialect) => {
  let t: TestApp
  let db: Executor
  const search = (filter: OrderFilter, limit?: number, after?: string) => searchOrders(db, filter, { limit, after }, NOW)

  before(async () => {
    t = await createTestApp(dialect, { clock: () => T0 })
    db = t.ctx.store.db
    await insertOrders(db, SEEDS)
    await insertCallback(db, 'S-02', false)
    await insertCallback(db, 'S-05', true)
    await insertCallback(db, 'S-05', true)
    await insertCallback(db, 'S-07', true)
    await insertCallback(db, 'S-08', false)
  })
  after(async () => { await t.close() })

  describe('each filter', () => {
    const cases: [string, OrderFilter, string[]][] = [
      ['no filter', {}, ['S-08', 'S-06', 'S-07', 'S-05', 'S-04', 'S-03', 'S-02', 'S-01']],
      ['an order number', { orderNo: 'S-03' }, ['S-03']],
      ['an unknown order number', { orderNo: 'S-99' }, []],
      ['a user id', { userId: 'alice' }, ['S-05', 'S-03', 'S-01']],
      ['a platform order number', { gyyxOrderNo: 'GY-special' }, ['S-08']],
      ['status paid', { status: 'paid' }, ['S-08', 'S-05', 'S-01']],
      ['status cancelled', { status: 'cancelled' }, ['S-02']],
      ['a goods id', { goodsId: 3 }, ['S-07', 'S-03', 'S-02']],
      ['a server flag', { serverFlag: 's1' }, ['S-06', 'S-04', 'S-01']],
      ['a created_at range, from included and to excluded', { from: T0 + 2 * MIN, to: T0 + 30 * MIN }, ['S-05', 'S-04', 'S-03', 'S-02']],
      ['has anomaly', { hasAnomaly: true }, ['S-07', 'S-05']],
      ['has no anomaly', { hasAnomaly: false }, ['S-08', 'S-06', 'S-04', 'S-03', 'S-02', 'S-01']],
      ['user, goods and status together', { userId: 'alice', goodsId: 2, status: 'paid' }, ['S-05', 'S-01']],
      ['goods, flag and a range together', { goodsId: 2, serverFlag: 's1', from: T0 + 2 * MIN }, ['S-06', 'S-04']],
      ['an order number that another filter excludes', { orderNo: 'S-03', status: 'paid' }, []],
      ['expired with has anomaly', { status: 'expired', hasAnomaly: true }, ['S-07']],
    ]
    for (const [name, filter, expected] of cases) {
      test(`when searching by ${name}, then exactly its orders come back, newest first`, async () => {
        const page = await search(filter)
        assert.deepEqual(numbers(page), expected)
        assert.equal(page.next, null)
      })
    }
  })

  describe('unpaid and expired as of now', () => {
    test('when searching for unpaid orders, then only those still payable at now come back', async () => {
      const page = await search({ status: 'unpaid' })
      assert.deepEqual(numbers(page), ['S-06'])
      assert.equal(page.rows[0].status, 'unpaid')
    })

    test('when searching for expired orders, then stored expired ones and unpaid ones past their expiry come back, shown expired', async () => {
      const page = await search({ status: 'expired' })
      assert.deepEqual(numbers(page), ['S-07', 'S-04', 'S-03'])
      assert.deepEqual(page.rows.map((r) => r.status), ['expired', 'expired', 'expired'])
      // The stored rows are left as they were: the search only reads.
      const stored = await db.selectFrom('orders').select(['order_no', 'status']).where('order_no', 'in', ['S-04', 'S-07']).orderBy('order_no').execute()
      assert.deepEqual(stored.map((r) => r.status), ['unpaid', 'unpaid'])
    })

    test('when the expired orders are read a page at a time, then the pages hold each of them once', async () => {
      const first = await search({ status: 'expired' }, 2)
      assert.deepEqual(numbers(first), ['S-07', 'S-04'])
      assert.ok(first.next)
      const second = await search({ status: 'expired' }, 2, first.next)
      assert.deepEqual(numbers(second), ['S-03'])
      assert.equal(second.next, null)
    })
  })

  describe('a summary row', () => {
    test('when an order is found, then its summary holds typed values and whether an anomaly names it', async () => {
      const [row] = (await search({ orderNo: 'S-05' })).rows
      assert.deepEqual(row, {
        orderNo: 'S-05',
        userId: 'alice',
        goodsId: 2,
        item: 'goods-2',
        priceFen: 3000,
        amountNum: 1,
        amountFen: 3000,
        serverFlag: 's3',
        status: 'paid',
        createdAt: T0 + 5 * MIN,
        expireAt: T0 + 35 * MIN,
        paidAt: T0 + 5 * MIN + 1000,
        gyyxOrderNo: 'GY-S-05',
        paidFen: 3000,
        latePayment: false,
        verifyCount: 0,
        firstVerifiedAt: null,
        anomaly: true,
      })
      assert.equal((await search({ orderNo: 'S-08' })).rows[0].anomaly, false)
    })
  })
})

forEachDialect('console order search pages', (dialect) => {
  let t: TestApp
  let db: Executor
  // 230 orders in 115 distinct milliseconds, two per millisecond: pages must split ties exactly.
  const total = 230
  const expected = Array.from({ length: total }, (_, i) => `P-${String(total - 1 - i).padStart(3, '0')}`)

  before(async () => {
    t = await createTestApp(dialect, { clock: () => T0 })
    db = t.ctx.store.db
    const seeds = Array.from({ length: total }, (_, i): Seed => ({
      no: `P-${String(i).padStart(3, '0')}`, at: Math.floor(i / 2) / MIN, status: 'cancelled', user: i % 2 === 0 ? 'even' : 'odd',
    }))
    await insertOrders(db, seeds)
  })
  after(async () => { await t.close() })

  for (const limit of [1, 3, 7, 50]) {
    test(`when every page of ${limit} is read in turn, then each order comes back exactly once, in order`, async () => {
      const seen: string[] = []
      let after: string | undefined
      for (let pages = 0; pages < total + 1; pages++) {
        const page = await searchOrders(db, {}, { limit, after }, NOW)
        assert.ok(page.rows.length <= limit)
        seen.push(...numbers(page))
        if (page.next === null) break
        after = page.next
      }
      assert.deepEqual(seen, expected)
    })
  }

  test('when pages are read with a filter, then the pages hold its orders once each', async () => {
    const seen: string[] = []
    let after: string | undefined
    do {
      const page = await searchOrders(db, { userId: 'odd' }, { limit: 4, after }, NOW)
      seen.push(...numbers(page))
      after = page.next ?? undefined
    } while (after)
    assert.deepEqual(seen, expected.filter((n) => Number(n.slice(2)) % 2 === 1))
  })

  test('when no limit is given, then a page holds 50; when more than 200 are asked for, then 200', async () => {
    const page = await searchOrders(db, {}, {}, NOW)
    assert.equal(page.rows.length, 50)
    assert.deepEqual(decodeCursor(page.next ?? ''), { createdAt: T0 + Math.floor(180 / 2), orderNo: 'P-180' })
    assert.equal((await searchOrders(db, {}, { limit: 1000 }, NOW)).rows.length, 200)
    assert.equal((await searchOrders(db, {}, { limit: 0 }, NOW)).rows.length, 1)
  })

  test('when the last page is exactly full, then next is null', async () => {
    const page = await searchOrders(db, { userId: 'odd' }, { limit: 115 }, NOW)
    assert.equal(page.rows.length, 115)
    assert.equal(page.next, null)
  })

  test('when the cursor is not one the search made, then INVALID_PARAMS naming it', async () => {
    for (const bad of ['%%%', encodeCursor({ createdAt: 1, orderNo: 'x' }).slice(3), Buffer.from('[1.5,"x"]').toString('base64url'),
      Buffer.from('{"a":1}').toString('base64url')]) {
      await assert.rejects(searchOrders(db, {}, { after: bad }, NOW), (err: unknown) => {
        assert.ok(err instanceof AppError)
        assert.equal(err.state, 'INVALID_PARAMS')
        assert.match(err.message, /after/)
        return true
      })
    }
  })
})

forEachDialect('console order search through the API', (dialect) => {
  let t: TestApp
  before(async () => { t = await createTestApp(dialect) })
  after(async () => { await t.close() })

  test('when an order is created and paid through the API, then its number, its platform number and its user find it', async () => {
    const paid = await createOrder(t.app, { user_id: 'api-user' })
    const open = await createOrder(t.app, { user_id: 'api-user', item: '钻石x60', item_id: '3', single_pric: 6 })
    assert.equal((await pay(t.app, paid.order, paid.rmb_yuan, { gyyx_order_no: 'GY-api' })).body.state, '')
    const now = Date.now()
    const db = t.ctx.store.db
    assert.deepEqual(numbers(await searchOrders(db, { orderNo: paid.order }, {}, now)), [paid.order])
    assert.deepEqual(numbers(await searchOrders(db, { gyyxOrderNo: 'GY-api' }, {}, now)), [paid.order])
    assert.deepEqual(new Set(numbers(await searchOrders(db, { userId: 'api-user' }, {}, now))), new Set([paid.order, open.order]))
    assert.deepEqual(numbers(await searchOrders(db, { userId: 'api-user', status: 'unpaid' }, {}, now)), [open.order])
    const [row] = (await searchOrders(db, { orderNo: paid.order }, {}, now)).rows
    assert.equal(row.status, 'paid')
    assert.equal(row.gyyxOrderNo, 'GY-api')
    assert.equal(row.paidFen, 3000)
  })
})

// A filter the planner answers by reading the whole table is one that gets slow with the table.
if (process.env.DIALECTS === undefined || process.env.DIALECTS.split(',').includes('sqlite')) {
  describe('console order search plans [sqlite]', () => {
    let t: TestApp
    before(async () => {
      t = await createTestApp('sqlite', { clock: () => T0 })
      await insertOrders(t.ctx.store.db, SEEDS)
    })
    after(async () => { await t.close() })

    const filters: [string, OrderFilter][] = [
      ['none', {}],
      ['order number', { orderNo: 'S-01' }],
      ['user id', { userId: 'alice' }],
      ['platform number', { gyyxOrderNo: 'GY-S-01' }],
      ['status paid', { status: 'paid' }],
      ['status unpaid', { status: 'unpaid' }],
      ['status expired', { status: 'expired' }],
      ['goods', { goodsId: 2 }],
      ['server flag', { serverFlag: 's1' }],
      ['date range', { from: T0, to: T0 + 10 * MIN }],
      ['has anomaly', { hasAnomaly: true }],
      ['a combination', { goodsId: 2, serverFlag: 's1', status: 'paid', from: T0 }],
    ]
    for (const [name, filter] of filters) {
      test(`when searching by ${name}, then SQLite's plan reads orders through an index`, async () => {
        const cursor = encodeCursor({ createdAt: T0 + 5 * MIN, orderNo: 'S-05' })
        for (const after of [undefined, cursor]) {
          const plan = await explainSearch(t.ctx.store.db, 'sqlite', filter, { page: { after }, now: NOW })
          assert.match(plan, /(SEARCH|SCAN) orders USING (COVERING )?INDEX/, plan)
          assert.doesNotMatch(plan, /SCAN orders\s*$/m, plan)
          assert.doesNotMatch(plan, /SCAN callbacks/, plan)
        }
      })
    }
  })
}
