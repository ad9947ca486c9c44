// The sandbox cashier: paying or failing an order as the platform would, through the real
// callback route; who may use it, and when it is not there at all.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { createOrder, createTestApp, forEachDialect, logged, orderRow, paymentsOf, type TestApp } from '../helper.ts'
import { form, signIn, tokenFor, type Session } from './console-helper.ts'

const callbacksOf = (t: TestApp, orderNo: string) =>
  t.ctx.store.db.selectFrom('callbacks').selectAll().where('game_order_no', '=', orderNo).orderBy('id').execute()

const auditOf = async (t: TestApp, target: string) =>
  (await t.ctx.store.db.selectFrom('audit_log').selectAll().where('target', '=', target).orderBy('id').execute())
    .map((r) => ({ operator: r.operator, action: r.action, trace: r.trace_id, after: r.after_value === null ? null : JSON.parse(r.after_value) }))

const eventsOf = (t: TestApp, orderNo: string) =>
  t.ctx.store.db.selectFrom('notification_events').selectAll().where('order_no', '=', orderNo).execute()

/** What a refused or absent sandbox must leave behind: the order as it was, and no trace of a callback. */
async function assertUntouched (t: TestApp, orderNo: string) {
  const row = await orderRow(t, orderNo)
  assert.deepEqual([row.status, row.gyyx_order_no, row.paid_at], ['unpaid', null, null])
  assert.deepEqual(await paymentsOf(t, orderNo), [])
  assert.deepEqual(await callbacksOf(t, orderNo), [])
  assert.deepEqual(await auditOf(t, orderNo), [])
}

function rsaPublicKeyFile (): string {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const file = join(mkdtempSync(join(tmpdir(), 'gamepay-sandbox-')), 'platform.pub')
  writeFileSync(file, publicKey.export({ type: 'spki', format: 'pem' }))
  return file
}

