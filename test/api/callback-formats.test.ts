// Payment callbacks: the callback's parameters as a JSON body, a form body or a query string, and how
// each kind of value is read and signed.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { callbackParams, createOrder, createTestApp, forEachDialect, logged, orderRow, paymentsOf, signed, type TestApp } from '../helper.ts'

interface Sent { status: number, body: any, traceId: string }

/** One POST /api/pay/callback with its own trace id, so its row in the callback log can be found. */
async function send (t: TestApp, opts: { payload?: string | object, contentType?: string, query?: string } = {}): Promise<Sent> {
  const traceId = randomUUID()
  const headers: Record<string, string> = { 'x-request-id': traceId }
  if (opts.contentType) headers['content-type'] = opts.contentType
  const res = await t.app.inject({
    method: 'POST',
    url: `/api/pay/callback${opts.query ? `?${opts.query}` : ''}`,
    payload: opts.payload,
    headers,
  })
  return { status: res.statusCode, body: res.json(), traceId }
}

const form = (params: Record<string, unknown>) => new URLSearchParams(params as Record<string, string>).toString()

function assertPaid (order: { status: string, gyyx_order_no: string | null, paid_fen: unknown, late_payment: unknown }, gyyx: string, fen: number) {
  assert.equal(order.status, 'paid')
  assert.equal(order.gyyx_order_no, gyyx)
  assert.equal(Number(order.paid_fen), fen)
  assert.equal(Number(order.late_payment), 0)
}

async function assertUnchanged (t: TestApp, orderNo: string) {
  const order = await orderRow(t, orderNo)
  assert.equal(order.status, 'unpaid')
  assert.equal(order.paid_at, null)
  assert.deepEqual(await paymentsOf(t, orderNo), [])
}

function assertInvalid (res: Sent, field: string) {
  assert.equal(res.status, 400)
  assert.equal(res.body.result, 'fail')
  assert.equal(res.body.state, 'INVALID_PARAMS')
  assert.match(res.body.message, new RegExp(field))
}

