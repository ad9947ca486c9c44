// Reconciliation's data layer: reading the platform's statement (encodings, headers, bad rows),
// matching it against the payments gamepay holds, and the paid-orders CSV export.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { parse } from 'csv-parse/sync'
import iconv from 'iconv-lite'
import { parseShanghaiTime, yuanText } from '../../src/modules/console/display.ts'
import { exportPaidOrdersCsv } from '../../src/modules/console/reconciliation/export.ts'
import { paidOrdersBetween, paymentsBetween, paymentsByPlatformNumbers } from '../../src/modules/console/reconciliation/reconciliation.repository.ts'
import { buildReport, reconcile } from '../../src/modules/console/reconciliation/report.ts'
import { MAX_STATEMENT_ROWS, parseStatement } from '../../src/modules/console/reconciliation/statement.ts'
import { createOrder, createTestApp, forEachDialect, pay, type TestApp } from '../helper.ts'

const HOUR = 3_600_000
const DAY = 24 * HOUR
/** Epoch ms of a wall-clock time in Asia/Shanghai (UTC+8). */
const shanghai = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h - 8, mi, s)
const csv = (...lines: string[]) => Buffer.from(lines.join('\n'))

describe('reconciliation statement', () => {
  test('when the statement is UTF-8 with an English header, then every row is read in yuan-exact fen and Shanghai time', () => {
    const parsed = parseStatement(csv(
      'gyyx_order_no,game_order_no,amount,time',
      'P1,811-1,30.00,2024-11-26 13:46:40',
      'P2,811-2,0.01,2024-11-26 13:46:41',
      'P3,811-3,128,2024-11-26 13:46:42',
      'P4,811-4,120.5,2024-11-26 13:46:43'
    ))
    assert.equal(parsed.encoding, 'utf-8')
    assert.deepEqual(parsed.errors, [])
    assert.deepEqual(parsed.rows, [
      { line: 2, gyyxOrderNo: 'P1', orderNo: '811-1', amountFen: 3000, paidAt: 1_732_600_000_000 },
      { line: 3, gyyxOrderNo: 'P2', orderNo: '811-2', amountFen: 1, paidAt: 1_732_600_001_000 },
      { line: 4, gyyxOrderNo: 'P3', orderNo: '811-3', amountFen: 12800, paidAt: 1_732_600_002_000 },
      { line: 5, gyyxOrderNo: 'P4', orderNo: '811-4', amountFen: 12050, paidAt: 1_732_600_003_000 },
    ])
  })

  test('when the statement is UTF-8 with a byte order mark and Chinese headers, then the mark is dropped and the headers are recognised', () => {
    const parsed = parseStatement(Buffer.concat([
      Buffer.from([0xef, 0xbb, 0xbf]),
      csv(' 平台订单号 ,游戏订单号,金额,支付时间', 'P1,811-1,30.00,2024/11/26 13:46:40'),
    ]))
    assert.equal(parsed.encoding, 'utf-8-bom')
    assert.deepEqual(parsed.errors, [])
    assert.deepEqual(parsed.rows, [{ line: 2, gyyxOrderNo: 'P1', orderNo: '811-1', amountFen: 3000, paidAt: 1_732_600_000_000 }])
  })

  test('when the statement is GBK with Chinese headers, then it is decoded as GBK and errors name the Chinese column', () => {
    const text = ['支付时间,金额,备注,游戏订单号,平台订单号', '2024-11-26 13:46:40,30.00,首充礼包,811-1,P1', '2024-11-26 13:46:41,三十元,月卡,811-2,P2'].join('\r\n')
    const bytes = iconv.encode(text, 'gbk')
    assert.notDeepEqual(bytes, Buffer.from(text))
    const parsed = parseStatement(bytes)
    assert.equal(parsed.encoding, 'gbk')
    assert.deepEqual(parsed.rows, [{ line: 2, gyyxOrderNo: 'P1', orderNo: '811-1', amountFen: 3000, paidAt: 1_732_600_000_000 }])
    assert.equal(parsed.errors.length, 1)
    assert.equal(parsed.errors[0].line, 3)
    assert.match(parsed.errors[0].message, /^金额: "三十元" is not a positive amount/)
    assert.match(parsed.errors[0].zh, /^金额：“三十元”/)
  })

  test('when there is no header, then the columns are platform, game, amount, time and extra cells are ignored', () => {
    const parsed = parseStatement(csv('P1,811-1,30.00,2024-11-26 13:46:40,extra', 'P2,811-2,60,2024-11-26T05:46:40Z'))
    assert.equal(parsed.encoding, 'utf-8')
    assert.deepEqual(parsed.errors, [])
    assert.deepEqual(parsed.rows, [
      { line: 1, gyyxOrderNo: 'P1', orderNo: '811-1', amountFen: 3000, paidAt: 1_732_600_000_000 },
      { line: 2, gyyxOrderNo: 'P2', orderNo: '811-2', amountFen: 6000, paidAt: 1_732_600_000_000 },
    ])
  })

  test('when the header puts the columns in another order under other accepted names, then each column is read by its name', () => {
    const parsed = parseStatement(csv('PAID_AT,RMB_Yuan,status,Order_No,platform_order_no', '2024-11-26 13:46:40,30.00,ok,811-1,P1'))
    assert.deepEqual(parsed.errors, [])
    assert.deepEqual(parsed.rows, [{ line: 2, gyyxOrderNo: 'P1', orderNo: '811-1', amountFen: 3000, paidAt: 1_732_600_000_000 }])
  })

  test('when cells are quoted, hold commas, doubled quotes or line breaks, then they are read whole and later line numbers still count', () => {
    const parsed = parseStatement(csv(
      'gyyx_order_no,game_order_no,amount,time,remark',
      '"P1","811-1","30.00","2024-11-26 13:46:40","a, b"',
      'P2,811-2,30.00,2024-11-26 13:46:40,"said ""hi""',
      'over two lines"',
      '',
      '"P3",811-3, 30.00 ,2024-11-26 13:46:40,',
      'P4,811-4,30.001,2024-11-26 13:46:40,'
    ))
    assert.deepEqual(parsed.rows.map((r) => [r.line, r.gyyxOrderNo, r.amountFen]), [[2, 'P1', 3000], [3, 'P2', 3000], [6, 'P3', 3000]])
    assert.deepEqual(parsed.errors.map((e) => e.line), [7])
  })

  test('when amounts have three decimals, a sign, text or nothing, then each such row is an error naming amount and its line, and the others are kept', () => {
    const parsed = parseStatement(csv(
      'gyyx_order_no,game_order_no,amount,time',
      'P1,811-1,30.001,2024-11-26 13:46:40',
      'P2,811-2,30.00,2024-11-26 13:46:40',
      'P3,811-3,-30.00,2024-11-26 13:46:40',
      'P4,811-4,thirty,2024-11-26 13:46:40',
      'P5,811-5,,2024-11-26 13:46:40',
      'P6,811-6,0,2024-11-26 13:46:40',
      'P7,811-7,1.50,2024-11-26 13:46:40',
      `P8,811-8,${'9'.repeat(100)},2024-11-26 13:46:40`
    ))
    assert.deepEqual(parsed.rows.map((r) => [r.line, r.gyyxOrderNo, r.amountFen]), [[3, 'P2', 3000], [8, 'P7', 150]])
    assert.deepEqual(parsed.errors.map((e) => [e.line, e.message]), [
      [2, 'amount: "30.001" is not a positive amount in yuan with at most two decimals'],
      [4, 'amount: "-30.00" is not a positive amount in yuan with at most two decimals'],
      [5, 'amount: "thirty" is not a positive amount in yuan with at most two decimals'],
      [6, 'amount: empty'],
      [7, 'amount: "0" is not a positive amount in yuan with at most two decimals'],
      [9, `amount: "${'9'.repeat(64)}…" is not a positive amount in yuan with at most two decimals`],
    ])
  })

  test('when a headerless first row has a bad amount, then it is reported as a row, not taken for a header', () => {
    const parsed = parseStatement(csv('P1,811-1,30.001,2024-11-26 13:46:40', 'P2,811-2,30.00,2024-11-26 13:46:40'))
    assert.deepEqual(parsed.rows.map((r) => r.gyyxOrderNo), ['P2'])
    assert.deepEqual(parsed.errors.map((e) => [e.line, e.message]), [[1, 'amount: "30.001" is not a positive amount in yuan with at most two decimals']])
  })

  test('when times are impossible, unrecognised or lack an offset after T, then each such row is an error naming time and its line', () => {
    const parsed = parseStatement(csv(
      'gyyx_order_no,game_order_no,amount,time',
      'P1,811-1,30.00,2024-02-30 10:00:00',
      'P2,811-2,30.00,yesterday',
      'P3,811-3,30.00,2024-11-26T13:46:40',
      'P4,811-4,30.00,2024-11-26 24:00:00',
      'P5,811-5,30.00,1732600000',
      'P6,811-6,30.00,2024-11-26 13:46:40'
    ))
    assert.deepEqual(parsed.rows.map((r) => r.gyyxOrderNo), ['P6'])
    assert.deepEqual(parsed.errors.map((e) => e.line), [2, 3, 4, 5, 6])
    for (const e of parsed.errors) assert.match(e.message, /^time: ".*" is not a time/)
    assert.match(parsed.errors[0].zh, /^time：“2024-02-30 10:00:00” 不是有效时间/)
  })

  test('when times come in the accepted forms, then they are the same instant', () => {
    const instant = 1_732_600_000_000
    for (const text of ['2024-11-26 13:46:40', '2024/11/26 13:46:40', '2024-11-26T13:46:40+08:00', '2024-11-26T05:46:40Z',
      '2024-11-26T05:46:40.000Z', '2024-11-26T00:46:40-05:00', '2024-11-26 13:46:40+0800', '2024/11/26 13:46:40+08:00']) {
      assert.equal(parseShanghaiTime(text), instant, text)
    }
    assert.equal(parseShanghaiTime('2024/1/5 8:00'), shanghai(2024, 1, 5, 8))
    assert.equal(parseShanghaiTime('2024-11-26T05:46:40.123Z'), instant + 123)
    for (const text of ['2024-11-26', '2024-11/26 13:46:40', '2024-13-01 00:00:00', '2024-11-26 13:60:00', '2024-11-26T13:46:40+15:00', '']) {
      assert.equal(parseShanghaiTime(text), null, text)
    }
  })

  test('when a platform order number comes twice, then the later line is an error and the first row is kept', () => {
    const parsed = parseStatement(csv(
      'P1,811-1,30.00,2024-11-26 13:46:40',
      'P2,811-2,30.00,2024-11-26 13:46:40',
      'P1,811-3,60.00,2024-11-26 13:46:40'
    ))
    assert.deepEqual(parsed.rows.map((r) => [r.line, r.gyyxOrderNo, r.orderNo]), [[1, 'P1', '811-1'], [2, 'P2', '811-2']])
    assert.deepEqual(parsed.errors.map((e) => [e.line, e.message]), [[3, 'gyyx_order_no: "P1" is already on line 1']])
  })

  test('when order numbers are empty, too long or hold control characters, then the row is an error naming the column', () => {
    const parsed = parseStatement(csv(
      ',811-1,30.00,2024-11-26 13:46:40',
      `${'P'.repeat(129)},811-2,30.00,2024-11-26 13:46:40`,
      'P3,"811\u00013",30.00,2024-11-26 13:46:40',
      'P4,811-4,30.00,2024-11-26 13:46:40'
    ))
    assert.deepEqual(parsed.rows.map((r) => r.gyyxOrderNo), ['P4'])
    assert.deepEqual(parsed.errors.map((e) => [e.line, e.message]), [
      [1, 'gyyx_order_no: empty'],
      [2, 'gyyx_order_no: longer than 128 characters'],
      [3, 'game_order_no: holds a control character'],
    ])
  })

  test('when rows have broken quotes, then each is an error on its own line and the rows around them are kept', () => {
    const parsed = parseStatement(csv(
      'P1,811-1,30.00,2024-11-26 13:46:40',
      'P2,"811-2"x,30.00,2024-11-26 13:46:40',
      'P3,811-3,30.00,2024-11-26 13:46:40',
      '',
      'P4,"811-4,30.00,2024-11-26 13:46:40',
      'P5,811-5,30.00,2024-11-26 13:46:40',
      'P6,811"6,30.00,2024-11-26 13:46:40'
    ))
    assert.deepEqual(parsed.rows.map((r) => [r.line, r.gyyxOrderNo, r.orderNo]), [[1, 'P1', '811-1'], [3, 'P3', '811-3'], [6, 'P5', '811-5'], [7, 'P6', '811"6']])
    assert.deepEqual(parsed.errors.map((e) => e.line), [2, 5])
    for (const e of parsed.errors) assert.match(e.message, /^not readable as CSV: a quote is not closed/)

    const garbled = parseStatement(csv(...Array.from({ length: 150 }, (_, i) => `P${i},"811"x,30.00,2024-11-26 13:46:40`)))
    assert.deepEqual(garbled.rows, [])
    assert.equal(garbled.errors.length, 101)
    assert.deepEqual(garbled.errors.at(-1), { line: 100, message: '100 unreadable rows: the rest of the file is not read', zh: '100 行无法读取：文件其余部分未读取' })
  })

  test('when the header lacks a column, then the statement is refused with one error naming it', () => {
    const parsed = parseStatement(csv('gyyx_order_no,order_no,金额', 'P1,811-1,30.00'))
    assert.deepEqual(parsed.rows, [])
    assert.deepEqual(parsed.errors.map((e) => [e.line, e.message]), [[1, 'the header has no time column (time / paid_at / 支付时间)']])
  })

  test('when the file is empty or only blank lines, then there are no rows and no errors', () => {
    assert.deepEqual(parseStatement(Buffer.alloc(0)), { rows: [], encoding: 'utf-8', errors: [] })
    assert.deepEqual(parseStatement(csv('', ',,,', '  ')), { rows: [], encoding: 'utf-8', errors: [] })
  })

  test(`when the statement has ${MAX_STATEMENT_ROWS} rows, then all are read; one more and it is refused with one error`, () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `P${i},811-${i},1.00,2024-11-26 13:46:40`)
    const full = parseStatement(csv('gyyx_order_no,game_order_no,amount,time', ...lines(MAX_STATEMENT_ROWS)))
    assert.equal(full.rows.length, MAX_STATEMENT_ROWS)
    assert.deepEqual(full.errors, [])
    const over = parseStatement(csv('gyyx_order_no,game_order_no,amount,time', ...lines(MAX_STATEMENT_ROWS + 1)))
    assert.deepEqual(over.rows, [])
    assert.equal(over.errors.length, 1)
    assert.equal(over.errors[0].line, MAX_STATEMENT_ROWS + 2)
    assert.match(over.errors[0].message, /^more than 100000 rows/)
  })
})

