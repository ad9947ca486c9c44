// The goods lookup's cache: answers without a query once warm, dropped when goods change, in this
// instance at once and in the others by PostgreSQL NOTIFY, Redis or the version check; and never
// what an order is charged.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, connect as connectTcp, type AddressInfo, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve as resolvePath } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { Redis } from 'ioredis'
import { importCatalog } from '../src/modules/goods/goods.service.ts'
import { createTestApp, forEachDialect, post, type TestApp } from './helper.ts'
import { form, signIn, tokenFor } from './console/console-helper.ts'

const BIN = resolvePath(import.meta.dirname, '../bin/gamepay.js')
const REDIS_URL = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** A version check that never comes due during a test: only a drop can change an answer. */
const NEVER = 3_600_000

async function goods (t: TestApp, id: number | string) {
  const res = await t.app.inject({ method: 'GET', url: `/api/pay/goods?id=${id}` })
  return { status: res.statusCode, body: res.json() }
}

const priceOf = async (t: TestApp, id: number) => (await goods(t, id)).body.data?.single_pric as number | undefined

const queries = (t: TestApp) => t.ctx.catalog.stats().queries

async function stored (t: TestApp, id: number) {
  const row = await t.ctx.store.db.selectFrom('goods').selectAll().where('id', '=', id).executeTakeFirst()
  return row && { item: row.item, priceFen: Number(row.price_fen), onSale: Number(row.on_sale) === 1 }
}

