// U+0000 in any string field of any route is INVALID_PARAMS naming the field, on every database
// (PostgreSQL cannot store it at all): never a 500, never a partial write.
import assert from 'node:assert/strict'
import { test, before, after } from 'node:test'
import { toAppError } from '../../src/plugins/envelope.ts'
import { createOrder, createTestApp, forEachDialect, post, type TestApp } from '../helper.ts'

forEachDialect('NUL characters', (dialect) => {
  let t: TestApp
  before(async () => { t = await createTestApp(dialect) })
  after(async () => t.close())

  const ordersOf = (userId: string) => t.ctx.store.db.selectFrom('orders').select('order_no').where('user_id', 'like', `${userId}%`).execute()

  function assertNamed (res: { status: number, body: any }, field: string) {
    assert.equal(res.status, 400, JSON.stringify(res.body))
    assert.equal(res.body.state, 'INVALID_PARAMS')
    assert.ok(res.body.message.includes(field), `"${res.body.message}" should name ${field}`)
    assert.ok(res.body.message.includes('NUL'), res.body.message)
  }

  test('when a create-order field holds NUL, then INVALID_PARAMS names it and no order is stored', async () => {
    const body = { user_id: 'nul-create', item: '月卡', item_id: '2', single_pric: 30 }
    for (const field of ['user_id', 'item', 'server_flag', 'description', 'game_role_id', 'game_role_name', 'game_role_grade']) {
      const value = field === 'user_id' ? 'nul-create\u0000' : field === 'item' ? '月卡\u0000' : 'a\u0000b'
      assertNamed(await post(t.app, '/api/pay/create-order', { ...body, [field]: value }, { 'accept-language': 'en' }), field)
    }
    assert.deepEqual(await ordersOf('nul-create'), [])
  })

  test('when item_id holds NUL, then it is not a plain integer and counts as absent (the goods are found by item)', async () => {
    const res = await post(t.app, '/api/pay/create-order', { user_id: 'nul-itemid', item: '月卡', item_id: '2\u0000', single_pric: 30 })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.data.item_id, 2)
    assert.equal((await ordersOf('nul-itemid')).length, 1)
  })

  test('when an unknown field holds NUL, then it is ignored like any unknown field', async () => {
    const res = await post(t.app, '/api/pay/create-order', { user_id: 'nul-extra', item: '月卡', single_pric: 30, note: 'x\u0000' })
    assert.equal(res.status, 200, JSON.stringify(res.body))
  })

  test('when cancel-order or verification fields hold NUL, then INVALID_PARAMS names them and the order is untouched', async () => {
    const o = await createOrder(t.app, { user_id: 'nul-cancel' })
    const en = { 'accept-language': 'en' }
    assertNamed(await post(t.app, '/api/pay/cancel-order', { user_id: 'nul-cancel\u0000', order: o.order }, en), 'user_id')
    assertNamed(await post(t.app, '/api/pay/cancel-order', { user_id: 'nul-cancel', order: `${o.order}\u0000` }, en), 'order')
    assertNamed(await post(t.app, '/api/pay/verification', { user_id: 'nul-cancel', item: '月\u0000卡' }, en), 'item')
    assertNamed(await post(t.app, '/api/pay/verification', { user_id: 'nul-cancel', item: '月卡', order: `\u0000${o.order}` }, en), 'order')
    const row = await t.ctx.store.db.selectFrom('orders').select(['status', 'verify_count']).where('order_no', '=', o.order).executeTakeFirstOrThrow()
    assert.deepEqual({ status: row.status, verify_count: Number(row.verify_count) }, { status: 'unpaid', verify_count: 0 })
  })

  test('when the goods id holds NUL, then INVALID_PARAMS names id', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/api/pay/goods?id=1%00' })
    assert.equal(res.statusCode, 400)
    assert.equal(res.json().state, 'INVALID_PARAMS')
    assert.match(res.json().message, /id/)
  })
})

test('when PostgreSQL refuses a NUL that got past the schemas (22021), then the answer is INVALID_PARAMS, not 500', () => {
  const error = toAppError(Object.assign(new Error('invalid byte sequence for encoding "UTF8": 0x00'), { code: '22021' }))
  assert.equal(error.state, 'INVALID_PARAMS')
  assert.equal(error.httpStatus, 400)
})
