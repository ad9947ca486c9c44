// The console's goods: listing, creating, editing names and prices (with their price history),
// taking goods off sale and back, from the admin API and from the pages; the catalog import's history.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { importCatalog } from '../../src/modules/goods/goods.service.ts'
import { createOrder, createTestApp, forEachDialect, orderRow, post, type TestApp } from '../helper.ts'
import { form, signIn, tokenFor, type Session } from './console-helper.ts'

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

const goodsRow = (t: TestApp, id: number) =>
  t.ctx.store.db.selectFrom('goods').selectAll().where('id', '=', id).executeTakeFirst()

const historyOf = async (t: TestApp, id: number) =>
  (await t.ctx.store.db.selectFrom('goods_price_history').selectAll().where('goods_id', '=', id).orderBy('id').execute())
    .map((r) => ({ old: r.old_price_fen === null ? null : Number(r.old_price_fen), new: Number(r.new_price_fen), by: r.changed_by, trace: r.trace_id }))

const auditOf = async (t: TestApp, target: string) =>
  (await t.ctx.store.db.selectFrom('audit_log').selectAll().where('target', '=', target).orderBy('id').execute())
    .map((r) => ({
      operator: r.operator,
      action: r.action,
      trace: r.trace_id,
      before: r.before_value === null ? null : JSON.parse(r.before_value),
      after: r.after_value === null ? null : JSON.parse(r.after_value),
    }))

const counts = async (t: TestApp) => ({
  goods: (await t.ctx.store.db.selectFrom('goods').selectAll().execute()).map((g) => [Number(g.id), g.item, Number(g.price_fen), Number(g.on_sale)]),
  history: (await t.ctx.store.db.selectFrom('goods_price_history').select('id').execute()).length,
  audit: (await t.ctx.store.db.selectFrom('audit_log').select('id').where('target', 'like', 'goods:%').execute()).length,
})