describe('reconcile', () => {
  test('when the statement and the payments differ, then each difference lands in its list and equal rows are counted', () => {
    const row = (n: string, orderNo: string, amountFen: number) => ({ line: 1, gyyxOrderNo: n, orderNo, amountFen, paidAt: 0 })
    const ours = (n: string, orderNo: string, amountFen: number) => ({ gyyxOrderNo: n, orderNo, amountFen, createdAt: 0, kind: 'applied', appliedBy: null })
    const result = reconcile(
      [row('P1', 'o1', 100), row('P2', 'o2', 200), row('P3', 'o3', 300), row('P4', 'o4', 400), row('P5', 'o5', 500)],
      [ours('P1', 'o1', 100), ours('P2', 'o2', 250), ours('P4', 'oX', 400), ours('P5', 'oY', 501), ours('P9', 'o9', 900)])
    assert.deepEqual(result, {
      missingInGamepay: [row('P3', 'o3', 300)],
      missingOnPlatform: [ours('P9', 'o9', 900)],
      amountDifferences: [{ statement: row('P2', 'o2', 200), ours: ours('P2', 'o2', 250) }, { statement: row('P5', 'o5', 500), ours: ours('P5', 'oY', 501) }],
      orderDifferences: [{ statement: row('P4', 'o4', 400), ours: ours('P4', 'oX', 400) }, { statement: row('P5', 'o5', 500), ours: ours('P5', 'oY', 501) }],
      matched: 1,
    })
  })

  test('when fen amounts are formatted for the export, then they are exact yuan text', () => {
    assert.deepEqual([3000, 1, 5, 10, 12088, 100_000_000_000].map(yuanText), ['30.00', '0.01', '0.05', '0.10', '120.88', '1000000000.00'])
  })
})

