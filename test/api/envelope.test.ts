// The envelope (trace ids, messages, HTTP_STATUS_MODE) and the routing and body states, through
// the public HTTP API.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { InjectOptions } from 'fastify'
import pino from 'pino'
import { buildApp } from '../../src/app.ts'
import { createContext } from '../../src/context.ts'
import { STATES } from '../../src/errors.ts'
import { createOrder, createTestApp, forEachDialect, pay, post, signed, callbackParams, testConfig, type TestApp } from '../helper.ts'

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/
const HAN = /[\u4e00-\u9fff]/

async function send (app: TestApp['app'], opts: InjectOptions) {
  const res = await app.inject(opts)
  return { status: res.statusCode, headers: res.headers, text: res.body, body: JSON.parse(res.body) }
}

const json = (url: string, payload: string, headers: Record<string, string> = {}): InjectOptions =>
  ({ method: 'POST', url, payload, headers: { 'content-type': 'application/json', ...headers } })

async function ordersOf (t: TestApp, userId: string) {
  return t.ctx.store.db.selectFrom('orders').selectAll().where('user_id', '=', userId).execute()
}

/** The envelope of a failure: exactly these keys, a §7 state and its HTTP status. */
function assertFail (res: { status: number, headers: Record<string, unknown>, body: Record<string, unknown> }, state: keyof typeof STATES) {
  assert.equal(res.body.result, 'fail')
  assert.equal(res.body.state, state)
  assert.equal(res.status, STATES[state].status)
  assert.deepEqual(Object.keys(res.body).sort(), ['message', 'result', 'state', 'trace_id'])
  assert.equal(typeof res.body.message, 'string')
  assert.equal(res.body.trace_id, res.headers['x-request-id'])
  assert.match(String(res.headers['content-type']), /^application\/json/)
}