/** Reads until `done` holds, for at most 10 s (the change travels asynchronously; no fixed sleep). */
async function until<T> (read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 10_000
  for (;;) {
    const value = await read()
    if (done(value)) return value
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(value)} after 10 s`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

async function admin (t: TestApp, token: string, method: 'POST' | 'PATCH', url: string, payload: object) {
  const res = await t.app.inject({ method, url, payload, headers: { authorization: `Bearer ${token}` } })
  assert.equal(res.statusCode, 200, res.body)
  return res.json()
}

/** `gamepay goods import <file>` as its own process, as an operator runs it beside the instances. */
function cliImport (url: string, entries: unknown[]): Promise<string> {
  const file = join(mkdtempSync(join(tmpdir(), 'gamepay-cache-')), 'goods.json')
  writeFileSync(file, JSON.stringify(entries))
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, 'goods', 'import', file], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', DATABASE_URL: url }, timeout: 60_000 },
      (err, stdout, stderr) => err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))
  })
}

type ProxyState = 'up' | 'down' | 'no-listener'

/**
 * A TCP proxy to PostgreSQL that can refuse every connection ('down') or only the cache's LISTEN
 * connection ('no-listener'), known by the application_name in its startup message.
 */
async function startPgProxy (target: URL) {
  let state: ProxyState = 'up'
  const open = new Map<Socket, { listener: boolean, upstream: Socket }>()
  const server = createServer((socket) => {
    socket.on('error', () => {})
    socket.once('data', (first) => {
      socket.pause()
      const listener = first.includes('gamepay catalog listener')
      if (state === 'down' || (state === 'no-listener' && listener)) return socket.destroy()
      const upstream = connectTcp(Number(target.port || 5432), target.hostname)
      upstream.on('error', () => socket.destroy())
      socket.on('close', () => { upstream.destroy(); open.delete(socket) })
      upstream.on('close', () => socket.destroy())
      open.set(socket, { listener, upstream })
      upstream.write(first)
      socket.pipe(upstream).pipe(socket)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = new URL(target)
  url.port = String((server.address() as AddressInfo).port)
  return {
    url: url.toString(),
    set (next: ProxyState) {
      state = next
      for (const [socket, conn] of open) {
        if (next === 'down' || (next === 'no-listener' && conn.listener)) socket.destroy()
      }
    },
    close: () => {
      for (const socket of open.keys()) socket.destroy()
      return new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

async function redisReachable (): Promise<boolean> {
  const probe = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, retryStrategy: () => null })
  try {
    await probe.connect()
    return await probe.ping() === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}

forEachDialect('goods cache', (dialect) => {
  describe('one instance', () => {
    let t: TestApp
    let token: string
    before(async () => {
      t = await createTestApp(dialect, { context: { catalog: { listen: false, checkMs: NEVER } } })
      token = await tokenFor(t, 'cache-admin')
    })
    after(async () => { await t.close() })

    test('when goods are asked for again, then the cache answers without a database query: on sale, off sale and unknown ids alike', async () => {
      assert.equal((await goods(t, 1)).status, 200)
      const warm = queries(t)

      const one = await goods(t, 1)
      assert.equal(one.status, 200)
      assert.deepEqual(one.body.data, { id: 1, item: '商品属性', single_pric: 99.99, on_sale: true })
      const off = await goods(t, 6)
      assert.deepEqual(off.body.data, { id: 6, item: '绝版礼包', single_pric: 128, on_sale: false })
      for (const id of [999, 7]) {
        const unknown = await goods(t, id)
        assert.equal(unknown.status, 404)
        assert.equal(unknown.body.state, 'GOODS_NOT_FOUND')
        assert.ok(unknown.body.message.includes(String(id)))
      }
      assert.equal((await goods(t, 'abc')).body.state, 'INVALID_PARAMS')
      for (let i = 0; i < 20; i++) assert.equal((await goods(t, 2)).status, 200)

      assert.equal(queries(t), warm, 'no query once warm')
      assert.deepEqual(await stored(t, 1), { item: '商品属性', priceFen: 9999, onSale: true })
      assert.deepEqual(await stored(t, 6), { item: '绝版礼包', priceFen: 12800, onSale: false })
      assert.equal(await stored(t, 999), undefined)
    })

    test('when an operator reprices goods and takes them off sale in the console, then the next lookup here answers the change', async () => {
      assert.equal(await priceOf(t, 3), 6)
      await admin(t, token, 'PATCH', '/api/admin/goods/3', { price: 6.5 })
      assert.deepEqual((await goods(t, 3)).body.data, { id: 3, item: '钻石x60', single_pric: 6.5, on_sale: true })
      assert.deepEqual(await stored(t, 3), { item: '钻石x60', priceFen: 650, onSale: true })

      await admin(t, token, 'PATCH', '/api/admin/goods/3', { on_sale: false, item: '钻石x60 (下架)' })
      assert.deepEqual((await goods(t, 3)).body.data, { id: 3, item: '钻石x60 (下架)', single_pric: 6.5, on_sale: false })
      assert.deepEqual(await stored(t, 3), { item: '钻石x60 (下架)', priceFen: 650, onSale: false })

      await admin(t, token, 'PATCH', '/api/admin/goods/3', { price: 6, on_sale: true, item: '钻石x60' })
      assert.deepEqual((await goods(t, 3)).body.data, { id: 3, item: '钻石x60', single_pric: 6, on_sale: true })
    })

    test('when an operator changes a price through the console page, then the next lookup here answers it', async () => {
      const session = await signIn(t, 'cache-page-admin', 'admin')
      assert.equal(await priceOf(t, 4), 648)
      const res = await form(session, '/console/goods/4', { item: '钻石x6480', price: '650' })
      assert.equal(res.statusCode, 303, res.body)
      assert.equal(await priceOf(t, 4), 650)
      assert.equal((await stored(t, 4))?.priceFen, 65000)
      const sale = await form(session, '/console/goods/4/sale', { on_sale: 'false' })
      assert.equal(sale.statusCode, 303, sale.body)
      assert.equal((await goods(t, 4)).body.data.on_sale, false)
      assert.equal((await stored(t, 4))?.onSale, false)
    })

    test('when goods are created in the console, then an id that was not found is found at once', async () => {
      assert.equal((await goods(t, 950)).body.state, 'GOODS_NOT_FOUND')
      await admin(t, token, 'POST', '/api/admin/goods', { id: 950, item: '缓存礼包', price: 9.9, on_sale: true })
      const found = await goods(t, 950)
      assert.equal(found.status, 200)
      assert.deepEqual(found.body.data, { id: 950, item: '缓存礼包', single_pric: 9.9, on_sale: true })
      assert.deepEqual(await stored(t, 950), { item: '缓存礼包', priceFen: 990, onSale: true })
    })

    test('when a catalog import changes a price (as GOODS_SEED and goods import do), then the next lookup here answers it', async () => {
      assert.equal(await priceOf(t, 2), 30)
      await importCatalog(t.ctx.store, [{ id: 2, item: '月卡', priceFen: 3300, onSale: true }], Date.now())
      assert.equal(await priceOf(t, 2), 33)
      assert.equal((await stored(t, 2))?.priceFen, 3300)
      await importCatalog(t.ctx.store, [{ id: 2, item: '月卡', priceFen: 3000, onSale: true }], Date.now())
      assert.equal(await priceOf(t, 2), 30)
    })
  })

  describe('several instances on one database', () => {
    let a: TestApp
    let token: string
    const others: TestApp[] = []
    const instance = async (catalog: { listen?: boolean, checkMs?: number }, env: Record<string, string> = {}) => {
      const t = await createTestApp(dialect, { url: a.url, env, context: { catalog } })
      others.push(t)
      return t
    }
    before(async () => {
      a = await createTestApp(dialect, { context: { catalog: { listen: false, checkMs: NEVER } } })
      token = await tokenFor(a, 'cache-admin')
    })
    after(async () => {
      for (const t of others) await t.close()
      await a.close()
    })

    test('when a price changes while another instance still shows the old one, then create-order there with the old price gets PRICE_MISMATCH', async () => {
      const stale = await instance({ listen: false, checkMs: NEVER })
      assert.equal(await priceOf(stale, 3), 6)
      await admin(a, token, 'PATCH', '/api/admin/goods/3', { price: 7 })
      try {
        assert.equal(await priceOf(stale, 3), 6, 'that instance has not looked at the version yet')

        const refused = await post(stale.app, '/api/pay/create-order', { user_id: 'cache-stale', item: '钻石x60', item_id: '3', single_pric: 6 })
        assert.equal(refused.status, 400)
        assert.equal(refused.body.state, 'PRICE_MISMATCH')
        assert.match(refused.body.message, /7/)
        assert.deepEqual(await stale.ctx.store.db.selectFrom('orders').select('order_no').where('user_id', '=', 'cache-stale').execute(), [])

        const sold = await post(stale.app, '/api/pay/create-order', { user_id: 'cache-stale', item: '钻石x60', item_id: '3', single_pric: 7 })
        assert.equal(sold.status, 200, JSON.stringify(sold.body))
        const order = await stale.ctx.store.db.selectFrom('orders').selectAll().where('order_no', '=', sold.body.data.order).executeTakeFirstOrThrow()
        assert.deepEqual([Number(order.goods_id), Number(order.price_fen), Number(order.amount_fen)], [3, 700, 700])
      } finally {
        await admin(a, token, 'PATCH', '/api/admin/goods/3', { price: 6 })
      }
    })

    test('when another instance changes a price, then this one answers it after its next version check', async () => {
      const b = await instance({ listen: false, checkMs: 50 })
      assert.equal(b.ctx.catalog.stats().mode, 'version')
      assert.equal(await priceOf(b, 3), 6)
      await admin(a, token, 'PATCH', '/api/admin/goods/3', { price: 6.6 })
      try {
        assert.equal(await until(() => priceOf(b, 3), (p) => p === 6.6, 'b sees 6.6'), 6.6)
        assert.equal((await stored(b, 3))?.priceFen, 660)
      } finally {
        await admin(a, token, 'PATCH', '/api/admin/goods/3', { price: 6 })
      }
      await until(() => priceOf(b, 3), (p) => p === 6, 'b sees 6 again')
    })

    test('when the catalog changes outside any instance (gamepay goods import, SQL by hand), then the running instances see it', async () => {
      const watchers = [await instance({ listen: false, checkMs: 50 })]
      if (dialect === 'postgres') watchers.push(await instance({}))
      for (const w of watchers) assert.equal(await priceOf(w, 5), 0.1)

      const out = await cliImport(a.url, [{ id: 5, item: '每日礼包', single_pric: 0.2 }])
      assert.equal(out.trim(), 'goods: 0 inserted, 1 updated')
      for (const w of watchers) await until(() => priceOf(w, 5), (p) => p === 0.2, `${w.ctx.catalog.stats().mode} sees the import`)
      assert.equal((await stored(a, 5))?.priceFen, 20)

      await a.ctx.store.db.updateTable('goods').set({ price_fen: 10 }).where('id', '=', 5).execute()
      for (const w of watchers) await until(() => priceOf(w, 5), (p) => p === 0.1, `${w.ctx.catalog.stats().mode} sees the SQL`)
    })

    test('when two instances share a REDIS_URL, then a console change in one reaches the other without its version check', async () => {
      // Redis runs beside the databases (.ci/run starts it): without it this fails, it never skips.
      if (!await redisReachable()) throw new Error(`Redis is not reachable at ${REDIS_URL}`)
      const env = { REDIS_URL: `${REDIS_URL}?keyPrefix=gamepay-test-${randomUUID()}:` }
      const [one, two] = [await instance({ listen: false, checkMs: NEVER }, env), await instance({ listen: false, checkMs: NEVER }, env)]
      const oneToken = await tokenFor(one, 'cache-redis-admin')
      assert.equal(await priceOf(two, 2), 30)
      assert.equal(await priceOf(one, 2), 30)
      await admin(one, oneToken, 'PATCH', '/api/admin/goods/2', { price: 31 })
      try {
        await until(() => priceOf(two, 2), (p) => p === 31, 'the other instance sees 31')
        assert.equal(await priceOf(one, 2), 31)
        assert.equal((await stored(two, 2))?.priceFen, 3100)
      } finally {
        await admin(one, oneToken, 'PATCH', '/api/admin/goods/2', { price: 30 })
      }
      await until(() => priceOf(two, 2), (p) => p === 30, 'the other instance sees 30 again')
    })

    if (dialect === 'postgres') {
      test('when another instance changes a price, then this one drops its cache on the NOTIFY, and answers without a query until then', async () => {
        const b = await instance({})
        assert.deepEqual(b.ctx.catalog.stats(), { ...b.ctx.catalog.stats(), mode: 'listen', listening: true })
        assert.equal(await priceOf(b, 3), 6)
        const warm = queries(b)
        for (const id of [3, 1, 999]) await goods(b, id)
        assert.equal(queries(b), warm)

        await admin(a, token, 'PATCH', '/api/admin/goods/3', { price: 6.2 })
        try {
          await until(() => priceOf(b, 3), (p) => p === 6.2, 'b sees 6.2')
          assert.equal((await stored(b, 3))?.priceFen, 620)
        } finally {
          await admin(a, token, 'PATCH', '/api/admin/goods/3', { price: 6 })
        }
        await until(() => priceOf(b, 3), (p) => p === 6, 'b sees 6 again')
      })

      test('when the LISTEN connection is lost, then each lookup reads the database until it listens again; with the database gone, 503 rather than a cached answer', async () => {
        const proxy = await startPgProxy(new URL(a.url))
        const b = await createTestApp(dialect, { url: proxy.url, context: { catalog: { heartbeatMs: 200 } } })
        try {
          assert.equal(await priceOf(b, 3), 6)
          const warm = queries(b)
          assert.equal(await priceOf(b, 3), 6)
          assert.equal(queries(b), warm)

          proxy.set('no-listener')
          await until(async () => b.ctx.catalog.stats().listening, (up) => !up, 'the listener is down')
          // Changed with no one listening: b reads each answer, so it sees the change at once.
          await a.ctx.store.db.updateTable('goods').set({ price_fen: 640 }).where('id', '=', 3).execute()
          const before = queries(b)
          assert.equal(await priceOf(b, 3), 6.4)
          assert.equal(await priceOf(b, 3), 6.4)
          assert.equal((await goods(b, 999)).body.state, 'GOODS_NOT_FOUND')
          assert.equal(queries(b), before + 3, 'one query per answer')

          proxy.set('up')
          await until(async () => b.ctx.catalog.stats().listening, (up) => up, 'the listener is back')
          assert.equal(await priceOf(b, 3), 6.4)
          const again = queries(b)
          assert.equal(await priceOf(b, 3), 6.4)
          assert.equal(queries(b), again, 'cached again')

          proxy.set('down')
          await until(async () => b.ctx.catalog.stats().listening, (up) => !up, 'the listener is down with the database')
          const gone = await goods(b, 3)
          assert.equal(gone.status, 503)
          assert.equal(gone.body.state, 'SERVICE_UNAVAILABLE')

          proxy.set('up')
          await until(() => priceOf(b, 3), (p) => p === 6.4, 'b answers again')
        } finally {
          await a.ctx.store.db.updateTable('goods').set({ price_fen: 600 }).where('id', '=', 3).execute()
          proxy.set('up')
          await b.close()
          await proxy.close()
        }
      })
    }
  })
})
