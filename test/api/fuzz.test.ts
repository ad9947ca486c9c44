// The rule of the states table: "No input, however malformed, produces a 500 or a non-envelope response."
// Random methods, paths, content types, headers and bodies go to the app through inject; every
// answer must be the envelope with a §7 state, a trace id, and no stack trace or SQL.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import type { InjectOptions } from 'fastify'
import { STATES } from '../../src/errors.ts'
import { callbackParams, createOrder, createTestApp, forEachDialect, signed, type TestApp } from '../helper.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 200)
const ENVELOPE_KEYS = new Set(['result', 'state', 'trace_id', 'data', 'message'])
const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/
// What a leaked stack trace or database error would look like; request text echoed back in a
// message (a path, an item name) is short and random, so it does not match these by chance.
const LEAKS = [
  /\n\s+at /, /node_modules/, /\.[jt]s:\d+/, /SQLITE_[A-Z]/, /\bER_[A-Z_]{4,}/, /\b(Range|Type|Reference|Syntax)Error\b/,
  /syntax error/i, /duplicate key/i, /violates/i, /relation "/i, /\binsert into\b/i, /\bselect\b.*\bfrom\b/i, /kysely/i,
]

const ROUTES = ['/api/pay/goods', '/api/pay/create-order', '/api/pay/cancel-order', '/api/pay/verification', '/api/pay/callback', '/healthz', '/readyz']
const CONTENT_TYPES = [
  'application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/x-www-form-urlencoded', 'text/plain',
  'multipart/form-data; boundary=----x', 'application/octet-stream', 'application/xml', 'application/json; charset=latin1', '', ';;;', '*/*',
]

/** Percent-encodes any string, lone surrogates included (as U+FFFD, like a browser would). */
const pct = (s: string) => [...Buffer.from(s, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('')

type Res = Awaited<ReturnType<TestApp['app']['inject']>>

/** The invariants of every answer (HEAD answers carry no body, so only the status and header). */
function assertEnvelope (request: InjectOptions, res: Res) {
  const where = `${request.method} ${request.url} -> ${res.statusCode} ${res.body.slice(0, 300)}`
  assert.ok(res.statusCode < 500, where)
  const traceHeader = res.headers['x-request-id']
  assert.equal(typeof traceHeader, 'string', where)
  assert.match(String(traceHeader), TRACE_ID, where)
  const sent = (request.headers as Record<string, unknown> | undefined)?.['x-request-id']
  if (typeof sent === 'string' && TRACE_ID.test(sent)) assert.equal(traceHeader, sent, where)
  if (request.method === 'HEAD') return

  assert.match(String(res.headers['content-type']), /^application\/json/, where)
  const body = JSON.parse(res.body)
  assert.equal(typeof body, 'object', where)
  assert.deepEqual(Object.keys(body).filter((k) => !ENVELOPE_KEYS.has(k)), [], where)
  assert.ok(body.result === 'success' || body.result === 'fail', where)
  assert.equal(body.trace_id, traceHeader, where)
  if (body.result === 'success') {
    assert.equal(body.state, '', where)
    assert.equal(res.statusCode, 200, where)
    assert.equal(Object.hasOwn(body, 'message'), false, where)
  } else {
    assert.ok(Object.hasOwn(STATES, body.state), where)
    assert.notEqual(body.state, 'INTERNAL_ERROR', where)
    assert.equal(res.statusCode, STATES[body.state as keyof typeof STATES].status, where)
    assert.equal(typeof body.message, 'string', where)
    assert.equal(Object.hasOwn(body, 'data'), false, where)
  }
  for (const leak of LEAKS) assert.doesNotMatch(res.body, leak, where)
}

// ---- arbitraries ----

const ascii = (maxLength: number) => fc.string({ unit: 'grapheme-ascii', maxLength })
const weirdStrings = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('\ud800', 'a\udfffb', '\u0000', '\u202e', '😀'.repeat(70), '月卡', '商品属性', '绝版礼包', '商品ID', '811-1', ' ', '1.005', '-1', '1e309', 'NaN')
)
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  weirdStrings,
  fc.integer(),
  fc.double(),
  fc.constantFrom(0, -0, 1, 30, 0.1, 99.99, 1.005, 10000000.01, Number.MAX_SAFE_INTEGER, 1e21, -30),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 })
)
const protoKey = fc.constantFrom('__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__')
const fieldName = fc.constantFrom('user_id', 'item', 'item_id', 'single_pric', 'amount_num', 'order', 'server_flag', 'description',
  'game_role_id', 'game_role_name', 'game_role_grade', 'game_order_no', 'gyyx_order_no', 'result', 'rmb_yuan', 'sign', 'signType', 'sign_type', 'timestamp')