forEachDialect('reconciliation', (dialect) => {
  let t: TestApp
  let now = shanghai(2024, 11, 1)
  let users = 0

  before(async () => { t = await createTestApp(dialect, { clock: () => now }) })
  after(async () => { await t.close() })

  /** An order created at `createdAt` and paid by a signed callback at `paidAt`; its platform order number. */
  async function paidOrder (createdAt: number, paidAt: number, overrides: Record<string, unknown> = {}) {
    now = createdAt
    const o = await createOrder(t.app, { user_id: `recon-${++users}` })
    now = paidAt
    const res = await pay(t.app, o.order, 30, overrides)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    const payment = await t.ctx.store.db.selectFrom('payments').select(['gyyx_order_no', 'kind', 'created_at'])
      .where('order_no', '=', o.order).orderBy('id', 'desc').executeTakeFirstOrThrow()
    assert.equal(Number(payment.created_at), paidAt)
    return { orderNo: o.order, gyyxOrderNo: payment.gyyx_order_no, kind: payment.kind }
  }

  async function insertPaidOrder (o: { orderNo: string, userId?: string, item?: string, amountFen?: number, paidAt: number, late?: boolean }) {
    const amountFen = o.amountFen ?? 3000
    await t.ctx.store.db.insertInto('orders').values({
      order_no: o.orderNo,
      user_id: o.userId ?? 'recon-export',
      goods_id: 2,
      item: o.item ?? '月卡',
      price_fen: amountFen,
      amount_num: 1,
      amount_fen: amountFen,
      server_flag: 's1',
      description: null,
      game_role_id: null,
      game_role_name: null,
      game_role_grade: null,
      status: 'paid',
      open_key: null,
      created_at: o.paidAt - 60_000,
      expire_at: o.paidAt + HOUR,
      updated_at: o.paidAt,
      paid_at: o.paidAt,
      gyyx_order_no: `G${o.orderNo}`,
      paid_fen: amountFen,
      late_payment: o.late ? 1 : 0,
      verify_count: 0,
      first_verified_at: null,
    }).execute()
  }

  const paymentCount = async () => Number((await t.ctx.store.db.selectFrom('payments').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)

  test('when payments are read for a window, then applied and late ones recorded in [from, to) come back, duplicates not', async () => {
    const from = shanghai(2024, 10, 1)
    const to = shanghai(2024, 10, 2)
    const early = await paidOrder(from - HOUR, from - 1)
    const first = await paidOrder(from - 60_000, from)
    const late = await paidOrder(from + HOUR, from + 3 * HOUR) // past the 30-minute order lifetime
    const duplicate = await paidOrder(from + 5 * HOUR - 60_000, from + 5 * HOUR, { gyyx_order_no: 'P-recon-dup-window' })
    now = from + 6 * HOUR
    assert.equal((await pay(t.app, duplicate.orderNo, 30, { gyyx_order_no: 'P-recon-dup-window-2' })).status, 200)
    const last = await paidOrder(to - 60_000, to - 1)
    const atEnd = await paidOrder(to - 60_000, to)
    assert.equal(late.kind, 'late')
    await t.ctx.store.db.updateTable('payments').set({ applied_by: 'alice' }).where('gyyx_order_no', '=', last.gyyxOrderNo).execute()

    const rows = await paymentsBetween(t.ctx.store.db, from, to)
    assert.deepEqual(rows, [
      { gyyxOrderNo: first.gyyxOrderNo, orderNo: first.orderNo, amountFen: 3000, createdAt: from, kind: 'applied', appliedBy: null },
      { gyyxOrderNo: late.gyyxOrderNo, orderNo: late.orderNo, amountFen: 3000, createdAt: from + 3 * HOUR, kind: 'late', appliedBy: null },
      { gyyxOrderNo: 'P-recon-dup-window', orderNo: duplicate.orderNo, amountFen: 3000, createdAt: from + 5 * HOUR, kind: 'applied', appliedBy: null },
      { gyyxOrderNo: last.gyyxOrderNo, orderNo: last.orderNo, amountFen: 3000, createdAt: to - 1, kind: 'applied', appliedBy: 'alice' },
    ])
    assert.ok(!rows.some((r) => r.gyyxOrderNo === early.gyyxOrderNo || r.gyyxOrderNo === atEnd.gyyxOrderNo))
    const stored = await t.ctx.store.db.selectFrom('payments').select('kind').where('gyyx_order_no', '=', 'P-recon-dup-window-2').executeTakeFirstOrThrow()
    assert.equal(stored.kind, 'duplicate')
  })

  test('when payments are looked up by more platform numbers than one IN list holds, then every stored one is found once, of any kind', async () => {
    const base = shanghai(2024, 9, 1)
    const a = await paidOrder(base, base + 1000)
    const b = await paidOrder(base + 2000, base + 3000)
    now = base + 4000
    assert.equal((await pay(t.app, b.orderNo, 30, { gyyx_order_no: 'P-recon-dup-lookup' })).status, 200)
    const numbers = Array.from({ length: 1200 }, (_, i) => `P-recon-absent-${i}`)
    numbers[0] = a.gyyxOrderNo
    numbers[500] = b.gyyxOrderNo
    numbers[1199] = 'P-recon-dup-lookup'
    numbers.push(a.gyyxOrderNo)
    const found = await paymentsByPlatformNumbers(t.ctx.store.db, numbers)
    assert.deepEqual(found.map((p) => [p.gyyxOrderNo, p.kind]).sort(), [[a.gyyxOrderNo, 'applied'], [b.gyyxOrderNo, 'applied'], ['P-recon-dup-lookup', 'duplicate']].sort())
    assert.deepEqual(await paymentsByPlatformNumbers(t.ctx.store.db, []), [])
  })

  test('when a statement is reconciled, then it finds the lost payment, the one the platform lacks, the amount and order differences, and counts the matches', async () => {
    const t0 = shanghai(2024, 11, 26, 10)
    // Paid the evening before the statement's first payment: another day's statement lists it.
    const dayBefore = await paidOrder(t0 - 12 * HOUR - 60_000, t0 - 12 * HOUR)
    const matched = await paidOrder(t0 - 60_000, t0)
    const amountDiffers = await paidOrder(t0 + HOUR - 60_000, t0 + HOUR)
    const platformLacks = await paidOrder(t0 + 2 * HOUR - 60_000, t0 + 2 * HOUR)
    now = t0 + 3 * HOUR
    const lost = await createOrder(t.app, { user_id: `recon-${++users}` })
    // Its callback came three days after the platform took the money: outside the window.
    const arrivedLate = await paidOrder(t0 + 3 * DAY - 60_000, t0 + 3 * DAY)
    const late = await paidOrder(t0 + 4 * HOUR, t0 + 5 * HOUR)
    now = t0 + 6 * HOUR
    assert.equal((await pay(t.app, matched.orderNo, 30, { gyyx_order_no: 'P-recon-dup-report' })).status, 200)
    const orderDiffers = await paidOrder(t0 + 7 * HOUR - 60_000, t0 + 7 * HOUR)
    // Far outside the statement's span and not on it: not part of this reconciliation.
    await paidOrder(t0 + 10 * DAY - 60_000, t0 + 10 * DAY)

    const time = (ms: number) => new Date(ms + 8 * HOUR).toISOString().slice(0, 19).replace('T', ' ')
    const parsed = parseStatement(csv(
      '平台订单号,游戏订单号,金额,支付时间',
      `${matched.gyyxOrderNo},${matched.orderNo},30.00,${time(t0 - 5000)}`,
      `${amountDiffers.gyyxOrderNo},${amountDiffers.orderNo},31.00,${time(t0 + HOUR)}`,
      `P-recon-lost,${lost.order},30.00,${time(t0 + 3 * HOUR)}`,
      `${arrivedLate.gyyxOrderNo},${arrivedLate.orderNo},30.00,${time(t0 + 30 * 60_000)}`,
      `${late.gyyxOrderNo},${late.orderNo},30,${time(t0 + 5 * HOUR)}`,
      `P-recon-dup-report,${matched.orderNo},30.00,${time(t0 + 6 * HOUR)}`,
      `${orderDiffers.gyyxOrderNo},811-000000000001,30.00,${time(t0 + 7 * HOUR)}`
    ))
    assert.deepEqual(parsed.errors, [])
    const countBefore = await paymentCount()

    const report = await buildReport(t.ctx.store, parsed.rows)
    // The statement's own span, from its first payment to just past its last.
    assert.deepEqual(report.window, { from: t0 - 5000, to: t0 + 7 * HOUR + 1 })
    assert.equal(report.matched, 4)
    assert.deepEqual(report.missingInGamepay, [{ line: 4, gyyxOrderNo: 'P-recon-lost', orderNo: lost.order, amountFen: 3000, paidAt: t0 + 3 * HOUR }])
    assert.deepEqual(report.missingOnPlatform, [
      { gyyxOrderNo: platformLacks.gyyxOrderNo, orderNo: platformLacks.orderNo, amountFen: 3000, createdAt: t0 + 2 * HOUR, kind: 'applied', appliedBy: null },
    ])
    assert.ok(!report.missingOnPlatform.some((p) => p.gyyxOrderNo === dayBefore.gyyxOrderNo))
    assert.deepEqual(report.amountDifferences.map((d) => [d.statement.line, d.statement.amountFen, d.ours.gyyxOrderNo, d.ours.amountFen]),
      [[3, 3100, amountDiffers.gyyxOrderNo, 3000]])
    assert.deepEqual(report.orderDifferences.map((d) => [d.statement.line, d.statement.orderNo, d.ours.orderNo]),
      [[8, '811-000000000001', orderDiffers.orderNo]])

    // Given explicitly, the window is used as given: [from, to) leaves out the payment at `to`.
    const narrowed = await buildReport(t.ctx.store, parsed.rows, { from: t0 - HOUR, to: t0 + 2 * HOUR })
    assert.deepEqual(narrowed.window, { from: t0 - HOUR, to: t0 + 2 * HOUR })
    assert.deepEqual(narrowed.missingOnPlatform, [])
    assert.equal(narrowed.matched, 4)

    // A report only reads.
    assert.equal(await paymentCount(), countBefore)
    const lostOrder = await t.ctx.store.db.selectFrom('orders').select(['status', 'paid_at']).where('order_no', '=', lost.order).executeTakeFirstOrThrow()
    assert.deepEqual([lostOrder.status, lostOrder.paid_at], ['unpaid', null])
  })

  test('when an empty statement is reconciled, then nothing is compared unless a window is given', async () => {
    const empty = await buildReport(t.ctx.store, [])
    assert.deepEqual(empty, { window: null, missingInGamepay: [], missingOnPlatform: [], amountDifferences: [], orderDifferences: [], matched: 0 })
    const t0 = shanghai(2024, 12, 5, 10)
    const paid = await paidOrder(t0 - 60_000, t0)
    const windowed = await buildReport(t.ctx.store, [], { from: t0, to: t0 + HOUR })
    assert.deepEqual(windowed.window, { from: t0, to: t0 + HOUR })
    assert.deepEqual(windowed.missingOnPlatform.map((p) => p.gyyxOrderNo), [paid.gyyxOrderNo])
  })

  test('when paid orders are exported, then the CSV has a BOM, a header, yuan text and Shanghai times, in paid order within [from, to)', async () => {
    const from = shanghai(2024, 8, 10)
    const to = shanghai(2024, 8, 11)
    const tie = from + HOUR
    await insertPaidOrder({ orderNo: 'X-0001', paidAt: from - 1 })
    await insertPaidOrder({ orderNo: 'X-0002', paidAt: from, amountFen: 12088 })
    await insertPaidOrder({ orderNo: 'X-0005', paidAt: tie })
    await insertPaidOrder({ orderNo: 'X-0003', paidAt: tie, late: true })
    await insertPaidOrder({ orderNo: 'X-0004', paidAt: tie })
    await insertPaidOrder({ orderNo: 'X-0006', paidAt: from + 2 * HOUR, userId: '=1+2', item: '礼包, "至尊"\n第二行', amountFen: 5 })
    const viaCallback = await paidOrder(from + 3 * HOUR - 60_000, from + 3 * HOUR)
    const stored = await t.ctx.store.db.selectFrom('orders').select(['user_id', 'server_flag']).where('order_no', '=', viaCallback.orderNo).executeTakeFirstOrThrow()
    await insertPaidOrder({ orderNo: 'X-0007', paidAt: to - 1, amountFen: 100_000_000 })
    await insertPaidOrder({ orderNo: 'X-0008', paidAt: to })

    const chunks: string[] = []
    for await (const chunk of exportPaidOrdersCsv(t.ctx.store, from, to, { pageSize: 2 })) chunks.push(chunk)
    // The header, then one chunk per page of two orders.
    assert.equal(chunks.length, 1 + 4)
    const text = chunks.join('')
    assert.ok(text.startsWith('\uFEFF'))
    const records = parse(text.slice(1)) as string[][]
    const row = (orderNo: string, paidAt: string, more: Partial<Record<'user' | 'item' | 'amount' | 'gyyx' | 'late', string>> = {}) =>
      [orderNo, more.user ?? 'recon-export', more.item ?? '月卡', more.amount ?? '30.00', more.amount ?? '30.00', more.gyyx ?? `G${orderNo}`, 's1', paidAt, more.late ?? 'false']
    assert.deepEqual(records, [
      ['order_no', 'user_id', 'item', 'amount_yuan', 'paid_yuan', 'gyyx_order_no', 'server_flag', 'paid_at', 'late_payment'],
      row('X-0002', '2024-08-10 00:00:00', { amount: '120.88' }),
      row('X-0003', '2024-08-10 01:00:00', { late: 'true' }),
      row('X-0004', '2024-08-10 01:00:00'),
      row('X-0005', '2024-08-10 01:00:00'),
      // A cell that Excel would run as a formula is quoted out with an apostrophe.
      row('X-0006', '2024-08-10 02:00:00', { user: "'=1+2", item: '礼包, "至尊"\n第二行', amount: '0.05' }),
      [viaCallback.orderNo, stored.user_id, '月卡', '30.00', '30.00', viaCallback.gyyxOrderNo, stored.server_flag, '2024-08-10 03:00:00', 'false'],
      row('X-0007', '2024-08-10 23:59:59', { amount: '1000000.00' }),
    ])

    const pages: number[] = []
    for await (const page of paidOrdersBetween(t.ctx.store.db, from, to, { pageSize: 3 })) pages.push(page.length)
    assert.deepEqual(pages, [3, 3, 1])
    const none: string[] = []
    for await (const chunk of exportPaidOrdersCsv(t.ctx.store, to + DAY, to + 2 * DAY)) none.push(chunk)
    assert.deepEqual(none, ['\uFEFForder_no,user_id,item,amount_yuan,paid_yuan,gyyx_order_no,server_flag,paid_at,late_payment\r\n'])
  })
})
