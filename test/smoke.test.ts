import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createOrder, createTestApp, forEachDialect, pay, post, type TestApp } from './helper.ts'

forEachDialect('the whole flow', (dialect) => {
  let t: TestApp
  before(async () => { t = await createTestApp(dialect) })
  after(async () => { await t.close() })

  test('when an order is paid by a signed callback, then verification answers paid', async () => {
    const order = await createOrder(t.app)
    const paid = await pay(t.app, order.order, order.rmb_yuan)
    assert.equal(paid.body.state, '')
    const verified = await post(t.app, '/api/pay/verification', { user_id: 'u1', item: '月卡', order: order.order })
    assert.equal(verified.body.data.status, 'paid')
    assert.equal(verified.body.data.verify_count, 1)
  })
})
