// The order list, the order page with its timeline, and the dashboard, as an operator reads them.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { createOrder, createTestApp, forEachDialect, orderRow, pay, post, type TestApp } from '../helper.ts'
import { signIn, tokenFor, type Session } from './console-helper.ts'

forEachDialect('console orders and dashboard', (dialect) => {
  let t: TestApp
  let admin: Session
  let paid: string
  let unpaid: string
  let other: string
  before(async () => {
    t = await createTestApp(dialect)
    admin = await signIn(t, 'alice')
    paid = (await createOrder(t.app, { user_id: 'player-7' })).order
    assert.equal((await pay(t.app, paid, 30)).status, 200)
    assert.equal((await post(t.app, '/api/pay/verification', { user_id: 'player-7', item: '月卡', item_id: '2', order: paid })).status, 200)
    unpaid = (await createOrder(t.app, { user_id: 'player-7', item: '钻石x60', item_id: '3', single_pric: 6 })).order
    other = (await createOrder(t.app, { user_id: 'player-8' })).order
    // A wrong amount: an anomaly on the other player's order.
    assert.equal((await pay(t.app, other, 31, { gyyx_order_no: 'P-mismatch' })).status, 400)
  })
  after(async () => { await t.close() })

  test('when an operator searches by user id, then the list shows that player\'s orders only, newest first, with their status', async () => {
    const page = await admin.inject({ url: '/console/orders?user_id=player-7&status=&goods_id=&from=&to=' })
    assert.equal(page.statusCode, 200)
    assert.ok(page.body.indexOf(unpaid) < page.body.indexOf(paid), 'newest first')
    assert.ok(page.body.includes(paid))
    assert.ok(!page.body.includes(other))
    assert.match(page.body, /已支付/)
    const api = await t.app.inject({ url: '/api/admin/orders?user_id=player-7', headers: { authorization: `Bearer ${await tokenFor(t, 'script')}` } })
    assert.equal(api.statusCode, 200)
    assert.deepEqual(api.json().data.orders.map((o: { order_no: string }) => o.order_no), [unpaid, paid])
    assert.equal(api.json().data.orders[1].amount, '30.00')
  })

  test('when the filters are status, goods, server flag, platform number, anomaly and dates, then each narrows the list', async () => {
    const list = async (query: string) => (await admin.inject({ url: `/api/admin/orders?${query}` })).json().data.orders.map((o: { order_no: string }) => o.order_no)
    assert.deepEqual(await list('status=paid'), [paid])
    assert.deepEqual(await list('goods_id=3'), [unpaid])
    assert.deepEqual(await list(`gyyx_order_no=${encodeURIComponent(`P${paid.split('-')[1]}`)}`), [paid])
    assert.deepEqual(await list('has_anomaly=1'), [other])
    assert.deepEqual(await list(`order_no=${encodeURIComponent(other)}`), [other])
    assert.deepEqual(await list('server_flag=no-such-flag'), [])
    assert.deepEqual(await list('from=2000-01-01&to=2000-01-02'), [])
    assert.equal((await list('limit=1')).length, 1)
    const bad = await admin.inject({ url: '/api/admin/orders?status=lost' })
    assert.equal(bad.statusCode, 400)
    assert.match(bad.json().message, /status/)
    const badDay = await admin.inject({ url: '/api/admin/orders?from=2024-02-30' })
    assert.match(badDay.json().message, /from/)
  })

  test('when a page of results is full, then the next-page link gives the following orders, each once', async () => {
    const first = (await admin.inject({ url: '/api/admin/orders?limit=2' })).json().data
    assert.equal(first.orders.length, 2)
    assert.ok(first.next)
    const second = (await admin.inject({ url: `/api/admin/orders?limit=2&after=${encodeURIComponent(first.next)}` })).json().data
    const all = [...first.orders, ...second.orders].map((o: { order_no: string }) => o.order_no)
    assert.deepEqual(new Set(all), new Set([paid, unpaid, other]))
    assert.equal(all.length, 3)
  })

  test('when the paid order\'s page is opened, then it answers paid, told (none configured) and verified at a glance, shows the callback\'s verdict and trace ids, and looking does not count as a verification', async () => {
    const before = await orderRow(t, paid)
    const page = await admin.inject({ url: `/console/orders/${paid}` })
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /data-glance="paid">是</)
    assert.match(page.body, /data-glance="verified">是</)
    assert.match(page.body, /data-glance="notified">无通知/)
    assert.match(page.body, /data-verdict="valid"/)
    assert.match(page.body, /收到回调：paid/)
    assert.match(page.body, /首次核验（累计 1 次）/)
    const callback = await t.ctx.store.db.selectFrom('callbacks').select('trace_id').where('game_order_no', '=', paid).executeTakeFirstOrThrow()
    assert.ok(page.body.includes(callback.trace_id))
    const api = await admin.inject({ url: `/api/admin/orders/${paid}` })
    assert.equal(api.json().data.glance.verifyCount, 1)
    assert.deepEqual(api.json().data.timeline.map((e: { kind: string }) => e.kind), ['created', 'callback', 'status', 'payment', 'verification'])
    const afterRow = await orderRow(t, paid)
    assert.equal(String(afterRow.verify_count), String(before.verify_count))
    assert.equal(String(afterRow.updated_at), String(before.updated_at))
  })

  test('when the anomalous order\'s page is opened in English, then it shows the mismatch and that nothing was paid', async () => {
    const page = await admin.inject({ url: `/console/orders/${other}?lang=en` })
    assert.match(page.body, /Callback received: amount_mismatch/)
    assert.match(page.body, /data-glance="paid">no</)
  })

  test('when an order does not exist, then the API answers ORDER_NOT_FOUND and the page says so', async () => {
    const api = await admin.inject({ url: '/api/admin/orders/811-1' })
    assert.equal(api.statusCode, 404)
    assert.equal(api.json().state, 'ORDER_NOT_FOUND')
    const page = await admin.inject({ url: '/console/orders/811-1' })
    assert.equal(page.statusCode, 404)
    assert.match(page.body, /订单不存在/)
  })

  test('when the dashboard is opened, then today shows the orders created and paid, the revenue in yuan and the callbacks by outcome, with charts', async () => {
    const api = (await admin.inject({ url: '/api/admin/dashboard' })).json().data
    assert.equal(api.today.created, 3)
    assert.equal(api.today.paid, 1)
    assert.equal(api.today.revenue, '30.00')
    assert.equal(api.days.length, 30)
    assert.deepEqual(api.callbacks.today, { paid: 1, amount_mismatch: 1 })
    const page = await admin.inject({ url: '/console/dashboard' })
    assert.match(page.body, /data-figure="created">3</)
    assert.match(page.body, /data-figure="revenue">30.00</)
    assert.match(page.body, /data-figure="conversion">33.3%</)
    assert.match(page.body, /<svg class="chart"/)
    assert.match(page.body, /amount_mismatch/)
  })

  test('when a viewer reads the orders and the dashboard, then both answer; without credentials they do not', async () => {
    const viewer = await signIn(t, 'victor', 'viewer')
    assert.equal((await viewer.inject({ url: '/console/orders' })).statusCode, 200)
    assert.equal((await viewer.inject({ url: `/console/orders/${paid}` })).statusCode, 200)
    assert.equal((await viewer.inject({ url: '/console/dashboard' })).statusCode, 200)
    assert.equal((await t.app.inject({ url: '/api/admin/orders' })).statusCode, 401)
    assert.equal((await t.app.inject({ url: '/console/dashboard' })).statusCode, 303)
  })
})
