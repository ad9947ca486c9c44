// The callback signature and the checks that run before any effect: source address,
// required fields, signType, sign, rmb_yuan format and timestamp age, in that order.
import assert from 'node:assert/strict'
import { createHash, createHmac, generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { callbackParams, createOrder, createTestApp, forEachDialect, logged, orderRow, paymentsOf, signed, TEST_SECRET, type TestApp } from '../helper.ts'

const VECTOR = '{"game_order_no":"811-107552442731859968","gyyx_order_no":"12345567","result":"success","result_message":"","rmb_yuan":128,"server_flag":"s1","common_param":"cp","timestamp":"1732600000"}'
const VECTOR_MD5 = '74fceaed45e99b9fbc26bcfdd6f2ad32'
const VECTOR_HMAC = '0797d97e465915a7f99bf8c64636dd629a1bd23832cd55745dd2aeba36267f39'

interface Sent { status: number, body: any, traceId: string }

async function send (t: TestApp, opts: { payload?: string | object, contentType?: string, remoteAddress?: string, headers?: Record<string, string> } = {}): Promise<Sent> {
  const traceId = randomUUID()
  const headers: Record<string, string> = { 'x-request-id': traceId, ...opts.headers }
  if (opts.contentType) headers['content-type'] = opts.contentType
  const res = await t.app.inject({ method: 'POST', url: '/api/pay/callback', payload: opts.payload, headers, remoteAddress: opts.remoteAddress })
  return { status: res.statusCode, body: res.json(), traceId }
}

async function eventsOf (t: TestApp, orderNo: string) {
  return t.ctx.store.db.selectFrom('order_events').select(['from_status', 'to_status']).where('order_no', '=', orderNo).orderBy('id').execute()
}

/** Refused, and nothing about the order changed: still unpaid, no payment, only its creation event. */
async function assertUnchanged (t: TestApp, orderNo: string) {
  const order = await orderRow(t, orderNo)
  assert.equal(order.status, 'unpaid')
  assert.equal(order.paid_at, null)
  assert.equal(order.gyyx_order_no, null)
  assert.deepEqual(await paymentsOf(t, orderNo), [])
  assert.deepEqual(await eventsOf(t, orderNo), [{ from_status: null, to_status: 'unpaid' }])
}

async function assertPaid (t: TestApp, orderNo: string, gyyx: string) {
  const order = await orderRow(t, orderNo)
  assert.equal(order.status, 'paid')
  assert.equal(order.gyyx_order_no, gyyx)
  assert.deepEqual((await paymentsOf(t, orderNo)).map((p) => [p.gyyx_order_no, p.kind]), [[gyyx, 'applied']])
}

function assertFail (res: Sent, status: number, state: string, mentions?: string) {
  assert.equal(res.status, status)
  assert.equal(res.body.result, 'fail')
  assert.equal(res.body.state, state)
  assert.equal(res.body.trace_id, res.traceId)
  if (mentions) assert.ok(res.body.message.includes(mentions), `"${res.body.message}" should mention ${mentions}`)
}

function assertSuccess (res: Sent) {
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.deepEqual(res.body, { result: 'success', state: '', trace_id: res.traceId })
}

/** stringA built here, independently of src/: non-empty values, ASCII names sorted, k=v joined by &. */
function stringAOf (params: Record<string, string>): string {
  return Object.keys(params).filter((k) => params[k] !== '').sort().map((k) => `${k}=${params[k]}`).join('&')
}
const md5 = (stringA: string, secret: string) => createHash('md5').update(`${stringA}&key=${secret}`).digest('hex')
const hmac = (stringA: string, secret: string) => createHmac('sha256', secret).update(stringA).digest('hex')

// The platform's key pair (its public half goes to CALLBACK_RSA_PUBLIC_KEY) and a stranger's.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
const otherPrivatePem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string

const shanghai = new Intl.DateTimeFormat('sv-SE', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
})