forEachDialect('callback parameter formats', (dialect) => {
  let t: TestApp
  let users = 0
  const order = (body: Record<string, unknown> = {}) => createOrder(t.app, { user_id: `fmt-${++users}`, ...body })

  before(async () => {
    // A catalog with a 128-yuan goods, so the contract's "128.00" example can be paid as it is.
    const seed = join(mkdtempSync(join(tmpdir(), 'gamepay-goods-')), 'goods.json')
    writeFileSync(seed, JSON.stringify([
      { id: 2, item: '月卡', single_pric: 30, on_sale: true },
      { id: 7, item: '礼包128', single_pric: 128, on_sale: true },
    ]))
    t = await createTestApp(dialect, { env: { GOODS_SEED: seed } })
  })
  after(async () => { await t.close() })

  test('when the parameters come as a JSON body, then the order is paid and the raw parameters are logged', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, 30, { common_param: 'cp-json', result_message: 'ok' }))
    const res = await send(t, { payload: params })
    assert.equal(res.status, 200)
    assert.deepEqual(res.body, { result: 'success', state: '', trace_id: res.traceId })
    assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 3000)
    const [payment] = await paymentsOf(t, o.order)
    assert.equal(payment.common_param, 'cp-json')
    assert.equal(payment.result_message, 'ok')
    const row = await logged(t, res.traceId)
    assert.deepEqual(JSON.parse(row.params), params)
    assert.equal(row.signature, 'valid')
    assert.equal(row.outcome, 'paid')
  })

  test('when the parameters come as an application/x-www-form-urlencoded body, then the order is paid', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, '30', { common_param: 'a b&c;d=e' }))
    const res = await send(t, { payload: form(params), contentType: 'application/x-www-form-urlencoded' })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 3000)
    assert.equal((await paymentsOf(t, o.order))[0].common_param, 'a b&c;d=e')
    const row = await logged(t, res.traceId)
    assert.deepEqual(JSON.parse(row.params), params)
    assert.equal(row.outcome, 'paid')
  })

  test('when the parameters come as a query string with an empty body, then the order is paid', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, '30'))
    const res = await send(t, { query: form(params) })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 3000)
    const row = await logged(t, res.traceId)
    assert.deepEqual(JSON.parse(row.params), params)
    assert.equal(row.outcome, 'paid')
  })

  test('when the body is empty but declared as JSON or as a form, then the query string is read', async () => {
    for (const contentType of ['application/json', 'application/x-www-form-urlencoded']) {
      const o = await order()
      const params = signed(callbackParams(o.order, '30'))
      const res = await send(t, { query: form(params), payload: '', contentType })
      assert.equal(res.status, 200, contentType)
      assert.equal(res.body.state, '', contentType)
      assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 3000)
      assert.equal((await logged(t, res.traceId)).outcome, 'paid')
    }
  })

  test('when both a body and a query string are sent, then only the body counts', async () => {
    const o = await order()
    const fromQuery = signed(callbackParams(o.order, '30', { gyyx_order_no: `Q-${o.order}` }))
    const fromBody = signed(callbackParams(o.order, 30, { gyyx_order_no: `B-${o.order}` }))
    const res = await send(t, { query: form(fromQuery), payload: fromBody })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), `B-${o.order}`, 3000)
    const payments = await paymentsOf(t, o.order)
    assert.deepEqual(payments.map((p) => p.gyyx_order_no), [`B-${o.order}`])
    assert.equal((await logged(t, res.traceId)).gyyx_order_no, `B-${o.order}`)
  })

  test('when the body is badly signed and the query string well signed, then the body is refused and the query is not read', async () => {
    const o = await order()
    const fromQuery = signed(callbackParams(o.order, '30'))
    const fromBody = { ...signed(callbackParams(o.order, 30)), sign: '0'.repeat(32) }
    const res = await send(t, { query: form(fromQuery), payload: form(fromBody), contentType: 'application/x-www-form-urlencoded' })
    assert.equal(res.status, 401)
    assert.equal(res.body.state, 'SIGN_INVALID')
    await assertUnchanged(t, o.order)
    assert.equal((await logged(t, res.traceId)).signature, 'invalid')
  })

  test('when the body is an empty JSON object, then it is still the only source and the query string is not read', async () => {
    const o = await order()
    const res = await send(t, { query: form(signed(callbackParams(o.order, '30'))), payload: '{}', contentType: 'application/json' })
    assertInvalid(res, 'game_order_no')
    assert.deepEqual(JSON.parse((await logged(t, res.traceId)).params), {})
    await assertUnchanged(t, o.order)
  })

  test('when a parameter is repeated in a form body or a query string, then INVALID_PARAMS names it and nothing changes', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, '30'))
    const twice = `${form(params)}&gyyx_order_no=${encodeURIComponent(params.gyyx_order_no)}`
    const cases: Array<{ name: string, field: string, opts: Parameters<typeof send>[1] }> = [
      { name: 'form', field: 'gyyx_order_no', opts: { payload: twice, contentType: 'application/x-www-form-urlencoded' } },
      { name: 'query', field: 'gyyx_order_no', opts: { query: twice } },
      { name: 'query, repeated with another value', field: 'rmb_yuan', opts: { query: `${form(params)}&rmb_yuan=31` } },
    ]
    for (const { name, field, opts } of cases) {
      const res = await send(t, opts)
      assertInvalid(res, field)
      const row = await logged(t, res.traceId)
      assert.equal(row.outcome, 'INVALID_PARAMS', name)
      assert.equal(row.signature, 'not_checked', name)
    }
    await assertUnchanged(t, o.order)
  })

  test('when a JSON body repeats a key, then the last value counts, as JSON parsers do', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, 30, { gyyx_order_no: `LAST-${o.order}` }))
    const { gyyx_order_no: last, ...rest } = params
    const text = `{"gyyx_order_no":"FIRST-${o.order}",${JSON.stringify(rest).slice(1, -1)},"gyyx_order_no":${JSON.stringify(last)}}`
    const res = await send(t, { payload: text, contentType: 'application/json' })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), `LAST-${o.order}`, 3000)
    assert.equal((await logged(t, res.traceId)).gyyx_order_no, `LAST-${o.order}`)
  })

  test('when a JSON value is null, then it counts as empty: not signed, and a required one is missing', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, 30, { common_param: '', result_message: '' }))
    const missingGyyx = await send(t, { payload: { ...signed(callbackParams(o.order, 30)), gyyx_order_no: null } })
    assertInvalid(missingGyyx, 'gyyx_order_no')
    await assertUnchanged(t, o.order)

    const res = await send(t, { payload: { ...params, common_param: null, result_message: null } })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 3000)
    const [payment] = await paymentsOf(t, o.order)
    assert.equal(payment.common_param, '')
    assert.equal(payment.result_message, '')
  })

  test('when a JSON value is true or false, then it is signed as "true" or "false"', async () => {
    const o = await order()
    // Signed over the strings, sent as JSON booleans.
    const params = signed(callbackParams(o.order, 30, { common_param: 'true', sandbox: 'false' }))
    const res = await send(t, { payload: { ...params, common_param: true, sandbox: false } })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 3000)
    assert.equal((await paymentsOf(t, o.order))[0].common_param, 'true')
  })

  test('when a JSON value is a number, then it is signed as JavaScript prints it', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, '30', { timestamp: '1732600000' }))
    const res = await send(t, { payload: { ...params, rmb_yuan: 30.0, timestamp: 1732600000 } })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 3000)
    assert.equal((await paymentsOf(t, o.order))[0].platform_timestamp, '1732600000')
  })

  test('when a JSON value is an object or an array, then INVALID_PARAMS names it and nothing changes', async () => {
    const o = await order()
    for (const [name, value] of [['common_param', { a: 1 }], ['rmb_yuan', [30]], ['extra', []], ['result', {}]] as const) {
      const res = await send(t, { payload: { ...signed(callbackParams(o.order, 30)), [name]: value } })
      assertInvalid(res, name)
      const row = await logged(t, res.traceId)
      assert.equal(row.outcome, 'INVALID_PARAMS')
      assert.equal(row.signature, 'not_checked')
    }
    await assertUnchanged(t, o.order)
  })

  test('when a JSON body is not an object or not JSON at all, then INVALID_PARAMS and nothing changes', async () => {
    const o = await order()
    for (const payload of ['[1,2]', '"text"', '{"game_order_no":', '42']) {
      const res = await send(t, { payload, contentType: 'application/json' })
      assertInvalid(res, 'body')
    }
    await assertUnchanged(t, o.order)
  })

  test('when sign_type is sent instead of signType, then it is used', async () => {
    const o = await order()
    const { signType, ...params } = signed(callbackParams(o.order, 30), { type: 'HMAC-SHA256' })
    const res = await send(t, { payload: { ...params, sign_type: signType } })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 3000)
    const row = await logged(t, res.traceId)
    assert.equal(row.sign_type, 'HMAC-SHA256')
    assert.equal(row.signature, 'valid')
  })

  test('when both signType and sign_type are sent, then signType wins', async () => {
    const o = await order()
    const md5 = signed(callbackParams(o.order, 30), { type: 'MD5' })
    const wrongWay = await send(t, { payload: { ...md5, signType: 'HMAC-SHA256', sign_type: 'MD5' } })
    assert.equal(wrongWay.status, 401)
    assert.equal(wrongWay.body.state, 'SIGN_INVALID')
    const refused = await logged(t, wrongWay.traceId)
    assert.equal(refused.sign_type, 'HMAC-SHA256')
    assert.equal(refused.signature, 'invalid')
    await assertUnchanged(t, o.order)

    const res = await send(t, { payload: { ...md5, signType: 'MD5', sign_type: 'NO-SUCH-TYPE' } })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), md5.gyyx_order_no, 3000)
    assert.equal((await logged(t, res.traceId)).sign_type, 'MD5')
  })

  test('when a form sends rmb_yuan "128.00", then it is signed as received and pays a 128-yuan order', async () => {
    const o = await order({ item: '礼包128', item_id: '7', single_pric: 128 })
    assert.equal(o.rmb_yuan, 128)
    // Signed over "128" while "128.00" is sent: not the value received, so the signature fails.
    const overNumber = signed(callbackParams(o.order, '128'))
    const refused = await send(t, { payload: form({ ...overNumber, rmb_yuan: '128.00' }), contentType: 'application/x-www-form-urlencoded' })
    assert.equal(refused.status, 401)
    assert.equal(refused.body.state, 'SIGN_INVALID')
    await assertUnchanged(t, o.order)

    const params = signed(callbackParams(o.order, '128.00'))
    const res = await send(t, { payload: form(params), contentType: 'application/x-www-form-urlencoded' })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 12800)
    const [payment] = await paymentsOf(t, o.order)
    assert.equal(Number(payment.amount_fen), 12800)
    assert.equal(JSON.parse((await logged(t, res.traceId)).params).rmb_yuan, '128.00')
  })

  test('when a JSON body sends rmb_yuan as the string "30.00", then it is signed as sent and pays a 30-yuan order', async () => {
    const o = await order()
    const params = signed(callbackParams(o.order, '30.00'))
    const res = await send(t, { payload: params })
    assert.equal(res.status, 200)
    assert.equal(res.body.state, '')
    assertPaid(await orderRow(t, o.order), params.gyyx_order_no, 3000)
  })
})