/** A JSON object text built by hand, so keys like __proto__ really appear in it. */
const objectText = (entries: Array<[string, unknown]>) =>
  `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`

const nearlyValid = (order: string) => fc.oneof(
  // A create-order, cancel or verification body with some fields replaced by anything.
  fc.tuple(fc.dictionary(fieldName, anyValue, { maxKeys: 4 }), fc.constantFrom(
    { user_id: 'fz', item: '月卡', single_pric: 30 },
    { user_id: 'fz', item: '每日礼包', item_id: 5, single_pric: 0.1, amount_num: 3 },
    { user_id: 'fz', order },
    { user_id: 'fz', item: '月卡', order }
  )).map(([patch, base]) => JSON.stringify({ ...base, ...patch })),
  // A correctly signed callback with random values: the checks after the signature run too.
  fc.tuple(fc.dictionary(fieldName, anyValue, { maxKeys: 3 }), fc.constantFrom<unknown>(30, '30.00', 31, 0, '1.005', -30, 'x'))
    .map(([patch, amount]) => JSON.stringify(signed(callbackParams(order, amount as number, patch))))
)

const bodies = (order: string): fc.Arbitrary<string | Buffer | undefined> => fc.oneof(
  fc.constant(undefined),
  fc.constant(''),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  nearlyValid(order),
  nearlyValid(order),
  fc.array(fc.tuple(fc.oneof(protoKey, fieldName, fc.string({ maxLength: 8 })), anyValue), { maxLength: 6 }).map(objectText),
  fc.tuple(protoKey, fc.jsonValue({ maxDepth: 2 })).map(([k, v]) => `{"user_id":"fz","item":"月卡","single_pric":30,"x":{${JSON.stringify(k)}:${JSON.stringify(v)}}}`),
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.tuple(fc.integer({ min: 1, max: 30000 }), fc.constantFrom('[', '{"a":'), fieldName).map(([depth, open, key]) => {
    const close = open === '[' ? ']' : '}'
    return `{${JSON.stringify(key)}:${open.repeat(depth)}${open === '[' ? '' : '1'}${close.repeat(depth)}}`
  }),
  fc.tuple(fc.integer({ min: 60000, max: 70000 }), fieldName).map(([n, key]) => JSON.stringify({ user_id: 'fz', item: '月卡', single_pric: 30, [key]: 'x'.repeat(n) })),
  fc.tuple(fieldName, fc.string({ maxLength: 20 }), fieldName, fc.string({ maxLength: 20 })).map(([a, x, b, y]) =>
    `${a}=${pct(x)}&${b}=${pct(y)}&${a}=${pct(y)}`)
)

const paths = fc.oneof(
  fc.constantFrom(...ROUTES),
  fc.constantFrom(...ROUTES),
  fc.tuple(fc.constantFrom(...ROUTES), fc.webSegment()).map(([r, s]) => `${r}/${s}`),
  fc.webSegment().map((s) => `/api/pay/${s}`),
  fc.webPath().filter((p) => !p.startsWith('/docs')).map((p) => p || '/'),
  fc.constantFrom('/api/pay/%ZZ', '/api/pay/goods%', '//api/pay/goods', '/api/pay/../pay/goods', '/API/PAY/GOODS', '/api/pay/goods/', '/%00', '/api/pay/callback%2F')
)

const queries = fc.oneof(
  fc.constant(''),
  fc.webQueryParameters().map((q) => `?${q}`),
  weirdStrings.map((s) => `?id=${pct(s)}`),
  fc.constantFrom('?id=1', '?id=6', '?id=1&id=2', '?id[]=1', '?id=%ZZ', '?id=99999999999999999999', '?game_order_no=811-1&game_order_no=811-2')
)

const headers = fc.record({
  'content-type': fc.oneof(fc.constantFrom(...CONTENT_TYPES), ascii(40)),
  'x-request-id': fc.oneof(ascii(140), fc.stringMatching(/^[A-Za-z0-9._:-]{1,130}$/)),
  'accept-language': fc.oneof(fc.constantFrom('en', 'zh-CN', 'en;q=0.1, zh;q=x', 'en;q=NaN', '*'), ascii(30)),
  'idempotency-key': ascii(140),
}, { requiredKeys: [] })

