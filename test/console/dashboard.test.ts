// The console's dashboard: orders created and paid, conversion and revenue per Shanghai calendar
// day over the last 30 days, and callbacks by outcome, counted from seeded rows.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import type { Executor } from '../../src/db/database.ts'
import { dashboard, shanghaiDayStart, type Dashboard } from '../../src/modules/console/dashboard/dashboard.repository.ts'
import { createTestApp, forEachDialect, type TestApp } from '../helper.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
// 15:00 on 10 June 2025 in Shanghai; the day began at 16:00 UTC on 9 June.
const NOW = Date.UTC(2025, 5, 10, 7, 0, 0)
const TODAY = Date.UTC(2025, 5, 9, 16, 0, 0)
// Beyond 32 bits: the drivers return the sum as a string or a bigint, which must come back exact.
const BIG = 9_000_000_000_000

interface Seed { no: string, createdAt: number, status: 'unpaid' | 'paid' | 'cancelled' | 'expired', paidAt?: number, paidFen?: number }

async function insertOrders (db: Executor, seeds: Seed[]) {
  await db.insertInto('orders').values(seeds.map((s) => ({
    order_no: s.no,
    user_id: 'dash',
    goods_id: 1,
    item: 'goods',
    price_fen: 100,
    amount_num: 1,
    amount_fen: 100,
    server_flag: 's1',
    status: s.status,
    open_key: null,
    created_at: s.createdAt,
    expire_at: s.createdAt + 30 * 60_000,
    updated_at: s.createdAt,
    paid_at: s.paidAt ?? null,
    gyyx_order_no: s.paidAt === undefined ? null : `GY-${s.no}`,
    paid_fen: s.paidFen ?? null,
    late_payment: 0,
    verify_count: 0,
  }))).execute()
}

async function insertCallbacks (db: Executor, seeds: [outcome: string, receivedAt: number][]) {
  await db.insertInto('callbacks').values(seeds.map(([outcome, receivedAt], i) => ({
    received_at: receivedAt,
    source_ip: '127.0.0.1',
    trace_id: `dash-${i}`,
    game_order_no: null,
    gyyx_order_no: null,
    params: '{}',
    sign_type: 'MD5',
    signature: 'valid',
    outcome,
    anomaly: outcome === 'amount_mismatch' ? 1 : 0,
  }))).execute()
}

forEachDialect('console dashboard', (dialect) => {
  let t: TestApp
  let board: Dashboard

  before(async () => {
    t = await createTestApp(dialect)
    const db = t.ctx.store.db
    await insertOrders(db, [
      // Today: two paid, one cancelled, one unpaid.
      { no: 'D-A', createdAt: TODAY, status: 'paid', paidAt: TODAY + HOUR, paidFen: BIG },
      { no: 'D-B', createdAt: TODAY + 10 * HOUR, status: 'paid', paidAt: TODAY + 10 * HOUR + 1, paidFen: BIG + 1 },
      { no: 'D-D', createdAt: TODAY + 11 * HOUR, status: 'cancelled' },
      { no: 'D-E', createdAt: NOW - 1, status: 'unpaid' },
      // The last millisecond of yesterday, paid just after midnight: created yesterday, paid today.
      { no: 'D-C', createdAt: TODAY - 1, status: 'paid', paidAt: TODAY + 5 * 60_000, paidFen: 500 },
      // The first day of the 30, and the day before it (created out of range, paid in it).
      { no: 'D-F', createdAt: TODAY - 29 * DAY, status: 'expired' },
      { no: 'D-G', createdAt: TODAY - 29 * DAY - 1, status: 'paid', paidAt: TODAY - 29 * DAY + HOUR, paidFen: 700 },
      { no: 'D-H', createdAt: TODAY - 40 * DAY, status: 'paid', paidAt: TODAY - 40 * DAY + 1, paidFen: 900 },
    ])
    await insertCallbacks(db, [
      ['paid', TODAY + HOUR],
      ['paid', TODAY + 10 * HOUR + 1],
      ['amount_mismatch', TODAY + 12 * HOUR],
      ['paid', TODAY - 1],
      ['SIGN_INVALID', TODAY - 5 * DAY],
      ['paid', TODAY - 30 * DAY],
    ])
    board = await dashboard(db, NOW)
  })
  after(async () => { await t.close() })

  test('when the dashboard is read, then it holds the 30 Shanghai days up to today, oldest first', () => {
    assert.equal(board.days.length, 30)
    assert.equal(board.days[29].day, '2025-06-10')
    assert.equal(board.days[29].start, TODAY)
    assert.equal(board.days[0].day, '2025-05-12')
    assert.equal(board.days[0].start, TODAY - 29 * DAY)
    assert.deepEqual(board.today, board.days[29])
    for (let i = 1; i < 30; i++) assert.equal(board.days[i].start - board.days[i - 1].start, DAY)
  })

  test('when orders were created and paid today, then today counts them, converts paid of created and sums revenue exactly', () => {
    assert.deepEqual(board.today, {
      day: '2025-06-10',
      start: TODAY,
      created: 4,
      createdPaid: 2,
      conversion: 0.5,
      paid: 3,
      revenueFen: BIG + BIG + 1 + 500,
    })
  })

  test('when an order was made in the last millisecond of yesterday, then it counts for yesterday, its payment for today', () => {
    assert.deepEqual(board.days[28], {
      day: '2025-06-09', start: TODAY - DAY, created: 1, createdPaid: 1, conversion: 1, paid: 0, revenueFen: 0,
    })
  })

  test('when orders fall on the first of the 30 days or before it, then only what happened in range counts', () => {
    assert.deepEqual(board.days[0], {
      day: '2025-05-12', start: TODAY - 29 * DAY, created: 1, createdPaid: 0, conversion: 0, paid: 1, revenueFen: 700,
    })
  })

  test('when a day had no orders, then it counts zeros and no conversion', () => {
    assert.deepEqual(board.days[10], {
      day: board.days[10].day, start: TODAY - 19 * DAY, created: 0, createdPaid: 0, conversion: null, paid: 0, revenueFen: 0,
    })
    const total = board.days.reduce((n, d) => n + d.created, 0)
    assert.equal(total, 6)
  })

  test('when callbacks were received, then they are counted by outcome for today and for the 30 days', () => {
    assert.deepEqual(board.callbacks, {
      today: { paid: 2, amount_mismatch: 1 },
      days: { paid: 3, amount_mismatch: 1, SIGN_INVALID: 1 },
    })
  })

  test('when nothing happened in the 30 days, then every day counts zero', async () => {
    const empty = await dashboard(t.ctx.store.db, TODAY - 100 * DAY)
    assert.equal(empty.days.length, 30)
    assert.ok(empty.days.every((d) => d.created === 0 && d.paid === 0 && d.revenueFen === 0 && d.conversion === null))
    assert.deepEqual(empty.callbacks, { today: {}, days: {} })
  })
})

test('when a time falls either side of midnight in Shanghai, then it belongs to that Shanghai day', () => {
  assert.equal(shanghaiDayStart(TODAY), TODAY)
  assert.equal(shanghaiDayStart(TODAY - 1), TODAY - DAY)
  assert.equal(shanghaiDayStart(NOW), TODAY)
  assert.equal(shanghaiDayStart(TODAY + DAY - 1), TODAY)
})
