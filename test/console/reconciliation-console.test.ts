// The reconciliation pages and admin API: the paid-orders CSV export, uploading the platform's
// statement (UTF-8 and GBK) to see what differs, and applying a lost payment exactly once.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { parse } from 'csv-parse/sync'
import iconv from 'iconv-lite'
import { STATEMENT_BYTES } from '../../src/modules/console/console.plugin.ts'
import { createOrder, createTestApp, forEachDialect, orderRow, pay, paymentsOf, type TestApp } from '../helper.ts'
import { form, signIn, tokenFor, type Session } from './console-helper.ts'

const MINUTE = 60_000
/** Epoch ms of a wall-clock time in Asia/Shanghai (UTC+8). */
const shanghai = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => Date.UTC(y, mo - 1, d, h - 8, mi, s)
const T0 = shanghai(2025, 3, 10, 10)
/** `YYYY-MM-DD HH:mm:ss` in Asia/Shanghai, as the platform writes its statement. */
const wallClock = (ms: number) => new Date(ms + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ')

/** A multipart/form-data body as a browser sends the upload form. */
async function multipart (fields: Record<string, string>, statement?: Buffer) {
  const data = new FormData()
  for (const [name, value] of Object.entries(fields)) data.append(name, value)
  if (statement) data.append('statement', new Blob([new Uint8Array(statement)], { type: 'text/csv' }), 'statement.csv')
  const body = new Response(data)
  return { payload: Buffer.from(await body.arrayBuffer()), contentType: body.headers.get('content-type') ?? '' }
}

/** The report page's sections by their heading id: errors, missing-in-gamepay, missing-on-platform, amount_differences, order_differences. */
const sections = (html: string) => Object.fromEntries(html.split('<h3 id="').slice(1).map((s) => [s.slice(0, s.indexOf('-heading')), s]))

forEachDialect('console reconciliation', (dialect) => {
  let t: TestApp
  let now = T0
  let users = 0
  let admin: Session
  let viewer: Session
  let adminToken: string
  let viewerToken: string
  const orders = { matched: '', amountDiffers: '', oursOnly: '', lost: '', lostViaApi: '', other: '' }

  const db = () => t.ctx.store.db
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const newOrder = async () => (await createOrder(t.app, { user_id: `recon-ui-${++users}` })).order

  /** The statement the platform sends for the morning of T0: one matched, one amount difference, one lost payment, one bad row. */
  const statementLines = (header: string) => [
    header,
    `G-MATCHED,${orders.matched},30.00,${wallClock(T0 + MINUTE)}`,
    `G-DIFF,${orders.amountDiffers},31.00,${wallClock(T0 + 2 * MINUTE)}`,
    `G-LOST,${orders.lost},30,${wallClock(T0 + 4 * MINUTE)}`,
    `G-BAD,${orders.other},<b>30</b>,${wallClock(T0 + 4 * MINUTE)}`,
  ]
  const utf8Statement = () => Buffer.from(statementLines('gyyx_order_no,game_order_no,amount,time').join('\n'))
  const gbkStatement = () => iconv.encode(statementLines('平台订单号,游戏订单号,金额,支付时间').join('\r\n'), 'gbk')

  async function upload (session: Session | null, statement: Buffer | undefined, fields: Record<string, string> = {}, query = '') {
    const { payload, contentType } = await multipart({ ...(session ? { _csrf: session.csrf } : {}), ...fields }, statement)
    // The CSRF token travels as the form's _csrf field, as from the page; no header.
    return t.app.inject({ method: 'POST', url: `/console/reconciliation/import${query}`, headers: { 'content-type': contentType }, cookies: session?.cookies ?? {}, payload })
  }

  const applyFields = (orderNo: string, gyyxOrderNo: string, amount = '30.00', paidAt = new Date(T0 + 4 * MINUTE).toISOString()) =>
    ({ gyyx_order_no: gyyxOrderNo, order_no: orderNo, amount, paid_at: paidAt, note: 'lost callback, ticket 42' })

  const count = async (table: 'payments' | 'callbacks' | 'notification_events' | 'audit_log') =>
    Number((await db().selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n)
  const snapshot = async () => ({
    payments: await count('payments'),
    callbacks: await count('callbacks'),
    events: await count('notification_events'),
    applies: (await auditOf('payment.manual-apply')).length,
    lost: (await orderRow(t, orders.lost)).status,
  })
  async function auditOf (action: string) {
    const rows = await db().selectFrom('audit_log').selectAll().where('action', '=', action).orderBy('id').execute()
    return rows.map((r) => ({
      operator: r.operator,
      target: r.target,
      before: r.before_value === null ? null : JSON.parse(r.before_value),
      after: r.after_value === null ? null : JSON.parse(r.after_value),
    }))
  }
  const eventsOf = (orderNo: string) => db().selectFrom('notification_events').selectAll().where('order_no', '=', orderNo).execute()

  before(async () => {
    // A notification endpoint nobody answers: order.paid events are made, and none is delivered here.
    t = await createTestApp(dialect, { clock: () => now, env: { NOTIFY_URL: 'http://127.0.0.1:9/' } })
    admin = await signIn(t, 'recon-admin', 'admin')
    viewer = await signIn(t, 'recon-viewer', 'viewer')
    adminToken = await tokenFor(t, 'recon-script', 'admin')
    viewerToken = await tokenFor(t, 'recon-reader', 'viewer')
    now = T0
    for (const key of Object.keys(orders) as Array<keyof typeof orders>) orders[key] = await newOrder()
    // Paid through real signed callbacks, as the platform does.
    for (const [orderNo, gyyx, minutes] of [[orders.matched, 'G-MATCHED', 1], [orders.amountDiffers, 'G-DIFF', 2], [orders.oursOnly, 'G-OURS', 3]] as const) {
      now = T0 + minutes * MINUTE
      const res = await pay(t.app, orderNo, 30, { gyyx_order_no: gyyx })
      assert.equal(res.body.result, 'success', JSON.stringify(res.body))
    }
    now = T0 + 5 * MINUTE
  })
  after(async () => { await t.close() })

  test('when an admin opens the page, then it offers the export by day and the statement upload, labelled and with the CSRF field', async () => {
    const res = await admin.inject({ url: '/console/reconciliation?lang=en' })
    assert.equal(res.statusCode, 200)
    assert.match(res.headers['content-type'] as string, /^text\/html/)
    const html = res.body
    assert.match(html, /<form method="get" action="\/console\/reconciliation\/export.csv"/)
    // Yesterday, Asia/Shanghai, by default.
    assert.match(html, /<label for="export-from">From<\/label>\s*<input id="export-from" name="from" type="date" required value="2025-03-09">/)
    assert.match(html, /<form method="post" action="\/console\/reconciliation\/import" enctype="multipart\/form-data"/)
    assert.match(html, /<label for="statement">Statement file<\/label>\s*<input id="statement" name="statement" type="file"/)
    assert.ok(html.includes(`name="_csrf" value="${admin.csrf}"`))
    assert.ok(!html.includes('report-heading'))
  })

  test('when an admin uploads a UTF-8 statement on the page, then the report shows the encoding, the window, the escaped errors and each difference, and only an audit entry is written', async () => {
    const before = await snapshot()
    const res = await upload(admin, utf8Statement(), {}, '?lang=en')
    assert.equal(res.statusCode, 200, res.body)
    const html = res.body
    assert.match(html, /<dt>Encoding<\/dt><dd>UTF-8<\/dd>/)
    // The statement's own span: its first payment to its last.
    assert.ok(html.includes('2025-03-10 10:01:00 to 2025-03-10 10:04:00 (Asia/Shanghai)'))
    assert.match(html, /<dt>Rows read<\/dt><dd>3<\/dd>/)
    assert.match(html, /<dt>Matched<\/dt><dd><span class="badge good">1<\/span><\/dd>/)

    const s = sections(html)
    assert.match(s.errors, /<td class="num">5<\/td><td>amount: &quot;&lt;b&gt;30&lt;\/b&gt;&quot; is not a positive amount/)
    assert.ok(!html.includes('<b>30</b>'))
    const lost = s['missing-in-gamepay']
    assert.ok(lost.includes('G-LOST') && lost.includes(`>${orders.lost}</a>`) && lost.includes('2025-03-10 10:04:00'))
    assert.ok(!lost.includes('G-MATCHED') && !lost.includes('G-DIFF'))
    assert.match(lost, /<form method="post" action="\/console\/reconciliation\/apply"/)
    for (const [name, value] of Object.entries({ gyyx_order_no: 'G-LOST', order_no: orders.lost, amount: '30.00', paid_at: new Date(T0 + 4 * MINUTE).toISOString() })) {
      assert.ok(lost.includes(`<input type="hidden" name="${name}" value="${value}">`), name)
    }
    assert.match(lost, /<label for="apply-note-0">Note \(optional\)<\/label>\s*<input id="apply-note-0" name="note"/)
    assert.match(lost, /<button type="submit" data-confirm="[^"]+">Apply payment<\/button>/)
    const ours = s['missing-on-platform']
    assert.ok(ours.includes('G-OURS') && ours.includes(orders.oursOnly) && ours.includes('2025-03-10 10:03:00'))
    assert.ok(!ours.includes('G-MATCHED'))
    const amounts = s.amount_differences
    assert.match(amounts, /<td>G-DIFF<\/td>[\s\S]*<td class="num">31.00<\/td>\s*<td class="num">30.00<\/td>/)
    assert.match(s.order_differences, /None\./)

    const audits = await auditOf('reconciliation.import')
    assert.equal(audits.length, 1)
    assert.equal(audits[0].operator, 'recon-admin')
    assert.equal(audits[0].target, 'reconciliation')
    assert.deepEqual({ ...audits[0].after, sha256: 'x' }, {
      sha256: 'x',
      bytes: utf8Statement().length,
      encoding: 'utf-8',
      window: { from: new Date(T0 + MINUTE).toISOString(), to: new Date(T0 + 4 * MINUTE + 1).toISOString() },
      rows: 3,
      errors: 1,
      matched: 1,
      missing_in_gamepay: 1,
      missing_on_platform: 1,
      amount_differences: 1,
      order_differences: 0,
    })
    assert.match(audits[0].after.sha256, /^[0-9a-f]{64}$/)
    assert.deepEqual(await snapshot(), before)
  })

  test('when the statement is GBK with Chinese headers and a window is given, then it is read as GBK and that whole day is compared', async () => {
    const bytes = gbkStatement()
    assert.notDeepEqual(bytes, Buffer.from(statementLines('平台订单号,游戏订单号,金额,支付时间').join('\r\n')))
    const res = await upload(admin, bytes, { from: '2025-03-10', to: '2025-03-10' })
    assert.equal(res.statusCode, 200, res.body)
    const html = res.body
    assert.match(html, /<dt>文件编码<\/dt><dd>GBK<\/dd>/)
    assert.ok(html.includes('2025-03-10 00:00:00 至 2025-03-10 23:59:59（北京时间）'))
    assert.match(html, /<input id="import-from" name="from" type="date" value="2025-03-10">/)
    const s = sections(html)
    assert.match(s.errors, /<td class="num">5<\/td><td>金额：“&lt;b&gt;30&lt;\/b&gt;” 不是/)
    assert.ok(s['missing-in-gamepay'].includes('G-LOST'))
    assert.ok(s['missing-on-platform'].includes('G-OURS'))
    assert.ok(s.amount_differences.includes('G-DIFF'))
    assert.match(html, /<dt>一致<\/dt><dd><span class="badge good">1<\/span><\/dd>/)
  })

  test('when a script posts the statement raw to the report API, then the report comes as JSON in the envelope, for text/csv, octet-stream and multipart alike', async () => {
    const res = await t.app.inject({
      method: 'POST', url: '/api/admin/reconciliation/report', headers: { ...bearer(adminToken), 'content-type': 'text/csv; charset=utf-8', 'accept-language': 'en' }, payload: utf8Statement(),
    })
    assert.equal(res.statusCode, 200, res.body)
    const body = res.json()
    assert.equal(body.result, 'success')
    const iso = (ms: number) => new Date(ms).toISOString()
    const paymentCreated = (gyyx: string) => db().selectFrom('payments').select('created_at').where('gyyx_order_no', '=', gyyx).executeTakeFirstOrThrow().then((p) => iso(Number(p.created_at)))
    assert.deepEqual(body.data, {
      encoding: 'utf-8',
      window: { from: iso(T0 + MINUTE), to: iso(T0 + 4 * MINUTE + 1) },
      rows: 3,
      error_count: 1,
      errors: [{ line: 5, message: 'amount: "<b>30</b>" is not a positive amount in yuan with at most two decimals' }],
      missing_in_gamepay: [{ line: 4, gyyx_order_no: 'G-LOST', order_no: orders.lost, amount: 30, paid_at: iso(T0 + 4 * MINUTE) }],
      missing_on_platform: [{ gyyx_order_no: 'G-OURS', order_no: orders.oursOnly, amount: 30, recorded_at: await paymentCreated('G-OURS'), kind: 'applied', applied_by: null }],
      amount_differences: [{
        statement: { line: 3, gyyx_order_no: 'G-DIFF', order_no: orders.amountDiffers, amount: 31, paid_at: iso(T0 + 2 * MINUTE) },
        gamepay: { gyyx_order_no: 'G-DIFF', order_no: orders.amountDiffers, amount: 30, recorded_at: iso(T0 + 2 * MINUTE), kind: 'applied', applied_by: null },
      }],
      order_differences: [],
      matched: 1,
    })

    const gbk = await t.app.inject({
      method: 'POST', url: '/api/admin/reconciliation/report?from=2025-03-10&to=2025-03-10', headers: { ...bearer(viewerToken), 'content-type': 'application/octet-stream' }, payload: gbkStatement(),
    })
    assert.equal(gbk.statusCode, 200, gbk.body)
    assert.equal(gbk.json().data.encoding, 'gbk')
    assert.deepEqual(gbk.json().data.window, { from: iso(shanghai(2025, 3, 10)), to: iso(shanghai(2025, 3, 11)) })
    assert.match(gbk.json().data.errors[0].message, /^金额：“<b>30<\/b>” 不是/)
    assert.deepEqual(gbk.json().data.missing_in_gamepay.map((r: { gyyx_order_no: string }) => r.gyyx_order_no), ['G-LOST'])

    const { payload, contentType } = await multipart({}, utf8Statement())
    const viaForm = await t.app.inject({ method: 'POST', url: '/api/admin/reconciliation/report', headers: { ...bearer(adminToken), 'content-type': contentType, 'accept-language': 'en' }, payload })
    assert.equal(viaForm.statusCode, 200, viaForm.body)
    assert.deepEqual(viaForm.json().data, body.data)

    const empty = await t.app.inject({ method: 'POST', url: '/api/admin/reconciliation/report', headers: { ...bearer(adminToken), 'content-type': 'text/csv' }, payload: '' })
    assert.equal(empty.statusCode, 400)
    assert.equal(empty.json().state, 'INVALID_PARAMS')
    assert.match(empty.json().message, /statement/)
    const badDay = await t.app.inject({ method: 'POST', url: '/api/admin/reconciliation/report?from=2025-02-30', headers: { ...bearer(adminToken), 'content-type': 'text/csv' }, payload: utf8Statement() })
    assert.equal(badDay.json().state, 'INVALID_PARAMS')
  })

  test('when a viewer uploads a statement, then the report shows without apply forms, and the viewer cannot apply: FORBIDDEN, nothing written', async () => {
    const page = await upload(viewer, utf8Statement(), {}, '?lang=en')
    assert.equal(page.statusCode, 200, page.body)
    const lost = sections(page.body)['missing-in-gamepay']
    assert.ok(lost.includes('G-LOST'))
    assert.ok(!lost.includes('/console/reconciliation/apply'))
    assert.ok(!lost.includes('Apply payment'))
    assert.equal((await auditOf('reconciliation.import')).at(-1)?.operator, 'recon-viewer')

    const before = await snapshot()
    const viaPage = await form(viewer, '/console/reconciliation/apply?lang=en', applyFields(orders.lost, 'G-LOST'))
    assert.equal(viaPage.statusCode, 403)
    assert.match(viaPage.body, /FORBIDDEN/)
    const viaApi = await t.app.inject({ method: 'POST', url: '/api/admin/reconciliation/apply', headers: bearer(viewerToken), payload: applyFields(orders.lost, 'G-LOST') })
    assert.equal(viaApi.statusCode, 403)
    assert.equal(viaApi.json().state, 'FORBIDDEN')
    assert.deepEqual(await snapshot(), before)
  })

  test('when an admin applies the lost payment from the page, then the order is paid once, with the operator on the payment, a manual callback log row, its order.paid event and the audit entry', async () => {
    const before = await snapshot()
    const res = await form(admin, '/console/reconciliation/apply', applyFields(orders.lost, 'G-LOST'))
    assert.equal(res.statusCode, 303, res.body)
    assert.equal(res.headers.location, `/console/orders/${encodeURIComponent(orders.lost)}?done=applied`)

    const order = await orderRow(t, orders.lost)
    assert.deepEqual([order.status, Number(order.paid_fen), order.gyyx_order_no, Number(order.paid_at), Number(order.late_payment)], ['paid', 3000, 'G-LOST', now, 0])
    const payments = await paymentsOf(t, orders.lost)
    assert.deepEqual(payments.map((p) => [p.gyyx_order_no, p.kind, Number(p.amount_fen), p.applied_by, p.platform_timestamp]),
      [['G-LOST', 'applied', 3000, 'recon-admin', new Date(T0 + 4 * MINUTE).toISOString()]])
    const logged = await db().selectFrom('callbacks').selectAll().where('gyyx_order_no', '=', 'G-LOST').execute()
    assert.deepEqual(logged.map((c) => [c.game_order_no, c.signature, c.outcome]), [[orders.lost, 'manual', 'paid']])
    const events = await eventsOf(orders.lost)
    assert.deepEqual(events.map((e) => e.type), ['order.paid'])
    assert.deepEqual([JSON.parse(events[0].payload).data.gyyx_order_no, JSON.parse(events[0].payload).data.order], ['G-LOST', orders.lost])
    assert.deepEqual(await auditOf('payment.manual-apply'), [{
      operator: 'recon-admin',
      target: orders.lost,
      before: { status: 'unpaid' },
      after: { outcome: 'paid', gyyx_order_no: 'G-LOST', amount_fen: 3000, note: 'lost callback, ticket 42' },
    }])
    assert.deepEqual(await snapshot(), { ...before, payments: before.payments + 1, callbacks: before.callbacks + 1, events: before.events + 1, applies: 1, lost: 'paid' })

    // The statement now matches on that row.
    const again = await upload(admin, utf8Statement(), {}, '?lang=en')
    assert.match(again.body, /<dt>Matched<\/dt><dd><span class="badge good">2<\/span><\/dd>/)
    assert.match(sections(again.body)['missing-in-gamepay'], /None\./)
  })

  test('when the same payment is applied again, from the page or the API, then it is refused as CONFLICT and no payment, event or audit entry is added', async () => {
    const before = await snapshot()
    const viaPage = await form(admin, '/console/reconciliation/apply?lang=en', applyFields(orders.lost, 'G-LOST'))
    assert.equal(viaPage.statusCode, 409)
    assert.match(viaPage.body, /CONFLICT/)
    assert.match(viaPage.body, /gyyx_order_no G-LOST is already applied/)
    const viaApi = await t.app.inject({ method: 'POST', url: '/api/admin/reconciliation/apply', headers: bearer(adminToken), payload: applyFields(orders.lost, 'G-LOST') })
    assert.equal(viaApi.statusCode, 409)
    assert.equal(viaApi.json().state, 'CONFLICT')
    assert.equal((await paymentsOf(t, orders.lost)).length, 1)
    assert.equal((await eventsOf(orders.lost)).length, 1)
    const after = await snapshot()
    // Each attempt is in the callback log, as a repeated platform callback would be; nothing else.
    assert.deepEqual(after, { ...before, callbacks: before.callbacks + 2 })
    const outcomes = await db().selectFrom('callbacks').select('outcome').where('gyyx_order_no', '=', 'G-LOST').orderBy('id').execute()
    assert.deepEqual(outcomes.map((c) => c.outcome), ['paid', 'already_applied', 'already_applied'])
  })

  test('when the API applies a payment, then it answers the outcome; a wrong order, amount, reused platform number or bad field is refused and nothing is paid', async () => {
    const apply = (fields: Record<string, unknown>) => t.app.inject({ method: 'POST', url: '/api/admin/reconciliation/apply', headers: { ...bearer(adminToken), 'accept-language': 'en' }, payload: fields })
    const before = await snapshot()
    const refusals: Array<[Record<string, unknown>, string, RegExp]> = [
      [applyFields('NO-SUCH-ORDER', 'G-NONE'), 'ORDER_NOT_FOUND', /NO-SUCH-ORDER/],
      [applyFields(orders.lostViaApi, 'G-API', '31.00'), 'AMOUNT_MISMATCH', /amount=31.00/],
      [applyFields(orders.lostViaApi, 'G-MATCHED'), 'CONFLICT', /gyyx_order_no G-MATCHED already paid another order/],
      [applyFields(orders.lostViaApi, 'G-API', '30.001'), 'INVALID_PARAMS', /amount/],
      [applyFields(orders.lostViaApi, 'G-API', '30', 'yesterday'), 'INVALID_PARAMS', /paid_at/],
      [{ ...applyFields(orders.lostViaApi, 'G-API'), gyyx_order_no: 'G\u0001API' }, 'INVALID_PARAMS', /gyyx_order_no/],
      [{ order_no: orders.lostViaApi, amount: 30, paid_at: '2025-03-10 10:04:00' }, 'INVALID_PARAMS', /gyyx_order_no/],
    ]
    for (const [fields, state, message] of refusals) {
      const res = await apply(fields)
      assert.equal(res.json().state, state, res.body)
      assert.match(res.json().message, message)
    }
    assert.equal((await orderRow(t, orders.lostViaApi)).status, 'unpaid')
    assert.deepEqual({ ...await snapshot(), callbacks: 0 }, { ...before, callbacks: 0 })

    const ok = await apply({ gyyx_order_no: 'G-API', order_no: orders.lostViaApi, amount: 30, paid_at: '2025-03-10 10:04:30' })
    assert.equal(ok.statusCode, 200, ok.body)
    assert.deepEqual(ok.json().data, { outcome: 'paid', order_no: orders.lostViaApi })
    const payments = await paymentsOf(t, orders.lostViaApi)
    assert.deepEqual(payments.map((p) => [p.gyyx_order_no, p.kind, p.applied_by]), [['G-API', 'applied', 'recon-script']])
    assert.equal((await eventsOf(orders.lostViaApi)).length, 1)
    assert.equal((await auditOf('payment.manual-apply')).at(-1)?.operator, 'recon-script')
  })

  test('when the paid orders of the day are exported, then the CSV download holds every order paid that day, the manually applied ones included', async () => {
    const res = await admin.inject({ url: '/console/reconciliation/export.csv?from=2025-03-10&to=2025-03-10' })
    assert.equal(res.statusCode, 200, res.body)
    assert.equal(res.headers['content-type'], 'text/csv; charset=utf-8')
    assert.equal(res.headers['content-disposition'], 'attachment; filename="gamepay-paid-2025-03-10-2025-03-10.csv"')
    assert.ok(res.body.startsWith('\uFEFF'))
    const records = parse(res.body.slice(1)) as string[][]
    assert.deepEqual(records[0], ['order_no', 'user_id', 'item', 'amount_yuan', 'paid_yuan', 'gyyx_order_no', 'server_flag', 'paid_at', 'late_payment'])
    assert.deepEqual(records.slice(1).map((r) => [r[0], r[4], r[5], r[7]]), [
      [orders.matched, '30.00', 'G-MATCHED', '2025-03-10 10:01:00'],
      [orders.amountDiffers, '30.00', 'G-DIFF', '2025-03-10 10:02:00'],
      [orders.oursOnly, '30.00', 'G-OURS', '2025-03-10 10:03:00'],
      ...[orders.lost, orders.lostViaApi].sort().map((o) => [o, '30.00', o === orders.lost ? 'G-LOST' : 'G-API', '2025-03-10 10:05:00']),
    ])

    const viaApi = await t.app.inject({ url: '/api/admin/reconciliation/export?from=2025-03-10&to=2025-03-10', headers: bearer(viewerToken) })
    assert.equal(viaApi.statusCode, 200)
    assert.equal(viaApi.headers['content-type'], 'text/csv; charset=utf-8')
    assert.equal(viaApi.body, res.body)

    const otherDay = await t.app.inject({ url: '/api/admin/reconciliation/export?from=2025-03-09&to=2025-03-09', headers: bearer(adminToken) })
    assert.equal(otherDay.body.split('\r\n').filter(Boolean).length, 1)

    const reversed = await t.app.inject({ url: '/api/admin/reconciliation/export?from=2025-03-10&to=2025-03-09', headers: { ...bearer(adminToken), 'accept-language': 'en' } })
    assert.equal(reversed.statusCode, 400)
    assert.deepEqual([reversed.json().state, reversed.json().message], ['INVALID_PARAMS', 'Invalid request parameters: to must not be before from'])
    const noDay = await t.app.inject({ url: '/api/admin/reconciliation/export?from=2025-03-10', headers: bearer(adminToken) })
    assert.equal(noDay.json().state, 'INVALID_PARAMS')
    const badPage = await admin.inject({ url: '/console/reconciliation/export.csv?from=2025-13-01&to=2025-13-01&lang=en' })
    assert.equal(badPage.statusCode, 400)
    assert.match(badPage.headers['content-type'] as string, /^text\/html/)
    assert.match(badPage.body, /from must be a date YYYY-MM-DD/)
  })

  test('when a statement is larger than the limit or missing, then the page and the API refuse it clearly, not with a server error, and nothing is recorded', async () => {
    const imports = (await auditOf('reconciliation.import')).length
    const huge = Buffer.alloc(STATEMENT_BYTES + 1, 'a')
    const page = await upload(admin, huge, {}, '?lang=en')
    assert.equal(page.statusCode, 413)
    assert.match(page.headers['content-type'] as string, /^text\/html/)
    assert.match(page.body, /PAYLOAD_TOO_LARGE/)
    assert.match(page.body, /Request body too large/)

    const raw = await t.app.inject({ method: 'POST', url: '/api/admin/reconciliation/report', headers: { ...bearer(adminToken), 'content-type': 'text/csv' }, payload: huge })
    assert.equal(raw.statusCode, 413)
    assert.equal(raw.json().state, 'PAYLOAD_TOO_LARGE')
    const { payload, contentType } = await multipart({}, huge)
    const multi = await t.app.inject({ method: 'POST', url: '/api/admin/reconciliation/report', headers: { ...bearer(adminToken), 'content-type': contentType }, payload })
    assert.equal(multi.statusCode, 413)
    assert.equal(multi.json().state, 'PAYLOAD_TOO_LARGE')

    const none = await upload(admin, undefined, {}, '?lang=en')
    assert.equal(none.statusCode, 400)
    assert.match(none.body, /statement is required/)
    assert.equal((await auditOf('reconciliation.import')).length, imports)
  })

  test('when nobody is signed in, then the API answers 401 and the pages send to sign-in, and nothing is written', async () => {
    const before = await snapshot()
    for (const [method, url] of [['GET', '/api/admin/reconciliation/export?from=2025-03-10&to=2025-03-10'], ['POST', '/api/admin/reconciliation/report'], ['POST', '/api/admin/reconciliation/apply']] as const) {
      const res = await t.app.inject({ method, url, ...(method === 'POST' ? { payload: applyFields(orders.other, 'G-ANON') } : {}) })
      assert.equal(res.statusCode, 401, url)
      assert.equal(res.json().state, 'UNAUTHORIZED')
    }
    for (const url of ['/console/reconciliation', '/console/reconciliation/export.csv?from=2025-03-10&to=2025-03-10']) {
      const res = await t.app.inject({ url })
      assert.equal(res.statusCode, 303, url)
      assert.match(res.headers.location as string, /^\/console\/sign-in\?next=/)
    }
    const uploaded = await upload(null, utf8Statement())
    assert.equal(uploaded.statusCode, 303)
    const applied = await t.app.inject({ method: 'POST', url: '/console/reconciliation/apply', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(applyFields(orders.other, 'G-ANON')).toString() })
    assert.equal(applied.statusCode, 303)
    assert.equal((await orderRow(t, orders.other)).status, 'unpaid')
    assert.deepEqual(await snapshot(), before)
  })
})
