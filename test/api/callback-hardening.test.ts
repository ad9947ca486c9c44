// Callbacks that try to be read two ways: a value that re-splits over the signing string, names that
// are special to JavaScript, numbers a double cannot hold, NUL, accepted signTypes, and how much of
// a refused callback the log keeps.
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { buildStringA, computeSign } from '../../src/domain/signature.ts'
import { callbackParams, createOrder, createTestApp, forEachDialect, logged, orderRow, paymentsOf, signed, TEST_SECRET, type TestApp } from '../helper.ts'

interface Sent { status: number, body: any, traceId: string }

async function send (t: TestApp, payload: string | object, contentType = 'application/json'): Promise<Sent> {
  const traceId = randomUUID()
  const res = await t.app.inject({
    method: 'POST', url: '/api/pay/callback', payload, headers: { 'x-request-id': traceId, 'content-type': contentType, 'accept-language': 'en' },
  })
  return { status: res.statusCode, body: res.json(), traceId }
}

/** MD5-signed exactly as the platform would, over the given strings (no helper in between). */
function platformSigned (params: Record<string, string | number>): Record<string, string> {
  const text = Object.fromEntries(Object.entries(params).map(([k, v]) => [k, String(v)]))
  return { ...text, signType: 'MD5', sign: computeSign('MD5', buildStringA(text), { secret: TEST_SECRET }) }
}

const form = (params: Record<string, unknown>) => new URLSearchParams(params as Record<string, string>).toString()

function assertRefused (res: Sent, state: string, names?: string) {
  assert.equal(res.body.result, 'fail', JSON.stringify(res.body))
  assert.equal(res.body.state, state)
  if (names) assert.ok(res.body.message.includes(names), `"${res.body.message}" should name ${names}`)
}