forEachDialect('console goods', (dialect) => {
  let t: TestApp
  let token: string
  let admin: Session
  const bearer = () => ({ authorization: `Bearer ${token}` })
  const api = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object, headers: Record<string, string> = bearer()) =>
    t.app.inject({ method, url, payload, headers })

  before(async () => {
    t = await createTestApp(dialect)
    token = await tokenFor(t, 'goods-admin', 'admin')
    admin = await signIn(t, 'goods-page-admin', 'admin')
  })
  after(async () => { await t.close() })

  test('when an admin lists the goods, then every goods comes with its name, price in yuan, sale state and times, and the page shows them', async () => {
    const res = await api('GET', '/api/admin/goods')
    assert.equal(res.statusCode, 200)
    const body = res.json()
    assert.equal(body.result, 'success')
    const byId = new Map(body.data.map((g: { id: number }) => [g.id, g]))
    assert.deepEqual({ ...byId.get(1) as object, created_at: 'x', updated_at: 'x' }, { id: 1, item: '商品属性', price: 99.99, on_sale: true, created_at: 'x', updated_at: 'x' })
    assert.match((byId.get(1) as { updated_at: string }).updated_at, ISO)
    assert.deepEqual([(byId.get(5) as { price: number }).price, (byId.get(6) as { on_sale: boolean }).on_sale], [0.1, false])
    assert.equal(body.data.length, (await counts(t)).goods.length)

    const page = await admin.inject({ url: '/console/goods?lang=en' })
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /<a href="\/console\/goods\/1">商品属性<\/a><\/td>\s*<td class="num">99\.99<\/td>/)
    assert.match(page.body, /<a href="\/console\/goods\/5">每日礼包<\/a><\/td>\s*<td class="num">0\.10<\/td>/)
    assert.match(page.body, /绝版礼包<\/a><\/td>\s*<td class="num">128\.00<\/td>\s*<td><span class="badge bad">off sale<\/span>/)
    assert.match(page.body, /<form method="post" action="\/console\/goods"/)
  })

  test('when an admin creates goods without an id, then it gets the next free id, its price in fen, a price history row and an audit entry', async () => {
    const next = Math.max(...(await counts(t)).goods.map(([id]) => id as number)) + 1
    const res = await api('POST', '/api/admin/goods', { item: '体力药剂', price: 12.88 }, { ...bearer(), 'x-request-id': 'goods-create-1' })
    assert.equal(res.statusCode, 200, res.body)
    const data = res.json().data
    assert.equal(data.id, next)
    assert.deepEqual([data.item, data.price, data.on_sale], ['体力药剂', 12.88, true])
    assert.match(data.created_at, ISO)

    const row = await goodsRow(t, next)
    assert.deepEqual([row?.item, Number(row?.price_fen), Number(row?.on_sale)], ['体力药剂', 1288, 1])
    assert.deepEqual(await historyOf(t, next), [{ old: null, new: 1288, by: 'goods-admin', trace: 'goods-create-1' }])
    assert.deepEqual(await auditOf(t, `goods:${next}`), [{
      operator: 'goods-admin', action: 'goods.create', trace: 'goods-create-1', before: null, after: { id: next, item: '体力药剂', price: 12.88, on_sale: true },
    }])
    // Players can order it at once, at that price.
    const order = await createOrder(t.app, { user_id: 'goods-u0', item: '体力药剂', item_id: String(next), single_pric: 12.88 })
    assert.equal(order.rmb_yuan, 12.88)
  })

  test('when an admin creates goods with a free id, a decimal-text price and off sale, then they are stored so', async () => {
    const res = await api('POST', '/api/admin/goods', { id: 900, item: '测试礼包', price: '6.5', on_sale: false })
    assert.equal(res.statusCode, 200, res.body)
    assert.deepEqual((({ id, item, price, on_sale: onSale }) => ({ id, item, price, onSale }))(res.json().data), { id: 900, item: '测试礼包', price: 6.5, onSale: false })
    const row = await goodsRow(t, 900)
    assert.deepEqual([Number(row?.price_fen), Number(row?.on_sale)], [650, 0])
    assert.deepEqual((await historyOf(t, 900)).map((h) => [h.old, h.new]), [[null, 650]])
  })

  test('when the id or the name is taken, or the price is not a positive two-decimal amount, then creation is refused naming it and nothing is stored', async () => {
    const before = await counts(t)
    const taken = await api('POST', '/api/admin/goods', { id: 2, item: '全新名字', price: 1 })
    assert.equal(taken.statusCode, 409)
    assert.equal(taken.json().state, 'CONFLICT')
    assert.match(taken.json().message, /商品 2/)
    const named = await api('POST', '/api/admin/goods', { item: '月卡', price: 1 }, { ...bearer(), 'accept-language': 'en' })
    assert.equal(named.statusCode, 409)
    assert.equal(named.json().state, 'CONFLICT')
    assert.match(named.json().message, /item "月卡" is already the name of goods 2/)
    for (const price of [0, -1, 1.234, '1.001', 'abc', '', 10_000_000.01]) {
      const res = await api('POST', '/api/admin/goods', { item: `价格 ${String(price)}`, price })
      assert.equal(res.statusCode, 400, String(price))
      assert.equal(res.json().state, 'INVALID_PARAMS')
      assert.match(res.json().message, /^请求参数无效: price /)
    }
    for (const item of ['', '   ', 'x'.repeat(256)]) {
      const res = await api('POST', '/api/admin/goods', { item, price: 1 })
      assert.equal(res.statusCode, 400)
      assert.match(res.json().message, /item/)
    }
    const unknown = await api('POST', '/api/admin/goods', { item: 'x', price: 1, name: 'y' })
    assert.equal(unknown.statusCode, 400)
    assert.deepEqual(await counts(t), before)
  })

  test('when the price changes, then existing orders keep theirs, the old price is refused and the new one sold, with history and audit', async () => {
    const created = (await api('POST', '/api/admin/goods', { item: '改价礼包', price: 30 })).json()
    const id = created.data.id as number
    const old = await createOrder(t.app, { user_id: 'goods-u1', item: '改价礼包', item_id: String(id), single_pric: 30, amount_num: 2 })

    const res = await api('PATCH', `/api/admin/goods/${id}`, { price: 45.5 }, { ...bearer(), 'x-request-id': 'goods-reprice-1' })
    assert.equal(res.statusCode, 200, res.body)
    assert.deepEqual([res.json().data.price, res.json().data.item, res.json().data.on_sale], [45.5, '改价礼包', true])
    assert.equal(Number((await goodsRow(t, id))?.price_fen), 4550)

    const kept = await orderRow(t, old.order)
    assert.deepEqual([Number(kept.price_fen), Number(kept.amount_fen), kept.status], [3000, 6000, 'unpaid'])
    const refused = await post(t.app, '/api/pay/create-order', { user_id: 'goods-u2', item: '改价礼包', item_id: String(id), single_pric: 30 })
    assert.equal(refused.status, 400)
    assert.equal(refused.body.state, 'PRICE_MISMATCH')
    const sold = await createOrder(t.app, { user_id: 'goods-u2', item: '改价礼包', item_id: String(id), single_pric: 45.5 })
    assert.equal(sold.rmb_yuan, 45.5)

    assert.deepEqual(await historyOf(t, id), [
      { old: null, new: 3000, by: 'goods-admin', trace: created.trace_id },
      { old: 3000, new: 4550, by: 'goods-admin', trace: 'goods-reprice-1' },
    ])
    assert.deepEqual((await auditOf(t, `goods:${id}`)).slice(1), [{
      operator: 'goods-admin', action: 'goods.update', trace: 'goods-reprice-1', before: { item: '改价礼包', price: 30 }, after: { item: '改价礼包', price: 45.5 },
    }])

    const history = await api('GET', `/api/admin/goods/${id}/price-history`)
    assert.equal(history.statusCode, 200)
    assert.deepEqual(history.json().data.map((h: Record<string, unknown>) => [h.goods_id, h.old_price, h.new_price, h.changed_by, h.trace_id]), [
      [id, 30, 45.5, 'goods-admin', 'goods-reprice-1'],
      [id, null, 30, 'goods-admin', created.trace_id],
    ])
    assert.match(history.json().data[0].changed_at, ISO)
  })

  test('when only the name changes, or nothing, then no price history is written; a name in use elsewhere is a conflict', async () => {
    const { data: { id } } = (await api('POST', '/api/admin/goods', { item: '旧名字', price: 8 })).json()
    const renamed = await api('PATCH', `/api/admin/goods/${id}`, { item: '新名字', price: 8 })
    assert.equal(renamed.statusCode, 200)
    assert.equal((await goodsRow(t, id))?.item, '新名字')
    assert.equal((await historyOf(t, id)).length, 1)
    assert.deepEqual((await auditOf(t, `goods:${id}`)).map((a) => [a.action, a.before, a.after]), [
      ['goods.create', null, { id, item: '旧名字', price: 8, on_sale: true }],
      ['goods.update', { item: '旧名字', price: 8 }, { item: '新名字', price: 8 }],
    ])

    const same = await api('PATCH', `/api/admin/goods/${id}`, { item: '新名字' })
    assert.equal(same.statusCode, 200)
    assert.equal((await auditOf(t, `goods:${id}`)).length, 2)

    const before = await counts(t)
    const clash = await api('PATCH', `/api/admin/goods/${id}`, { item: '月卡', price: 9 })
    assert.equal(clash.statusCode, 409)
    assert.equal(clash.json().state, 'CONFLICT')
    assert.match(clash.json().message, /月卡/)
    assert.deepEqual(await counts(t), before)

    const missing = await api('PATCH', '/api/admin/goods/999999', { price: 9 })
    assert.equal(missing.statusCode, 404)
    assert.equal(missing.json().state, 'GOODS_NOT_FOUND')
  })

  test('when goods are taken off sale and back, then orders are refused and then taken again, each change audited without price history', async () => {
    const { data: { id } } = (await api('POST', '/api/admin/goods', { item: '下架礼包', price: 3 })).json()
    const off = await api('PATCH', `/api/admin/goods/${id}`, { on_sale: false })
    assert.equal(off.statusCode, 200)
    assert.equal(off.json().data.on_sale, false)
    assert.equal(Number((await goodsRow(t, id))?.on_sale), 0)
    const refused = await post(t.app, '/api/pay/create-order', { user_id: 'goods-u3', item: '下架礼包', item_id: String(id), single_pric: 3 })
    assert.equal(refused.body.state, 'GOODS_UNAVAILABLE')

    const on = await api('PATCH', `/api/admin/goods/${id}`, { on_sale: true })
    assert.equal(on.json().data.on_sale, true)
    await createOrder(t.app, { user_id: 'goods-u3', item: '下架礼包', item_id: String(id), single_pric: 3 })

    assert.deepEqual((await auditOf(t, `goods:${id}`)).slice(1).map((a) => [a.action, a.before, a.after]), [
      ['goods.off-sale', { on_sale: true }, { on_sale: false }],
      ['goods.on-sale', { on_sale: false }, { on_sale: true }],
    ])
    assert.equal((await historyOf(t, id)).length, 1)
  })

  test('when an admin uses the page forms, then each redirects with a notice and the page shows the goods and its price history, newest first', async () => {
    const created = await form(admin, '/console/goods', { id: '', item: '页面礼包', price: '12.88' })
    assert.equal(created.statusCode, 303)
    const location = created.headers.location as string
    const id = Number(/^\/console\/goods\/(\d+)\?done=created$/.exec(location)?.[1])
    assert.ok(id > 0, location)

    const edited = await form(admin, `/console/goods/${id}`, { item: '页面礼包', price: '15' })
    assert.equal(edited.statusCode, 303)
    assert.equal(edited.headers.location, `/console/goods/${id}?done=updated`)
    const sale = await form(admin, `/console/goods/${id}/sale`, { on_sale: 'false' })
    assert.equal(sale.headers.location, `/console/goods/${id}?done=off-sale`)

    assert.deepEqual((await historyOf(t, id)).map((h) => [h.old, h.new, h.by]), [[null, 1288, 'goods-page-admin'], [1288, 1500, 'goods-page-admin']])
    assert.deepEqual((await auditOf(t, `goods:${id}`)).map((a) => a.action), ['goods.create', 'goods.update', 'goods.off-sale'])
    const row = await goodsRow(t, id)
    assert.deepEqual([Number(row?.price_fen), Number(row?.on_sale)], [1500, 0])

    const page = await admin.inject({ url: `/console/goods/${id}?done=off-sale&lang=en` })
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /<p class="notice" role="status">Taken off sale\.<\/p>/)
    assert.match(page.body, /<h1>页面礼包<\/h1>/)
    assert.match(page.body, /<dd>15\.00<\/dd>/)
    assert.match(page.body, /<button type="submit">Put back on sale<\/button>/)
    const history = page.body.slice(page.body.indexOf('id="history"'))
    const lines = [...history.matchAll(/<td class="num">([^<]*)<\/td>\s*<td>([^<]*)<\/td>/g)].map((m) => [m[1], m[2]])
    assert.deepEqual(lines, [['12.88 → 15.00', 'goods-page-admin'], ['(created) → 12.88', 'goods-page-admin']])
    const trace = (await historyOf(t, id))[1].trace as string
    assert.match(history, new RegExp(`<code>${trace}</code>`))

    const list = await admin.inject({ url: '/console/goods?done=created' })
    assert.match(list.body, /商品已创建/)
    assert.match(list.body, /页面礼包<\/a><\/td>\s*<td class="num">15\.00<\/td>/)
  })

  test('when a page form is wrong, then the error page names the field and nothing changes', async () => {
    const before = await counts(t)
    const res = await form(admin, '/console/goods', { item: '坏价格', price: '1.234' })
    assert.equal(res.statusCode, 400)
    assert.match(res.body, /price/)
    const missing = await admin.inject({ url: '/console/goods/424242' })
    assert.equal(missing.statusCode, 404)
    const badSale = await form(admin, '/console/goods/1/sale', { on_sale: 'maybe' })
    assert.equal(badSale.statusCode, 400)
    assert.deepEqual(await counts(t), before)
  })

  test('when a viewer tries any change, then it is FORBIDDEN and nothing changes; the viewer still sees the goods without forms', async () => {
    const viewerToken = await tokenFor(t, 'goods-viewer', 'viewer')
    const viewer = await signIn(t, 'goods-viewer-page', 'viewer')
    const before = await counts(t)
    const headers = { authorization: `Bearer ${viewerToken}` }
    const attempts = [
      await api('POST', '/api/admin/goods', { item: '只读礼包', price: 1 }, headers),
      await api('PATCH', '/api/admin/goods/2', { price: 1 }, headers),
      await api('PATCH', '/api/admin/goods/2', { on_sale: false }, headers),
      await form(viewer, '/console/goods', { item: '只读礼包', price: '1' }),
      await form(viewer, '/console/goods/2', { item: '月卡', price: '1' }),
      await form(viewer, '/console/goods/2/sale', { on_sale: 'false' }),
    ]
    for (const res of attempts) assert.equal(res.statusCode, 403, res.body)
    for (const res of attempts.slice(0, 3)) assert.equal(res.json().state, 'FORBIDDEN')
    assert.deepEqual(await counts(t), before)

    assert.equal((await api('GET', '/api/admin/goods/2/price-history', undefined, headers)).statusCode, 200)
    const page = await viewer.inject({ url: '/console/goods/2' })
    assert.equal(page.statusCode, 200)
    assert.doesNotMatch(page.body, /action="\/console\/goods\/2"/)
    assert.doesNotMatch(page.body, /action="\/console\/goods\/2\/sale"/)
  })

  test('when nobody is signed in, then the goods API answers 401 and the pages redirect to sign-in', async () => {
    const before = await counts(t)
    for (const [method, url] of [['GET', '/api/admin/goods'], ['POST', '/api/admin/goods'], ['PATCH', '/api/admin/goods/2'], ['GET', '/api/admin/goods/2/price-history']] as const) {
      const res = await t.app.inject({ method, url, payload: method === 'GET' ? undefined : { price: 1, item: 'x' } })
      assert.equal(res.statusCode, 401, url)
      assert.equal(res.json().state, 'UNAUTHORIZED')
    }
    for (const url of ['/console/goods', '/console/goods/2']) {
      const res = await t.app.inject({ url })
      assert.equal(res.statusCode, 303)
      assert.equal(res.headers.location, `/console/sign-in?next=${encodeURIComponent(url)}`)
    }
    const posted = await t.app.inject({ method: 'POST', url: '/console/goods/2/sale', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'on_sale=false' })
    assert.equal(posted.statusCode, 303)
    assert.deepEqual(await counts(t), before)
  })

  test('when a catalog import adds goods or changes a price, then the history records it as changed by import; an unchanged price adds nothing', async () => {
    await importCatalog(t.ctx.store, [
      { id: 3, item: '钻石x60', priceFen: 650, onSale: true },
      { id: 4, item: '钻石x6480', priceFen: 64800, onSale: true },
      { id: 950, item: '导入礼包', priceFen: 100, onSale: true },
    ], Date.now())
    assert.deepEqual((await historyOf(t, 3)).at(-1), { old: 600, new: 650, by: 'import', trace: null })
    assert.deepEqual((await historyOf(t, 4)).map((h) => h.by), ['import'])
    assert.deepEqual(await historyOf(t, 950), [{ old: null, new: 100, by: 'import', trace: null }])
    const again = (await historyOf(t, 3)).length
    await importCatalog(t.ctx.store, [{ id: 3, item: '钻石x60', priceFen: 650, onSale: true }], Date.now())
    await importCatalog(t.ctx.store, [{ id: 3, item: '钻石x60', priceFen: 999, onSale: true }], Date.now(), false)
    assert.equal((await historyOf(t, 3)).length, again)
    assert.equal(Number((await goodsRow(t, 3))?.price_fen), 650)
  })
})