forEachDialect('console sandbox cashier', (dialect) => {
  describe('with SANDBOX_CASHIER on (the default outside production)', () => {
    let t: TestApp
    let admin: Session
    before(async () => {
      t = await createTestApp(dialect, { env: { NOTIFY_URL: 'http://127.0.0.1:9/gamepay-events' } })
      admin = await signIn(t, 'sandbox-admin', 'admin')
    })
    after(async () => { await t.close() })

    test('when an admin opens an unpaid order, then the page shows its goods, amount, status and expiry with Pay and Fail payment buttons', async () => {
      const order = await createOrder(t.app, { user_id: 'sb-u0', amount_num: 2 })
      const found = await admin.inject({ url: `/console/sandbox?order_no=${encodeURIComponent(order.order)}` })
      assert.equal(found.statusCode, 303)
      assert.equal(found.headers.location, `/console/sandbox/${order.order}`)
      const page = await admin.inject({ url: `/console/sandbox/${order.order}?lang=en` })
      assert.equal(page.statusCode, 200)
      assert.match(page.body, /<dd>月卡 \(#2\)<\/dd>/)
      assert.match(page.body, /<dd>60\.00<\/dd>/)
      assert.match(page.body, /<span class="badge warn">unpaid<\/span>/)
      assert.match(page.body, /<dt>Expires<\/dt><dd><time datetime="\d{4}-\d\d-\d\dT[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d<\/time><\/dd>/)
      assert.match(page.body, /MD5, with CALLBACK_SECRET/)
      assert.match(page.body, /<button type="submit" name="outcome" value="pay"[^>]*>Pay<\/button>/)
      assert.match(page.body, /<button type="submit" name="outcome" value="fail"[^>]*>Fail payment<\/button>/)
      assert.match(page.body, new RegExp(`href="/console/orders/${order.order}"`))

      const missing = await admin.inject({ url: '/console/sandbox/811-0?lang=en' })
      assert.equal(missing.statusCode, 404)
      assert.match(missing.body, /No such order/)
      assert.doesNotMatch(missing.body, /name="outcome"/)
    })

    test('when an admin pays an order from the page, then the real callback route verifies the signature and pays it, the outbox has the event, and the page shows the answer', async () => {
      const order = await createOrder(t.app, { user_id: 'sb-u1' })
      const res = await form(admin, `/console/sandbox/${order.order}`, { outcome: 'pay' })
      assert.equal(res.statusCode, 303, res.body)
      const location = res.headers.location as string
      assert.match(location, new RegExp(`^/console/sandbox/${order.order}\\?done=[A-Za-z0-9._:-]+$`))

      const row = await orderRow(t, order.order)
      assert.equal(row.status, 'paid')
      assert.match(row.gyyx_order_no ?? '', /^SANDBOX-[0-9a-f]{16}$/)
      assert.equal(Number(row.paid_fen), 3000)
      const payments = await paymentsOf(t, order.order)
      assert.deepEqual(payments.map((p) => [p.kind, p.gyyx_order_no, Number(p.amount_fen), p.result]), [['applied', row.gyyx_order_no, 3000, 'success']])
      const callbacks = await callbacksOf(t, order.order)
      assert.deepEqual(callbacks.map((c) => [c.signature, c.sign_type, c.outcome, c.source_ip, c.gyyx_order_no]), [['valid', 'MD5', 'paid', '127.0.0.1', row.gyyx_order_no]])
      assert.deepEqual((await eventsOf(t, order.order)).map((e) => e.type), ['order.paid'])

      const audit = await auditOf(t, order.order)
      assert.deepEqual(audit, [{
        operator: 'sandbox-admin',
        action: 'sandbox.pay',
        trace: decodeURIComponent(location.split('done=')[1]),
        after: { gyyx_order_no: row.gyyx_order_no, result: 'success', state: '', message: '', callback_trace_id: callbacks[0].trace_id },
      }])

      const page = await admin.inject({ url: `${location}&lang=en` })
      assert.equal(page.statusCode, 200)
      assert.match(page.body, new RegExp(`<p class="notice" role="status">Sent a successful payment callback \\(${row.gyyx_order_no}\\)\\.</p>`))
      assert.match(page.body, /<dt>Answer<\/dt><dd><code>success<\/code><\/dd>/)
      assert.match(page.body, /<span class="badge good">paid<\/span>/)
      assert.match(page.body, new RegExp(`<dd><code>${row.gyyx_order_no}</code></dd>`))
      // An answer is only shown for a sandbox request that was made for this order.
      assert.doesNotMatch((await admin.inject({ url: `/console/sandbox/${order.order}?done=made-up` })).body, /sandbox-answer/)
    })

    test('when an admin fails a payment, then the callback is verified and recorded as payment_failed, and the order stays unpaid', async () => {
      const order = await createOrder(t.app, { user_id: 'sb-u2' })
      const res = await form(admin, `/console/sandbox/${order.order}`, { outcome: 'fail' })
      assert.equal(res.statusCode, 303)
      const row = await orderRow(t, order.order)
      assert.deepEqual([row.status, row.gyyx_order_no, row.paid_at], ['unpaid', null, null])
      assert.deepEqual(await paymentsOf(t, order.order), [])
      assert.deepEqual(await eventsOf(t, order.order), [])
      const callbacks = await callbacksOf(t, order.order)
      assert.deepEqual(callbacks.map((c) => [c.signature, c.outcome]), [['valid', 'payment_failed']])
      assert.equal(JSON.parse(callbacks[0].params).result, 'fail')
      assert.deepEqual((await auditOf(t, order.order)).map((a) => [a.action, a.after.result, a.after.gyyx_order_no]), [['sandbox.fail', 'success', callbacks[0].gyyx_order_no]])

      const page = await admin.inject({ url: `${res.headers.location as string}&lang=en` })
      assert.match(page.body, /Sent a failed payment callback \(SANDBOX-[0-9a-f]{16}\)/)
      assert.match(page.body, /<span class="badge warn">unpaid<\/span>/)
    })

    test('when the admin API pays an order, then it answers the callback\'s envelope and the callback log holds the valid callback under its trace id', async () => {
      const token = await tokenFor(t, 'sandbox-script', 'admin')
      const order = await createOrder(t.app, { user_id: 'sb-u3', item: '钻石x60', item_id: '3', single_pric: 6 })
      const res = await t.app.inject({ method: 'POST', url: `/api/admin/sandbox/orders/${order.order}`, headers: { authorization: `Bearer ${token}` }, payload: { outcome: 'pay' } })
      assert.equal(res.statusCode, 200, res.body)
      const body = res.json()
      assert.equal(body.result, 'success')
      assert.deepEqual([body.data.result, body.data.state, body.data.sign_type], ['success', '', 'MD5'])
      assert.match(body.data.gyyx_order_no, /^SANDBOX-/)
      const callback = await logged(t, body.data.trace_id)
      assert.deepEqual([callback.signature, callback.outcome, callback.game_order_no], ['valid', 'paid', order.order])
      assert.equal((await orderRow(t, order.order)).status, 'paid')

      // Paying again under a new platform number: the real route's answer for a second payment.
      const again = await t.app.inject({ method: 'POST', url: `/api/admin/sandbox/orders/${order.order}`, headers: { authorization: `Bearer ${token}` }, payload: { outcome: 'pay' } })
      assert.equal(again.json().data.result, 'success')
      assert.deepEqual((await paymentsOf(t, order.order)).map((p) => p.kind), ['applied', 'duplicate'])
      assert.deepEqual((await auditOf(t, order.order)).map((a) => [a.operator, a.action]), [['sandbox-script', 'sandbox.pay'], ['sandbox-script', 'sandbox.pay']])

      const missing = await t.app.inject({ method: 'POST', url: '/api/admin/sandbox/orders/811-0', headers: { authorization: `Bearer ${token}` }, payload: { outcome: 'pay' } })
      assert.equal(missing.statusCode, 404)
      assert.equal(missing.json().state, 'ORDER_NOT_FOUND')
      assert.deepEqual(await callbacksOf(t, '811-0'), [])
      const bad = await t.app.inject({ method: 'POST', url: `/api/admin/sandbox/orders/${order.order}`, headers: { authorization: `Bearer ${token}` }, payload: { outcome: 'refund' } })
      assert.equal(bad.statusCode, 400)
      assert.equal(bad.json().state, 'INVALID_PARAMS')
    })

    test('when a viewer tries to pay or fail, then it is FORBIDDEN and nothing is sent; the page shows no buttons', async () => {
      const order = await createOrder(t.app, { user_id: 'sb-u4' })
      const token = await tokenFor(t, 'sandbox-viewer', 'viewer')
      const viewer = await signIn(t, 'sandbox-viewer-page', 'viewer')
      const api = await t.app.inject({ method: 'POST', url: `/api/admin/sandbox/orders/${order.order}`, headers: { authorization: `Bearer ${token}` }, payload: { outcome: 'pay' } })
      assert.equal(api.statusCode, 403)
      assert.equal(api.json().state, 'FORBIDDEN')
      for (const outcome of ['pay', 'fail']) {
        const res = await form(viewer, `/console/sandbox/${order.order}`, { outcome })
        assert.equal(res.statusCode, 403)
      }
      await assertUntouched(t, order.order)
      const page = await viewer.inject({ url: `/console/sandbox/${order.order}?lang=en` })
      assert.equal(page.statusCode, 200)
      assert.doesNotMatch(page.body, /name="outcome"/)
      assert.match(page.body, /Only an admin can send callbacks/)
    })

    test('when nobody is signed in, then the sandbox API answers 401 and the pages redirect to sign-in', async () => {
      const order = await createOrder(t.app, { user_id: 'sb-u5' })
      const api = await t.app.inject({ method: 'POST', url: `/api/admin/sandbox/orders/${order.order}`, payload: { outcome: 'pay' } })
      assert.equal(api.statusCode, 401)
      assert.equal(api.json().state, 'UNAUTHORIZED')
      const page = await t.app.inject({ method: 'POST', url: `/console/sandbox/${order.order}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'outcome=pay' })
      assert.equal(page.statusCode, 303)
      assert.match(page.headers.location as string, /^\/console\/sign-in\?next=/)
      await assertUntouched(t, order.order)
    })
  })

  describe('with SANDBOX_CASHIER=off', () => {
    let t: TestApp
    before(async () => { t = await createTestApp(dialect, { env: { SANDBOX_CASHIER: 'off' } }) })
    after(async () => { await t.close() })

    test('when a signed-in admin asks for the sandbox, then its pages and API are not there and no order can be paid through it', async () => {
      const admin = await signIn(t, 'sandbox-off-admin', 'admin')
      const token = await tokenFor(t, 'sandbox-off-script', 'admin')
      const order = await createOrder(t.app, { user_id: 'sb-off' })
      for (const url of ['/console/sandbox', `/console/sandbox/${order.order}`]) {
        const res = await admin.inject({ url })
        assert.equal(res.statusCode, 404, url)
        assert.doesNotMatch(res.body, /name="outcome"/)
      }
      const posted = await form(admin, `/console/sandbox/${order.order}`, { outcome: 'pay' })
      assert.equal(posted.statusCode, 404)
      const api = await t.app.inject({ method: 'POST', url: `/api/admin/sandbox/orders/${order.order}`, headers: { authorization: `Bearer ${token}` }, payload: { outcome: 'pay' } })
      assert.equal(api.statusCode, 404)
      assert.equal(api.json().state, 'NOT_FOUND')
      await assertUntouched(t, order.order)
      assert.doesNotMatch((await admin.inject({ url: '/console/audit' })).body, /href="\/console\/sandbox"/)
    })
  })

  describe('with CALLBACK_SIGN_TYPES=HMAC-SHA256', () => {
    let t: TestApp
    before(async () => { t = await createTestApp(dialect, { env: { CALLBACK_SIGN_TYPES: 'HMAC-SHA256' } }) })
    after(async () => { await t.close() })

    test('when an admin pays, then the callback is signed with HMAC-SHA256, the one type the server accepts', async () => {
      const admin = await signIn(t, 'sandbox-hmac-admin', 'admin')
      const order = await createOrder(t.app, { user_id: 'sb-hmac' })
      assert.equal((await form(admin, `/console/sandbox/${order.order}`, { outcome: 'pay' })).statusCode, 303)
      assert.deepEqual((await callbacksOf(t, order.order)).map((c) => [c.sign_type, c.signature, c.outcome]), [['HMAC-SHA256', 'valid', 'paid']])
      assert.equal((await orderRow(t, order.order)).status, 'paid')
    })
  })

  describe('with CALLBACK_SIGN_TYPES=RSA2 alone', () => {
    let t: TestApp
    before(async () => { t = await createTestApp(dialect, { env: { CALLBACK_SIGN_TYPES: 'RSA2', CALLBACK_RSA_PUBLIC_KEY: rsaPublicKeyFile() } }) })
    after(async () => { await t.close() })

    test('when an admin opens an order, then the page says the sandbox cannot sign and shows no buttons, and a send is refused', async () => {
      const admin = await signIn(t, 'sandbox-rsa-admin', 'admin')
      const token = await tokenFor(t, 'sandbox-rsa-script', 'admin')
      const order = await createOrder(t.app, { user_id: 'sb-rsa' })
      const page = await admin.inject({ url: `/console/sandbox/${order.order}?lang=en` })
      assert.equal(page.statusCode, 200)
      assert.match(page.body, /<p class="alert" role="alert">CALLBACK_SIGN_TYPES accepts RSA2 alone[^<]*the sandbox cannot sign/)
      assert.match(page.body, /<dd>30\.00<\/dd>/)
      assert.doesNotMatch(page.body, /name="outcome"/)

      const api = await t.app.inject({ method: 'POST', url: `/api/admin/sandbox/orders/${order.order}`, headers: { authorization: `Bearer ${token}` }, payload: { outcome: 'pay' } })
      assert.equal(api.statusCode, 409)
      assert.equal(api.json().state, 'CONFLICT')
      assert.equal((await form(admin, `/console/sandbox/${order.order}`, { outcome: 'pay' })).statusCode, 409)
      await assertUntouched(t, order.order)
    })
  })
})