forEachDialect('callback hardening', (dialect) => {
  let t: TestApp
  let users = 0
  before(async () => { t = await createTestApp(dialect) })
  after(async () => t.close())
  const order = (app: TestApp = t) => createOrder(app.app, { user_id: `hard-${++users}` })

  async function assertUnpaid (orderNo: string, app: TestApp = t) {
    const row = await orderRow(app, orderNo)
    assert.equal(row.status, 'unpaid')
    assert.equal(row.gyyx_order_no, null)
    assert.deepEqual(await paymentsOf(app, orderNo), [])
  }

  test('when a signed failed payment is re-split into a success under the same signature, then it never pays', async () => {
    const o = await order()
    // The platform signs a *failed* payment whose common_param the player chose.
    const failed = platformSigned({
      game_order_no: o.order, gyyx_order_no: 'RESPLIT-1', result: 'fail', rmb_yuan: '30', common_param: 'x&result=success',
    })
    // stringA of both is "common_param=x&result=success&game_order_no=…": the attacker moves `result`.
    const forged = { ...failed, common_param: 'x', result: 'success&game_order_no=' + o.order }
    for (const [payload, named] of [[failed, 'common_param'], [forged, 'result']] as const) {
      for (const [body, type] of [[payload, 'application/json'], [form(payload), 'application/x-www-form-urlencoded']] as const) {
        const res = await send(t, body, type)
        assert.equal(res.status, 400)
        assertRefused(res, 'INVALID_PARAMS', named)
        const row = await logged(t, res.traceId)
        assert.equal(row.outcome, 'INVALID_PARAMS')
        assert.equal(row.signature, 'not_checked')
      }
    }
    await assertUnpaid(o.order)
  })

  test('when a parameter name holds & or =, then INVALID_PARAMS names it before signType is looked at', async () => {
    const o = await order()
    for (const name of ['a&b', 'c=d']) {
      const res = await send(t, { ...callbackParams(o.order, 30), [name]: 'v', signType: 'SHA1', sign: 'x' })
      assert.equal(res.status, 400)
      assertRefused(res, 'INVALID_PARAMS', name)
    }
    await assertUnpaid(o.order)
  })

  test('when values hold & or = that cannot re-split (a=1;b=2, x&y, URL-encoded), then they are signed and applied', async () => {
    for (const value of ['a=1;b=2', 'x&y', 'a%3D1%26b%3D2', 'k=v', '&&', 'a& b=1']) {
      const o = await order()
      const params = platformSigned({ ...callbackParams(o.order, '30', { common_param: value }), gyyx_order_no: `OK-${randomUUID()}` })
      const res = await send(t, params)
      assert.equal(res.status, 200, `${value}: ${JSON.stringify(res.body)}`)
      assert.equal((await orderRow(t, o.order)).status, 'paid')
      assert.equal((await paymentsOf(t, o.order))[0].common_param, value)
    }
  })

  test('when names are __proto__, constructor or toString, then they are ordinary signed parameters, length-checked too', async () => {
    // A null-prototype map, so `__proto__` is an own member: JSON.stringify then writes it out.
    const withNames = (orderNo: string) => Object.assign(Object.create(null), callbackParams(orderNo, '30'),
      { ['__proto__']: 'p', constructor: 'c', toString: 't', hasOwnProperty: 'h' }) as Record<string, string>
    const o = await order()
    const text = JSON.stringify(platformSigned(withNames(o.order)))
    assert.ok(text.includes('"__proto__":"p"'))
    const res = await send(t, text)
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal((await orderRow(t, o.order)).status, 'paid')
    assert.equal(JSON.parse((await logged(t, res.traceId)).params).constructor, 'c')

    // The same parameters but __proto__ no longer match their signature: the name was signed.
    const o2 = await order()
    const tampered = JSON.stringify(platformSigned(withNames(o2.order))).replace('"__proto__":"p"', '"__proto__":"q"')
    const refused = await send(t, tampered)
    assert.equal(refused.status, 401)
    assertRefused(refused, 'SIGN_INVALID')

    const long = await send(t, `{"__proto__":"${'x'.repeat(5000)}","game_order_no":"${o2.order}"}`)
    assertRefused(long, 'INVALID_PARAMS', '__proto__')
    await assertUnpaid(o2.order)
    assert.equal(Object.hasOwn(Object.prototype, 'p'), false)
  })

  test('when a JSON number cannot be represented exactly, then INVALID_PARAMS names it and nothing changes', async () => {
    const o = await order()
    const base = platformSigned({ ...callbackParams(o.order, '30') })
    for (const [name, token] of [['timestamp', '2024112612345678901'], ['rmb_yuan', '30.000000000000000001'], ['server_flag', '1e400']]) {
      const text = JSON.stringify({ ...base, [name]: 0 }).replace(`"${name}":0`, `"${name}":${token}`)
      const res = await send(t, text)
      assert.equal(res.status, 400)
      assertRefused(res, 'INVALID_PARAMS', name)
    }
    await assertUnpaid(o.order)

    // Numbers a double holds exactly are signed as String(n), whatever their spelling.
    const exact = callbackParams(o.order, 30, { timestamp: 1732600000 })
    const res = await send(t, JSON.stringify(signed(exact)).replace('"rmb_yuan":30', '"rmb_yuan":30.00').replace('1732600000', '17326e5'))
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal((await orderRow(t, o.order)).status, 'paid')
  })

  test('when any callback parameter name or value holds NUL, then INVALID_PARAMS names it, in JSON, form and query', async () => {
    const o = await order()
    const good = signed(callbackParams(o.order, '30'))
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ ...good, result_message: 'a\u0000b' }, 'result_message'],
      [{ ...good, game_order_no: `${o.order}\u0000` }, 'game_order_no'],
      [{ ...good, 'ext\u0000ra': 'v' }, 'ext'],
    ]
    for (const [payload, name] of cases) {
      for (const [body, type] of [[JSON.stringify(payload), 'application/json'], [form(payload as Record<string, string>), 'application/x-www-form-urlencoded']]) {
        const res = await send(t, body, type)
        assert.equal(res.status, 400, `${name} ${type}`)
        assertRefused(res, 'INVALID_PARAMS', name)
        const row = await logged(t, res.traceId)
        assert.equal(row.outcome, 'INVALID_PARAMS')
      }
    }
    const query = await t.app.inject({ method: 'POST', url: `/api/pay/callback?${form({ ...good, common_param: 'x\u0000' })}` })
    assert.equal(query.json().state, 'INVALID_PARAMS')
    await assertUnpaid(o.order)
  })

  test('when a callback is refused unverified, then the log keeps at most 2 KiB of its parameters; a verified one whole', async () => {
    const o = await order()
    const big = { ...callbackParams(o.order, '30'), result_message: '支'.repeat(1000), extra: 'e'.repeat(3000) }
    const refused = await send(t, { ...big, signType: 'MD5', sign: 'wrong' })
    assertRefused(refused, 'SIGN_INVALID')
    const kept = (await logged(t, refused.traceId)).params
    assert.ok(Buffer.byteLength(kept) <= 2048, `${Buffer.byteLength(kept)} bytes kept`)
    assert.ok(kept.startsWith('{"game_order_no":'))
    assert.ok(kept.endsWith('…[truncated]'))

    const verified = await send(t, signed(big))
    assert.equal(verified.status, 200, JSON.stringify(verified.body))
    assert.deepEqual(JSON.parse((await logged(t, verified.traceId)).params), signed(big))
  })

  test('when CALLBACK_SIGN_TYPES leaves a type out, then that type is SIGN_TYPE_UNSUPPORTED and the others still pay', async () => {
    const hmacOnly = await createTestApp(dialect, { url: t.url, env: { CALLBACK_SIGN_TYPES: 'HMAC-SHA256' } })
    try {
      const o = await order(hmacOnly)
      const md5 = await send(hmacOnly, signed(callbackParams(o.order, 30)))
      assert.equal(md5.status, 400)
      assertRefused(md5, 'SIGN_TYPE_UNSUPPORTED', 'MD5')
      await assertUnpaid(o.order, hmacOnly)
      const hmac = await send(hmacOnly, signed(callbackParams(o.order, 30), { type: 'HMAC-SHA256' }))
      assert.equal(hmac.status, 200)
      assert.equal((await orderRow(hmacOnly, o.order)).status, 'paid')
    } finally {
      await hmacOnly.close()
    }
  })

  test('when only RSA2 is accepted, then no shared secret is needed off loopback and RSA2 callbacks pay', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const dir = mkdtempSync(join(tmpdir(), 'gamepay-rsa-'))
    writeFileSync(join(dir, 'platform.pem'), publicKey.export({ type: 'spki', format: 'pem' }))
    const rsa = await createTestApp(dialect, {
      url: t.url,
      env: { CALLBACK_SIGN_TYPES: 'RSA2', CALLBACK_SECRET: '', HOST: '0.0.0.0', CALLBACK_RSA_PUBLIC_KEY: join(dir, 'platform.pem') },
    })
    try {
      assert.equal(rsa.ctx.config.callbackSecret, null)
      const o = await order(rsa)
      const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
      const res = await send(rsa, signed(callbackParams(o.order, 30), { type: 'RSA2', privateKeyPem }))
      assert.equal(res.status, 200, JSON.stringify(res.body))
      assert.equal((await orderRow(rsa, o.order)).status, 'paid')
      const md5 = await send(rsa, signed(callbackParams((await order(rsa)).order, 30)))
      assertRefused(md5, 'SIGN_TYPE_UNSUPPORTED')
    } finally {
      await rsa.close()
    }
  })
})