forEachDialect('the response envelope', (dialect) => {
  let t: TestApp
  before(async () => { t = await createTestApp(dialect) })
  after(async () => { await t.close() })

  describe('shape', () => {
    test('when a route returns data, then the body is exactly result "success", state "", trace_id and data, with no message', async () => {
      const res = await send(t.app, { method: 'GET', url: '/api/pay/goods?id=1' })
      assert.equal(res.status, 200)
      assert.deepEqual(Object.keys(res.body).sort(), ['data', 'result', 'state', 'trace_id'])
      assert.equal(res.body.result, 'success')
      assert.equal(res.body.state, '')
      assert.match(res.body.trace_id, UUID_V4)
      assert.match(String(res.headers['content-type']), /^application\/json/)
    })

    test('when a route returns no data (an accepted callback), then data is absent, not null', async () => {
      const order = await createOrder(t.app, { user_id: 'env-nodata' })
      const res = await pay(t.app, order.order, order.rmb_yuan)
      assert.equal(res.status, 200)
      assert.equal(res.body.result, 'success')
      assert.equal(Object.hasOwn(res.body, 'data'), false)
      assert.deepEqual(Object.keys(res.body).sort(), ['result', 'state', 'trace_id'])
      const [row] = await ordersOf(t, 'env-nodata')
      assert.equal(row.status, 'paid')
    })

    test('when a request fails, then data is absent and a message is present', async () => {
      const res = await send(t.app, { method: 'GET', url: '/api/pay/goods?id=424242' })
      assertFail(res, 'GOODS_NOT_FOUND')
      assert.equal(Object.hasOwn(res.body, 'data'), false)
    })
  })

  describe('trace id', () => {
    test('when the caller sends a sane X-Request-Id, then it is the trace_id and comes back as the X-Request-Id header', async () => {
      for (const id of ['abc-1.2:3_x', 'A', 'req:2024-01-01T00:00:00.000Z', 'x'.repeat(128)]) {
        const res = await send(t.app, { method: 'GET', url: '/api/pay/goods?id=1', headers: { 'x-request-id': id } })
        assert.equal(res.body.trace_id, id)
        assert.equal(res.headers['x-request-id'], id)
      }
    })

    test('when the X-Request-Id is too long, empty or has other characters, then a new UUID v4 is the trace id', async () => {
      for (const id of ['x'.repeat(129), '', 'has space', 'a/b', 'semi;colon', '<script>', 'quote"d', 'tab\there']) {
        const res = await send(t.app, { method: 'GET', url: '/api/pay/goods?id=1', headers: { 'x-request-id': id } })
        assert.match(res.body.trace_id, UUID_V4, `for ${JSON.stringify(id)}`)
        assert.equal(res.headers['x-request-id'], res.body.trace_id)
      }
    })

    test('when two requests carry no X-Request-Id, then each gets its own UUID v4', async () => {
      const a = await send(t.app, { method: 'GET', url: '/api/pay/goods?id=1' })
      const b = await send(t.app, { method: 'GET', url: '/api/pay/goods?id=1' })
      assert.match(a.body.trace_id, UUID_V4)
      assert.match(b.body.trace_id, UUID_V4)
      assert.notEqual(a.body.trace_id, b.body.trace_id)
    })

    test('when a request fails, then its trace id is still echoed in the body and the header', async () => {
      const res = await send(t.app, { method: 'GET', url: '/api/pay/goods', headers: { 'x-request-id': 'trace-of-a-failure' } })
      assertFail(res, 'INVALID_PARAMS')
      assert.equal(res.body.trace_id, 'trace-of-a-failure')
    })

    test('when an order is created, then its history row carries the request\'s trace id', async () => {
      const res = await post(t.app, '/api/pay/create-order', { user_id: 'env-trace', item: '月卡', single_pric: 30 }, { 'x-request-id': 'trace-create-1' })
      assert.equal(res.body.trace_id, 'trace-create-1')
      const events = await t.ctx.store.db.selectFrom('order_events').selectAll().where('order_no', '=', res.body.data.order).execute()
      assert.equal(events.length, 1)
      assert.equal(events[0].trace_id, 'trace-create-1')
    })

    test('when a request is logged, then every log line of it carries the trace id', async () => {
      const lines: Array<Record<string, unknown>> = []
      const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line)) } })
      const ctx = await createContext(testConfig(t.url))
      const app = await buildApp(ctx, { logger })
      try {
        await app.ready()
        await app.inject({ method: 'GET', url: '/api/pay/goods?id=1', headers: { 'x-request-id': 'trace-logged-ok' } })
        await app.inject({ method: 'GET', url: '/api/pay/goods?id=x', headers: { 'x-request-id': 'trace-logged-fail' } })
      } finally {
        await app.close()
        await ctx.close()
      }
      for (const id of ['trace-logged-ok', 'trace-logged-fail']) {
        const own = lines.filter((l) => l.trace_id === id)
        assert.ok(own.length >= 1, `a log line for ${id}`)
        assert.ok(own.some((l) => l.msg === 'request'))
      }
      // No request line without a trace id.
      assert.deepEqual(lines.filter((l) => l.msg === 'request' && typeof l.trace_id !== 'string'), [])
    })
  })

  describe('messages', () => {
    test('when a request fails with no Accept-Language, then the message is Chinese and names the field', async () => {
      const res = await send(t.app, { method: 'GET', url: '/api/pay/goods?id=abc' })
      assertFail(res, 'INVALID_PARAMS')
      assert.match(res.body.message, HAN)
      assert.match(res.body.message, /\bid\b/)
    })

    test('when Accept-Language prefers English, then the message is English and names the field', async () => {
      for (const lang of ['en', 'en-US,en;q=0.9', 'zh-CN;q=0.3, en;q=0.8', 'fr-FR, en;q=0.5']) {
        const res = await send(t.app, { method: 'GET', url: '/api/pay/goods?id=abc', headers: { 'accept-language': lang } })
        assertFail(res, 'INVALID_PARAMS')
        assert.doesNotMatch(res.body.message, HAN, lang)
        assert.match(res.body.message, /\bid\b/)
        assert.match(res.body.message, /positive integer/)
      }
    })

    test('when Accept-Language prefers Chinese over English, then the message stays Chinese', async () => {
      for (const lang of ['zh-CN,zh;q=0.9,en;q=0.8', 'zh', 'en;q=0.1, zh-TW;q=0.5']) {
        const res = await send(t.app, { method: 'GET', url: '/api/pay/goods?id=abc', headers: { 'accept-language': lang } })
        assert.match(res.body.message, HAN, lang)
      }
    })

    test('when a create-order field has the wrong type, then the English message names that field', async () => {
      const res = await post(t.app, '/api/pay/create-order', { user_id: 'env-msg', item: '月卡', single_pric: '30' }, { 'accept-language': 'en' })
      assert.equal(res.body.state, 'INVALID_PARAMS')
      assert.match(res.body.message, /single_pric/)
      assert.deepEqual(await ordersOf(t, 'env-msg'), [])
    })
  })

  describe('routes and methods', () => {
    test('when a route does not exist, then the answer is a NOT_FOUND envelope, never an HTML page', async () => {
      for (const url of ['/api/pay/nope', '/api/pay/', '/api/pay/goods/1', '/', '/favicon.ico', '/api/pay/goods%00', '/index.php?x=1']) {
        const res = await send(t.app, { method: 'GET', url })
        assertFail(res, 'NOT_FOUND')
      }
    })

    test('when a route is called with the wrong method, then the answer is METHOD_NOT_ALLOWED with an Allow header', async () => {
      const cases: Array<[InjectOptions['method'], string, RegExp]> = [
        ['POST', '/api/pay/goods?id=1', /^GET\b/],
        ['DELETE', '/api/pay/goods', /^GET\b/],
        ['GET', '/api/pay/create-order', /^POST$/],
        ['PUT', '/api/pay/cancel-order', /^POST$/],
        ['PATCH', '/api/pay/verification', /^POST$/],
        ['GET', '/api/pay/callback', /^POST$/],
        ['OPTIONS', '/api/pay/create-order', /^POST$/],
      ]
      for (const [method, url, allow] of cases) {
        const res = await send(t.app, { method, url })
        assertFail(res, 'METHOD_NOT_ALLOWED')
        assert.match(String(res.headers.allow), allow, `${method} ${url}`)
      }
    })

    test('when create-order is called with GET, then no order is created', async () => {
      const res = await send(t.app, { method: 'GET', url: '/api/pay/create-order?user_id=env-get&item=月卡&single_pric=30' })
      assertFail(res, 'METHOD_NOT_ALLOWED')
      assert.deepEqual(await ordersOf(t, 'env-get'), [])
    })
  })

  describe('bodies', () => {
    const validOrder = (userId: string) => ({ user_id: userId, item: '月卡', single_pric: 30 })

    test('when the body is not valid JSON, then INVALID_PARAMS names the body and nothing is stored', async () => {
      for (const payload of ['{bad', '{"user_id":"env-badjson",', '', '\u0000', "{'user_id':'env-badjson'}"]) {
        for (const url of ['/api/pay/create-order', '/api/pay/cancel-order', '/api/pay/verification', '/api/pay/callback']) {
          const res = await send(t.app, json(url, payload))
          if (url === '/api/pay/callback' && payload === '') {
            // An empty callback body means "read the query string" (§5): here, no parameters at all.
            assertFail(res, 'INVALID_PARAMS')
            continue
          }
          assertFail(res, 'INVALID_PARAMS')
          assert.match(res.body.message, /body/, `${url} ${JSON.stringify(payload)}`)
        }
      }
      assert.deepEqual(await ordersOf(t, 'env-badjson'), [])
    })

    test('when the body is JSON but not an object, then INVALID_PARAMS names the body', async () => {
      for (const payload of ['[]', '[{"user_id":"u"}]', 'null', '"text"', '42', 'true']) {
        for (const url of ['/api/pay/create-order', '/api/pay/cancel-order', '/api/pay/verification', '/api/pay/callback']) {
          const res = await send(t.app, json(url, payload))
          assertFail(res, 'INVALID_PARAMS')
          assert.match(res.body.message, /body/, `${url} ${payload}`)
        }
      }
    })

    test('when a JSON route gets text/plain, a form or another content type, then UNSUPPORTED_MEDIA_TYPE and nothing is stored', async () => {
      const body = JSON.stringify(validOrder('env-media'))
      for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/octet-stream']) {
        const payload = type.startsWith('application/x-www') ? 'user_id=env-media&item=%E6%9C%88%E5%8D%A1&single_pric=30' : body
        const res = await send(t.app, { method: 'POST', url: '/api/pay/create-order', payload, headers: { 'content-type': type } })
        assertFail(res, 'UNSUPPORTED_MEDIA_TYPE')
      }
      assert.deepEqual(await ordersOf(t, 'env-media'), [])
    })

    test('when the JSON content type carries a charset, then it is accepted', async () => {
      const res = await send(t.app, { method: 'POST', url: '/api/pay/create-order', payload: JSON.stringify(validOrder('env-charset')), headers: { 'content-type': 'application/json; charset=utf-8' } })
      assert.equal(res.status, 200)
      assert.equal((await ordersOf(t, 'env-charset')).length, 1)
    })

    test('when a body is over the default 64 KiB, then PAYLOAD_TOO_LARGE and nothing is stored', async () => {
      const payload = JSON.stringify({ ...validOrder('env-big'), padding: 'x'.repeat(65536) })
      for (const url of ['/api/pay/create-order', '/api/pay/callback']) {
        const res = await send(t.app, json(url, payload))
        assertFail(res, 'PAYLOAD_TOO_LARGE')
      }
      assert.deepEqual(await ordersOf(t, 'env-big'), [])
    })

    test('when BODY_LIMIT is 1024, then a body of about 2 KB is PAYLOAD_TOO_LARGE and one under 1 KB still creates its order', async () => {
      const side = await createTestApp(dialect, { url: t.url, env: { BODY_LIMIT: '1024' } })
      try {
        const big = JSON.stringify({ ...validOrder('env-limit'), padding: 'x'.repeat(2000) })
        for (const url of ['/api/pay/create-order', '/api/pay/callback']) assertFail(await send(side.app, json(url, big)), 'PAYLOAD_TOO_LARGE')
        assert.deepEqual(await ordersOf(t, 'env-limit'), [])
        const small = JSON.stringify({ ...validOrder('env-limit'), padding: 'x'.repeat(900) })
        assert.ok(Buffer.byteLength(small) <= 1024)
        const res = await send(side.app, json('/api/pay/create-order', small))
        assert.equal(res.status, 200, res.text)
        assert.equal((await ordersOf(t, 'env-limit')).length, 1)
      } finally {
        await side.close()
      }
    })

    test('when a body is just under the limit with an unknown extra field, then the field is ignored and the order is created', async () => {
      const payload = JSON.stringify({ ...validOrder('env-under'), padding: 'x'.repeat(60000) })
      const res = await send(t.app, json('/api/pay/create-order', payload))
      assert.equal(res.status, 200)
      assert.equal(res.body.data.user_id, 'env-under')
      assert.equal((await ordersOf(t, 'env-under')).length, 1)
    })

    test('when a body carries __proto__ or constructor.prototype, then it is refused and no prototype is polluted', async () => {
      const payloads = [
        '{"user_id":"env-proto","item":"月卡","single_pric":30,"__proto__":{"polluted":"yes","status":"paid"}}',
        '{"user_id":"env-proto","item":"月卡","single_pric":30,"constructor":{"prototype":{"polluted":"yes"}}}',
      ]
      for (const url of ['/api/pay/create-order', '/api/pay/verification', '/api/pay/callback']) {
        for (const payload of payloads) {
          const res = await send(t.app, json(url, payload))
          assertFail(res, 'INVALID_PARAMS')
        }
      }
      assert.equal(({} as Record<string, unknown>).polluted, undefined)
      assert.equal(Object.hasOwn(Object.prototype, 'polluted'), false)
      assert.deepEqual(await ordersOf(t, 'env-proto'), [])
    })

    test('when a __proto__ key is nested inside an ignored field, then it is refused too', async () => {
      const res = await send(t.app, json('/api/pay/create-order', '{"user_id":"env-proto2","item":"月卡","single_pric":30,"extra":{"a":{"__proto__":{"polluted":1}}}}'))
      assertFail(res, 'INVALID_PARAMS')
      assert.equal(({} as Record<string, unknown>).polluted, undefined)
      assert.deepEqual(await ordersOf(t, 'env-proto2'), [])
    })
  })

  describe('every state of §7 through the public routes', () => {
    test('when each reachable state is provoked, then its HTTP status is the one in the table', async () => {
      const order = await createOrder(t.app, { user_id: 'env-states' })
      const paid = await createOrder(t.app, { user_id: 'env-states', amount_num: 2 })
      await pay(t.app, paid.order, paid.rmb_yuan)
      const cases: Array<[keyof typeof STATES, InjectOptions]> = [
        ['INVALID_PARAMS', { method: 'GET', url: '/api/pay/goods' }],
        ['GOODS_NOT_FOUND', { method: 'GET', url: '/api/pay/goods?id=999' }],
        ['GOODS_UNAVAILABLE', json('/api/pay/create-order', JSON.stringify({ user_id: 'env-states', item: '绝版礼包', single_pric: 128 }))],
        ['ITEM_MISMATCH', json('/api/pay/create-order', JSON.stringify({ user_id: 'env-states', item: '月卡', item_id: 1, single_pric: 30 }))],
        ['PRICE_MISMATCH', json('/api/pay/create-order', JSON.stringify({ user_id: 'env-states', item: '月卡', single_pric: 29.99 }))],
        ['ORDER_NOT_FOUND', json('/api/pay/cancel-order', JSON.stringify({ user_id: 'env-states', order: '811-1' }))],
        ['ORDER_ALREADY_PAID', json('/api/pay/cancel-order', JSON.stringify({ user_id: 'env-states', order: paid.order }))],
        ['ORDER_NOT_PAID', json('/api/pay/verification', JSON.stringify({ user_id: 'env-states', item: '月卡', order: order.order }))],
        ['SIGN_INVALID', json('/api/pay/callback', JSON.stringify({ ...signed(callbackParams(order.order, 30)), sign: '0'.repeat(32) }))],
        ['SIGN_TYPE_UNSUPPORTED', json('/api/pay/callback', JSON.stringify({ ...callbackParams(order.order, 30), signType: 'SHA1', sign: 'x' }))],
        ['AMOUNT_MISMATCH', json('/api/pay/callback', JSON.stringify(signed(callbackParams(order.order, 31))))],
        ['NOT_FOUND', { method: 'GET', url: '/api/pay/refund' }],
        ['METHOD_NOT_ALLOWED', { method: 'DELETE', url: '/api/pay/verification' }],
        ['PAYLOAD_TOO_LARGE', json('/api/pay/verification', JSON.stringify({ pad: 'x'.repeat(70000) }))],
        ['UNSUPPORTED_MEDIA_TYPE', { method: 'POST', url: '/api/pay/verification', payload: 'x', headers: { 'content-type': 'text/plain' } }],
      ]
      for (const [state, request] of cases) {
        const res = await send(t.app, request)
        assertFail(res, state)
      }
      // The provocations changed nothing: the unpaid order is unpaid, the paid one paid.
      const rows = await ordersOf(t, 'env-states')
      assert.deepEqual(rows.map((r) => [r.order_no, r.status]).sort(), [[order.order, 'unpaid'], [paid.order, 'paid']].sort())
    })

    test('when callbacks are limited to an address list and come from elsewhere, then CALLBACK_FORBIDDEN', async () => {
      const side = await createTestApp(dialect, { url: t.url, env: { CALLBACK_ALLOW_IPS: '10.0.0.0/8' } })
      try {
        const order = await createOrder(side.app, { user_id: 'env-forbidden' })
        const res = await send(side.app, json('/api/pay/callback', JSON.stringify(signed(callbackParams(order.order, order.rmb_yuan)))))
        assertFail(res, 'CALLBACK_FORBIDDEN')
        const [row] = await ordersOf(t, 'env-forbidden')
        assert.equal(row.status, 'unpaid')
      } finally {
        await side.close()
      }
    })

    test('when the database is gone, then SERVICE_UNAVAILABLE with Retry-After, never an internal error', async () => {
      const side = await createTestApp(dialect, { url: t.url })
      try {
        await side.ctx.store.db.destroy()
        for (const request of [
          { method: 'GET', url: '/api/pay/goods?id=1' },
          json('/api/pay/verification', JSON.stringify({ user_id: 'env-down', item: '月卡' })),
          json('/api/pay/cancel-order', JSON.stringify({ user_id: 'env-down', order: '811-1' })),
        ] as InjectOptions[]) {
          const res = await send(side.app, request)
          assertFail(res, 'SERVICE_UNAVAILABLE')
          assert.equal(res.headers['retry-after'], '1')
          assert.doesNotMatch(res.text, /select|from "|sqlite|kysely|\n\s+at /i)
        }
      } finally {
        await side.app.close()
        await side.ctx.close().catch(() => {})
      }
    })
  })

  describe('HTTP_STATUS_MODE=always-200', () => {
    let side: TestApp
    before(async () => { side = await createTestApp(dialect, { url: t.url, env: { HTTP_STATUS_MODE: 'always-200' } }) })
    after(async () => { await side.close() })

    test('when a request fails, then the status is 200 and the body is the same as in strict mode', async () => {
      const requests: InjectOptions[] = [
        { method: 'GET', url: '/api/pay/goods?id=999', headers: { 'x-request-id': 'same-1' } },
        { method: 'GET', url: '/api/pay/goods?id=x', headers: { 'x-request-id': 'same-2' } },
        { method: 'GET', url: '/api/pay/nothing', headers: { 'x-request-id': 'same-3' } },
        { method: 'PUT', url: '/api/pay/goods', headers: { 'x-request-id': 'same-4' } },
        { method: 'POST', url: '/api/pay/create-order', payload: 'x', headers: { 'x-request-id': 'same-5', 'content-type': 'text/plain' } },
        json('/api/pay/create-order', '{bad', { 'x-request-id': 'same-6' }),
      ]
      for (const request of requests) {
        const strict = await send(t.app, request)
        const lenient = await send(side.app, request)
        assert.notEqual(strict.status, 200)
        assert.equal(lenient.status, 200)
        assert.deepEqual(lenient.body, strict.body)
        assert.equal(lenient.body.result, 'fail')
      }
    })

    test('when the URL cannot be decoded (refused before any route), then the status is 200 too, with the INVALID_PARAMS envelope', async () => {
      const request: InjectOptions = { method: 'GET', url: '/api/pay/%ZZ', headers: { 'x-request-id': 'bad-url-200', 'accept-language': 'en' } }
      const strict = await send(t.app, request)
      const lenient = await send(side.app, request)
      assert.equal(strict.status, 400)
      assert.equal(lenient.status, 200)
      assert.deepEqual(lenient.body, strict.body)
      assert.equal(lenient.body.state, 'INVALID_PARAMS')
      assert.equal(lenient.body.trace_id, 'bad-url-200')
      assert.equal(lenient.headers['x-request-id'], 'bad-url-200')
      assert.match(lenient.body.message, /url/)
    })

    test('when an order is created, then success looks the same as in strict mode', async () => {
      const res = await post(side.app, '/api/pay/create-order', { user_id: 'env-always', item: '月卡', single_pric: 30 })
      assert.equal(res.status, 200)
      assert.equal(res.body.result, 'success')
      assert.equal((await ordersOf(t, 'env-always')).length, 1)
    })

    test('when the order is not paid, then verification answers 200 with state ORDER_NOT_PAID', async () => {
      const res = await post(side.app, '/api/pay/verification', { user_id: 'env-always', item: '月卡' })
      assert.equal(res.status, 200)
      assert.equal(res.body.result, 'fail')
      assert.equal(res.body.state, 'ORDER_NOT_PAID')
    })
  })
})