forEachDialect('callback signature and checks', (dialect) => {
  let t: TestApp
  let users = 0
  const order = (app: TestApp = t) => createOrder(app.app, { user_id: `sig-${++users}` })
  const others: TestApp[] = []
  // More instances on the same database, each with its own configuration.
  const withEnv = async (env: Record<string, string>, clock?: () => number) => {
    const app = await createTestApp(dialect, { url: t.url, env, clock })
    others.push(app)
    return app
  }

  before(async () => { t = await createTestApp(dialect) })
  after(async () => {
    for (const app of others) await app.close()
    await t.close()
  })

  describe('signature', () => {
    let demo: TestApp
    let rsa: TestApp
    before(async () => {
      demo = await withEnv({ CALLBACK_SECRET: 'demo-secret' })
      const pem = join(mkdtempSync(join(tmpdir(), 'gamepay-key-')), 'platform.pem')
      writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }) as string)
      rsa = await withEnv({ CALLBACK_RSA_PUBLIC_KEY: pem })
    })

    test('when the contract test vector is sent with its MD5 and HMAC-SHA256 signs, then the signature holds and the unknown order is answered', async () => {
      for (const [signType, sign] of [['MD5', VECTOR_MD5], ['HMAC-SHA256', VECTOR_HMAC]]) {
        const res = await send(demo, { payload: { ...JSON.parse(VECTOR), signType, sign } })
        assertFail(res, 404, 'ORDER_NOT_FOUND', '811-107552442731859968')
        const row = await logged(t, res.traceId)
        assert.equal(row.signature, 'valid')
        assert.equal(row.sign_type, signType)
        assert.equal(row.outcome, 'order_not_found')
        assert.equal(row.game_order_no, '811-107552442731859968')
        assert.equal(row.gyyx_order_no, '12345567')
      }
    })

    test('when the test vector is signed with another secret, then SIGN_INVALID', async () => {
      const res = await send(t, { payload: { ...JSON.parse(VECTOR), signType: 'MD5', sign: VECTOR_MD5 } })
      assertFail(res, 401, 'SIGN_INVALID')
      assert.equal((await logged(t, res.traceId)).signature, 'invalid')
    })

    test('when a real order is signed by an independent MD5 and HMAC-SHA256, then it is paid', async () => {
      for (const [signType, fn] of [['MD5', md5], ['HMAC-SHA256', hmac]] as const) {
        const o = await order(demo)
        const params = callbackParams(o.order, '30', { common_param: 'cp' }) as Record<string, string>
        const res = await send(demo, { payload: { ...params, signType, sign: fn(stringAOf(params), 'demo-secret') } })
        assertSuccess(res)
        await assertPaid(t, o.order, params.gyyx_order_no)
      }
    })

    test('when RSA2 is signed with the private half of CALLBACK_RSA_PUBLIC_KEY, then the order is paid', async () => {
      const o = await order(rsa)
      const params = signed(callbackParams(o.order, 30), { type: 'RSA2', privateKeyPem: privatePem })
      const res = await send(rsa, { payload: params })
      assertSuccess(res)
      await assertPaid(t, o.order, params.gyyx_order_no)
      const row = await logged(t, res.traceId)
      assert.equal(row.sign_type, 'RSA2')
      assert.equal(row.signature, 'valid')
    })

    test('when RSA2 is signed with another key or tampered with, then SIGN_INVALID and nothing changes', async () => {
      const o = await order(rsa)
      const byOther = signed(callbackParams(o.order, 30), { type: 'RSA2', privateKeyPem: otherPrivatePem })
      const good = signed(callbackParams(o.order, 30), { type: 'RSA2', privateKeyPem: privatePem })
      for (const payload of [byOther, { ...good, common_param: 'changed' }, { ...good, sign: `${good.sign.slice(0, -4)}!!==` }, { ...good, sign: 'abc' }]) {
        const res = await send(rsa, { payload })
        assertFail(res, 401, 'SIGN_INVALID')
        assert.equal((await logged(t, res.traceId)).signature, 'invalid')
      }
      await assertUnchanged(t, o.order)
    })

    test('when RSA2 is used while no CALLBACK_RSA_PUBLIC_KEY is configured, then SIGN_TYPE_UNSUPPORTED and nothing changes', async () => {
      const o = await order()
      const res = await send(t, { payload: signed(callbackParams(o.order, 30), { type: 'RSA2', privateKeyPem: privatePem }) })
      assertFail(res, 400, 'SIGN_TYPE_UNSUPPORTED', 'RSA2')
      const row = await logged(t, res.traceId)
      assert.equal(row.outcome, 'SIGN_TYPE_UNSUPPORTED')
      assert.equal(row.signature, 'not_checked')
      await assertUnchanged(t, o.order)
    })

    test('when signType is unknown, then SIGN_TYPE_UNSUPPORTED names it and nothing changes', async () => {
      const o = await order()
      for (const signType of ['SHA1', 'MD5withRSA', 'HMAC-SHA1', 'RSA', 'md 5']) {
        const res = await send(t, { payload: { ...signed(callbackParams(o.order, 30)), signType } })
        assertFail(res, 400, 'SIGN_TYPE_UNSUPPORTED', signType)
        assert.equal((await logged(t, res.traceId)).sign_type, signType)
      }
      await assertUnchanged(t, o.order)
    })

    test('when signType is written in lower or mixed case, then it is recognised', async () => {
      for (const [type, written] of [['MD5', 'md5'], ['HMAC-SHA256', 'hmac-sha256'], ['MD5', 'Md5'], ['HMAC-SHA256', 'Hmac-Sha256']] as const) {
        const o = await order()
        const params = signed(callbackParams(o.order, 30), { type })
        const res = await send(t, { payload: { ...params, signType: written } })
        assertSuccess(res)
        await assertPaid(t, o.order, params.gyyx_order_no)
      }
    })

    test('when the hex sign is in upper case, then it is accepted', async () => {
      for (const type of ['MD5', 'HMAC-SHA256'] as const) {
        const o = await order()
        const params = signed(callbackParams(o.order, 30), { type })
        const res = await send(t, { payload: { ...params, sign: params.sign.toUpperCase() } })
        assertSuccess(res)
        await assertPaid(t, o.order, params.gyyx_order_no)
      }
    })

    test('when sign is missing or empty, then SIGN_INVALID and nothing changes', async () => {
      const o = await order()
      const { sign: _sign, ...unsigned } = signed(callbackParams(o.order, 30))
      for (const payload of [unsigned, { ...unsigned, sign: '' }, { ...unsigned, sign: null }]) {
        const res = await send(t, { payload })
        assertFail(res, 401, 'SIGN_INVALID')
        const row = await logged(t, res.traceId)
        assert.equal(row.signature, 'missing')
        assert.equal(row.outcome, 'SIGN_INVALID')
      }
      await assertUnchanged(t, o.order)
    })

    test('when sign is wrong, then SIGN_INVALID and nothing changes', async () => {
      const o = await order()
      const good = signed(callbackParams(o.order, 30))
      const wrongs = [
        { ...good, sign: '0'.repeat(32) },
        { ...good, sign: good.sign.slice(0, -1) },
        { ...good, sign: `${good.sign}00` },
        { ...good, sign: ` ${good.sign}` },
        { ...good, rmb_yuan: 30.5 },
        { ...good, result_message: 'tampered' },
        signed(callbackParams(o.order, 30), { secret: 'another-secret' }),
        { ...good, signType: 'HMAC-SHA256' },
      ]
      for (const payload of wrongs) {
        const res = await send(t, { payload })
        assertFail(res, 401, 'SIGN_INVALID')
        const row = await logged(t, res.traceId)
        assert.equal(row.signature, 'invalid')
        assert.equal(row.outcome, 'SIGN_INVALID')
        assert.deepEqual(JSON.parse(row.params), payload)
      }
      await assertUnchanged(t, o.order)
    })

    test('when an unknown extra parameter is sent, then it is part of what is signed', async () => {
      const o = await order()
      const withoutExtra = signed(callbackParams(o.order, 30))
      const refused = await send(t, { payload: { ...withoutExtra, coupon: 'c-1' } })
      assertFail(refused, 401, 'SIGN_INVALID')
      await assertUnchanged(t, o.order)

      const params = callbackParams(o.order, '30', { coupon: 'c-1', zz_channel: 'wx' }) as Record<string, string>
      const res = await send(t, { payload: { ...params, signType: 'MD5', sign: md5(stringAOf(params), TEST_SECRET) } })
      assertSuccess(res)
      await assertPaid(t, o.order, params.gyyx_order_no)
      assert.equal(JSON.parse((await logged(t, res.traceId)).params).coupon, 'c-1')
    })

    test('when a parameter is empty, then it is left out of what is signed', async () => {
      const o = await order()
      const params = callbackParams(o.order, '30', { common_param: '', result_message: '' }) as Record<string, string>
      const withEmpty = Object.keys(params).sort().map((k) => `${k}=${params[k]}`).join('&')
      assert.ok(withEmpty.includes('common_param=&'))
      const refused = await send(t, { payload: { ...params, signType: 'MD5', sign: md5(withEmpty, TEST_SECRET) } })
      assertFail(refused, 401, 'SIGN_INVALID')
      await assertUnchanged(t, o.order)

      const res = await send(t, { payload: { ...params, signType: 'MD5', sign: md5(stringAOf(params), TEST_SECRET) } })
      assertSuccess(res)
      await assertPaid(t, o.order, params.gyyx_order_no)
    })
  })

  describe('order of the checks', () => {
    let guarded: TestApp
    let now = 0
    before(async () => {
      now = Math.floor(Date.now() / 1000) * 1000
      guarded = await withEnv({ CALLBACK_ALLOW_IPS: '10.0.0.0/8', CALLBACK_MAX_AGE_SECONDS: '300' }, () => now)
    })
    const stale = () => String(now / 1000 - 3600)

    test('when the source is outside CALLBACK_ALLOW_IPS, then CALLBACK_FORBIDDEN whatever else is wrong', async () => {
      const o = await order(guarded)
      const good = signed(callbackParams(o.order, 30, { timestamp: String(now / 1000) }))
      const bodies: Array<{ name: string, payload?: string | object, contentType?: string }> = [
        { name: 'a valid callback', payload: good },
        { name: 'an empty body' },
        { name: 'missing fields and an unknown signType', payload: { game_order_no: o.order, signType: 'SHA1' } },
        { name: 'a wrong sign', payload: { ...good, sign: 'x' } },
        { name: 'a bad amount and a stale timestamp', payload: signed(callbackParams(o.order, '1.005', { timestamp: stale() })) },
        { name: 'an object value', payload: { ...good, common_param: { a: 1 } } },
        { name: 'a repeated form parameter', payload: 'a=1&a=2', contentType: 'application/x-www-form-urlencoded' },
        { name: 'a body that is not JSON', payload: '{"game_order_no":', contentType: 'application/json' },
        { name: 'a content type the route does not take', payload: 'hello', contentType: 'text/plain' },
      ]
      for (const { name, payload, contentType } of bodies) {
        const res = await send(guarded, { payload, contentType, remoteAddress: '192.0.2.1' })
        assertFail(res, 403, 'CALLBACK_FORBIDDEN')
        const row = await logged(t, res.traceId)
        assert.equal(row.outcome, 'CALLBACK_FORBIDDEN', name)
        assert.equal(row.source_ip, '192.0.2.1', name)
        assert.equal(row.signature, 'not_checked', name)
        // What it sent is kept, as for any unverified callback: at most 2 KiB of it.
        if (payload === good) assert.equal(row.game_order_no, o.order)
        assert.ok(Buffer.byteLength(row.params) <= 2048)
      }
      await assertUnchanged(t, o.order)
    })

    test('when a required field is missing, then INVALID_PARAMS names it before signType and sign are looked at', async () => {
      const o = await order()
      for (const field of ['game_order_no', 'gyyx_order_no', 'result', 'rmb_yuan']) {
        const { [field]: _gone, ...rest } = callbackParams(o.order, 30) as Record<string, unknown>
        for (const payload of [{ ...rest, signType: 'SHA1' }, { ...rest, [field]: '', signType: 'MD5', sign: 'wrong' }]) {
          const res = await send(t, { payload })
          assertFail(res, 400, 'INVALID_PARAMS', field)
          assert.equal((await logged(t, res.traceId)).outcome, 'INVALID_PARAMS')
        }
      }
      const { signType: _type, ...noType } = signed(callbackParams(o.order, 30))
      const res = await send(t, { payload: noType })
      assertFail(res, 400, 'INVALID_PARAMS', 'signType')
      await assertUnchanged(t, o.order)
    })

    test('when signType is unknown and sign missing, then SIGN_TYPE_UNSUPPORTED comes first', async () => {
      const o = await order()
      const { sign: _sign, ...unsigned } = signed(callbackParams(o.order, 30))
      const res = await send(t, { payload: { ...unsigned, signType: 'SHA1' } })
      assertFail(res, 400, 'SIGN_TYPE_UNSUPPORTED')
      await assertUnchanged(t, o.order)
    })

    test('when rmb_yuan is malformed, then SIGN_INVALID if the sign is wrong, else INVALID_PARAMS naming rmb_yuan', async () => {
      const o = await order()
      for (const amount of ['1.005', '-30', '3e1', ' 30', '30.', '0', '0.00', '10000000.01', 'abc', '1,000']) {
        const badSign = await send(t, { payload: { ...signed(callbackParams(o.order, amount)), sign: '0'.repeat(32) } })
        assertFail(badSign, 401, 'SIGN_INVALID')
        const res = await send(t, { payload: signed(callbackParams(o.order, amount)) })
        assertFail(res, 400, 'INVALID_PARAMS', 'rmb_yuan')
        const row = await logged(t, res.traceId)
        assert.equal(row.signature, 'valid')
        assert.equal(row.outcome, 'INVALID_PARAMS')
      }
      for (const amount of [1.005, -30, 0, 1e21]) {
        const res = await send(t, { payload: signed(callbackParams(o.order, amount)) })
        assertFail(res, 400, 'INVALID_PARAMS', 'rmb_yuan')
      }
      await assertUnchanged(t, o.order)
    })

    test('when rmb_yuan is malformed and the timestamp stale, then INVALID_PARAMS comes first', async () => {
      const o = await order(guarded)
      const res = await send(guarded, { payload: signed(callbackParams(o.order, '1.005', { timestamp: stale() })), remoteAddress: '10.0.0.1' })
      assertFail(res, 400, 'INVALID_PARAMS', 'rmb_yuan')
      await assertUnchanged(t, o.order)
    })

    test('when the timestamp is stale and the order unknown, then CALLBACK_FORBIDDEN comes before ORDER_NOT_FOUND', async () => {
      const stalled = await send(guarded, { payload: signed(callbackParams('811-1', 30, { timestamp: stale() })), remoteAddress: '10.0.0.1' })
      assertFail(stalled, 403, 'CALLBACK_FORBIDDEN', 'timestamp')
      const row = await logged(t, stalled.traceId)
      assert.equal(row.signature, 'valid')
      assert.equal(row.outcome, 'CALLBACK_FORBIDDEN')
      const fresh = await send(guarded, { payload: signed(callbackParams('811-1', 30, { timestamp: String(now / 1000) })), remoteAddress: '10.0.0.1' })
      assertFail(fresh, 404, 'ORDER_NOT_FOUND')
    })
  })

  describe('source address', () => {
    test('when a callback comes from inside CALLBACK_ALLOW_IPS, then it is applied and its source logged', async () => {
      const allow = await withEnv({ CALLBACK_ALLOW_IPS: '10.0.0.0/8, 192.0.2.7, 2001:db8::/32' })
      for (const ip of ['10.2.3.4', '::ffff:10.9.8.7', '192.0.2.7', '2001:db8::5']) {
        const o = await order(allow)
        const params = signed(callbackParams(o.order, 30))
        const res = await send(allow, { payload: params, remoteAddress: ip })
        assertSuccess(res)
        await assertPaid(t, o.order, params.gyyx_order_no)
        assert.equal((await logged(t, res.traceId)).source_ip, ip)
      }
      for (const ip of ['192.0.2.8', '11.0.0.1', '127.0.0.1', '2001:db9::1']) {
        const o = await order(allow)
        const res = await send(allow, { payload: signed(callbackParams(o.order, 30)), remoteAddress: ip })
        assertFail(res, 403, 'CALLBACK_FORBIDDEN', ip)
        assert.equal((await logged(t, res.traceId)).source_ip, ip)
        await assertUnchanged(t, o.order)
      }
    })

    test('when X-Forwarded-For is sent without TRUST_PROXY, then the TCP peer is the source', async () => {
      const allow = await withEnv({ CALLBACK_ALLOW_IPS: '10.0.0.0/8' })
      const o = await order(allow)
      const res = await send(allow, { payload: signed(callbackParams(o.order, 30)), remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '10.0.0.1' } })
      assertFail(res, 403, 'CALLBACK_FORBIDDEN')
      assert.equal((await logged(t, res.traceId)).source_ip, '127.0.0.1')
      await assertUnchanged(t, o.order)
    })

    test('when the peer is in TRUST_PROXY, then the address it reports in X-Forwarded-For is the source', async () => {
      const proxied = await withEnv({ TRUST_PROXY: '127.0.0.1', CALLBACK_ALLOW_IPS: '203.0.113.0/24' })
      const cases = [
        { peer: '127.0.0.1', xff: '203.0.113.5', source: '203.0.113.5', allowed: true },
        { peer: '127.0.0.1', xff: '198.51.100.9, 203.0.113.6', source: '203.0.113.6', allowed: true },
        { peer: '127.0.0.1', xff: '198.51.100.2', source: '198.51.100.2', allowed: false },
        { peer: '198.51.100.1', xff: '203.0.113.5', source: '198.51.100.1', allowed: false },
      ]
      for (const c of cases) {
        const o = await order(proxied)
        const params = signed(callbackParams(o.order, 30))
        const res = await send(proxied, { payload: params, remoteAddress: c.peer, headers: { 'x-forwarded-for': c.xff } })
        if (c.allowed) {
          assertSuccess(res)
          await assertPaid(t, o.order, params.gyyx_order_no)
        } else {
          assertFail(res, 403, 'CALLBACK_FORBIDDEN')
          await assertUnchanged(t, o.order)
        }
        assert.equal((await logged(t, res.traceId)).source_ip, c.source, JSON.stringify(c))
      }
    })
  })

  describe('timestamp age (CALLBACK_MAX_AGE_SECONDS)', () => {
    let aged: TestApp
    let now = 0
    before(async () => {
      now = Math.floor(Date.now() / 1000) * 1000
      aged = await withEnv({ CALLBACK_MAX_AGE_SECONDS: '300' }, () => now)
    })
    const seconds = (ms: number) => String(ms / 1000)
    const inShanghai = (ms: number) => shanghai.format(new Date(ms))

    test('when the timestamp is within the window in seconds, milliseconds or Shanghai time, then the callback is applied', async () => {
      const within = [
        seconds(now), seconds(now - 300_000), seconds(now + 300_000),
        String(now - 299_999), String(now + 300_000),
        inShanghai(now - 300_000), inShanghai(now + 300_000), inShanghai(now),
      ]
      for (const timestamp of within) {
        const o = await order(aged)
        const params = signed(callbackParams(o.order, 30, { timestamp }))
        const res = await send(aged, { payload: params })
        assertSuccess(res)
        await assertPaid(t, o.order, params.gyyx_order_no)
        assert.equal((await paymentsOf(t, o.order))[0].platform_timestamp, timestamp)
      }
    })

    test('when the timestamp is outside the window, missing or unparseable, then CALLBACK_FORBIDDEN and nothing changes', async () => {
      const o = await order(aged)
      const outside = [
        seconds(now - 301_000), seconds(now + 301_000), String(now - 300_001), String(now + 300_001),
        inShanghai(now - 301_000), inShanghai(now + 301_000),
        // The same wall-clock time read as UTC instead of Asia/Shanghai is 8 hours off.
        new Date(now).toISOString().slice(0, 19).replace('T', ' '),
        undefined, '', 'yesterday', '2025-02-30 10:00:00', new Date(now).toISOString(), `${seconds(now)}.5`,
        `-${seconds(now)}`, '1'.repeat(15), inShanghai(now).replace(' ', 'T'),
      ]
      for (const timestamp of outside) {
        const params = timestamp === undefined
          ? signed({ ...callbackParams(o.order, 30), timestamp: undefined })
          : signed(callbackParams(o.order, 30, { timestamp }))
        const res = await send(aged, { payload: params })
        assertFail(res, 403, 'CALLBACK_FORBIDDEN', 'timestamp')
        const row = await logged(t, res.traceId)
        assert.equal(row.signature, 'valid', String(timestamp))
        assert.equal(row.outcome, 'CALLBACK_FORBIDDEN')
      }
      await assertUnchanged(t, o.order)
    })

    test('when CALLBACK_MAX_AGE_SECONDS is not set, then any timestamp, or none, is accepted', async () => {
      for (const timestamp of [undefined, '1732600000', 'yesterday']) {
        const o = await order()
        const params = signed({ ...callbackParams(o.order, 30), timestamp })
        const res = await send(t, { payload: params })
        assertSuccess(res)
        await assertPaid(t, o.order, params.gyyx_order_no)
      }
    })
  })
})