forEachDialect('malformed input never breaks the envelope', (dialect) => {
  let t: TestApp
  let order: string
  before(async () => {
    t = await createTestApp(dialect)
    order = (await createOrder(t.app, { user_id: 'fz' })).order
  })
  after(async () => { await t.close() })

  test('when random methods, paths, content types, headers and bodies arrive, then every answer is a §7 envelope without a 500', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<InjectOptions['method']>('GET', 'POST', 'POST', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'),
        paths, queries, headers, bodies(order),
        async (method, path, query, hdrs, payload) => {
          const request: InjectOptions = { method, url: path + query, headers: hdrs, ...(payload === undefined ? {} : { payload }) }
          assertEnvelope(request, await t.app.inject(request))
        }
      ),
      { numRuns: RUNS, includeErrorInReport: true }
    )
  })

  test('when random bodies go to the JSON routes as JSON, then every answer is a §7 envelope without a 500', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...ROUTES.slice(1, 5)), bodies(order), headers, async (url, payload, hdrs) => {
        const request: InjectOptions = { method: 'POST', url, headers: { ...hdrs, 'content-type': 'application/json' }, payload: payload ?? '' }
        assertEnvelope(request, await t.app.inject(request))
      }),
      { numRuns: RUNS, includeErrorInReport: true }
    )
    // Whatever the fuzzing did to the one real order (cancel it, pay it), it followed the life
    // cycle: the history is an unbroken chain from null to the stored status.
    const [row] = await t.ctx.store.db.selectFrom('orders').select(['order_no', 'status']).where('order_no', '=', order).execute()
    assert.ok(['unpaid', 'cancelled', 'paid'].includes(row.status), row.status)
    const events = await t.ctx.store.db.selectFrom('order_events').selectAll().where('order_no', '=', order).orderBy('id').execute()
    let status: string | null = null
    for (const e of events) {
      assert.equal(e.from_status, status)
      status = e.to_status
    }
    assert.equal(status, row.status)
  })

  describe('regressions found by the fuzzer', () => {
    test('when a callback parameter is an array nested 30000 deep, then INVALID_PARAMS names it (was a 500: the raw-parameter log overflowed the stack)', async () => {
      const request: InjectOptions = {
        method: 'POST', url: '/api/pay/callback', headers: { 'content-type': 'application/json' }, payload: `{"game_order_no":${'['.repeat(30000)}${']'.repeat(30000)}}`,
      }
      const res = await t.app.inject(request)
      assertEnvelope(request, res)
      assert.equal(res.json().state, 'INVALID_PARAMS')
      assert.match(res.json().message, /game_order_no/)
      // Still logged, with the unloggable value marked.
      const logged = await t.ctx.store.db.selectFrom('callbacks').select(['params', 'outcome']).where('trace_id', '=', res.json().trace_id).execute()
      assert.deepEqual(logged, [{ params: '{"game_order_no":"[nested too deep]"}', outcome: 'INVALID_PARAMS' }])
    })

    test('when the path has a broken percent-encoding, then INVALID_PARAMS names the url (was Fastify\'s own body without a trace id)', async () => {
      for (const url of ['/api/pay/%ZZ', '/api/pay/goods%', '/%E4%B8']) {
        const request: InjectOptions = { method: 'GET', url, headers: { 'x-request-id': 'bad-url-1', 'accept-language': 'en' } }
        const res = await t.app.inject(request)
        assertEnvelope(request, res)
        assert.equal(res.json().state, 'INVALID_PARAMS')
        assert.equal(res.json().trace_id, 'bad-url-1')
        assert.match(res.json().message, /url/)
      }
    })

    test('when deep nesting, lone surrogates or prototype keys reach the order routes, then they answer with a §7 state', async () => {
      const cases: InjectOptions[] = [
        { method: 'POST', url: '/api/pay/create-order', headers: { 'content-type': 'application/json' }, payload: `{"user_id":"fz","item":"月卡","single_pric":30,"x":${'{"a":'.repeat(20000)}1${'}'.repeat(20000)}}` },
        { method: 'POST', url: '/api/pay/create-order', headers: { 'content-type': 'application/json' }, payload: '{"user_id":"\\ud800","item":"\\udfff","single_pric":30}' },
        { method: 'POST', url: '/api/pay/verification', headers: { 'content-type': 'application/json' }, payload: '{"user_id":"fz","item":"月卡","order":"\\ud800"}' },
        { method: 'POST', url: '/api/pay/cancel-order', headers: { 'content-type': 'application/json' }, payload: '{"user_id":"fz","order":"811-1","constructor":{"prototype":{"x":1}}}' },
        { method: 'POST', url: '/api/pay/callback', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '__proto__=1&constructor=2&game_order_no=811-1' },
        { method: 'POST', url: '/api/pay/callback?__proto__[x]=1&hasOwnProperty=1', headers: { 'content-type': 'application/json' }, payload: '' },
      ]
      for (const request of cases) assertEnvelope(request, await t.app.inject(request))
    })
  })
})
