// RATE_LIMIT_PER_MINUTE: one budget per client address across the public routes, checked before
// anything else; shared through REDIS_URL, per instance while Redis is down.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import type { InjectOptions } from 'fastify'
import { Redis } from 'ioredis'
import { buildApp } from '../src/app.ts'
import { createContext } from '../src/context.ts'
import { createLogger } from '../src/server.ts'
import { freePort, startTcpProxy, type TcpProxy } from '../test-system/processes.ts'
import {
  callbackParams, createOrder, createTestApp, forEachDialect, orderRow, signed, testConfig, type TestApp,
} from './helper.ts'

const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

type LogLine = { level: number, msg: string, [key: string]: unknown }

interface Sent { status: number, headers: Record<string, unknown>, body: any, traceId: string }

async function send (t: TestApp, from: string, request: InjectOptions): Promise<Sent> {
  const traceId = randomUUID()
  const headers = { 'x-request-id': traceId, ...request.headers }
  const res = await t.app.inject({ ...request, remoteAddress: from, headers })
  return { status: res.statusCode, headers: res.headers, body: res.json(), traceId }
}

const goods = (id = 1): InjectOptions => ({ method: 'GET', url: `/api/pay/goods?id=${id}` })
const post = (url: string, payload: unknown, contentType = 'application/json'): InjectOptions => ({
  method: 'POST',
  url,
  payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
  headers: { 'content-type': contentType },
})
/** The state a request was answered with. */
const stateOf = async (t: TestApp, from: string, request: InjectOptions) => (await send(t, from, request)).body.state
const verification = (userId: string) => post('/api/pay/verification', { user_id: userId, item: '月卡' })
const cancellation = (userId: string) => post('/api/pay/cancel-order', { user_id: userId, order: '811-1' })
const createBody = (userId: string) => ({ user_id: userId, item: '月卡', item_id: '2', single_pric: 30 })

function assertLimited (res: Sent) {
  assert.equal(res.status, 429, JSON.stringify(res.body))
  assert.deepEqual(Object.keys(res.body).sort(), ['message', 'result', 'state', 'trace_id'])
  assert.equal(res.body.result, 'fail')
  assert.equal(res.body.state, 'RATE_LIMITED')
  assert.equal(res.body.trace_id, res.traceId)
  assert.equal(res.headers['x-request-id'], res.traceId)
  assert.match(String(res.headers['content-type']), /^application\/json/)
  // Whole seconds, within the one-minute window.
  assert.match(String(res.headers['retry-after']), /^\d+$/)
  const seconds = Number(res.headers['retry-after'])
  assert.ok(seconds >= 1 && seconds <= 60, `Retry-After ${seconds}`)
  assert.equal(res.headers['x-ratelimit-remaining'], '0')
}

const rateHeaders = (res: Sent) =>
  Object.keys(res.headers).filter((h) => h.startsWith('x-ratelimit') || h === 'retry-after')

async function ordersOf (t: TestApp, userId: string) {
  return t.ctx.store.db.selectFrom('orders').select('order_no').where('user_id', '=', userId).execute()
}

async function callbackRows (t: TestApp, where: { traceId?: string, sourceIp?: string }) {
  let q = t.ctx.store.db.selectFrom('callbacks').select(['trace_id', 'source_ip', 'outcome'])
  if (where.traceId) q = q.where('trace_id', '=', where.traceId)
  if (where.sourceIp) q = q.where('source_ip', '=', where.sourceIp)
  return q.orderBy('id').execute()
}

/** An app on `url` whose log lines land in `lines`. */
async function appWithLog (url: string, env: Record<string, string>, lines: LogLine[]): Promise<TestApp> {
  const config = testConfig(url, { LOG_LEVEL: 'info', ...env })
  const ctx = await createContext(config)
  const logger = createLogger(config, { write: (line: string) => { lines.push(JSON.parse(line)) } })
  const app = await buildApp(ctx, { logger })
  await app.ready()
  return { app, ctx, url, async close () { await app.close(); await ctx.close() } }
}

const warnings = (lines: LogLine[]) => lines.filter((l) => l.level === 40 && /Redis/.test(l.msg))
const recoveries = (lines: LogLine[]) => lines.filter((l) => l.level === 30 && /Redis is back/.test(l.msg))

/** Polls a condition that depends on a reconnecting client; fails after `ms` rather than hang. */
async function eventually (what: string, check: () => boolean | Promise<boolean>, ms = 20_000) {
  const until = Date.now() + ms
  while (!await check()) {
    if (Date.now() > until) assert.fail(`${what} did not happen`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

/** A REDIS_URL with a key prefix of its own, so runs and tests never share counters. */
const sharedRedisUrl = (base = TEST_REDIS_URL) => `${base}?keyPrefix=gamepay-test-${randomUUID()}:`

forEachDialect('rate limits', (dialect) => {
  let t: TestApp
  const started: TestApp[] = []
  const start = async (env: Record<string, string>) => {
    const app = await createTestApp(dialect, { url: t.url, env })
    started.push(app)
    return app
  }
  before(async () => { t = await createTestApp(dialect) })
  after(async () => {
    for (const app of started) await app.close()
    await t.close()
  })

  describe('one instance', () => {
    test('when an address spends its budget across the public routes, then the next request is RATE_LIMITED and changes nothing', async () => {
      const limited = await start({ RATE_LIMIT_PER_MINUTE: '3' })
      const a = '198.51.100.7'
      assert.equal((await send(limited, a, goods())).status, 200)
      assert.equal(await stateOf(limited, a, verification('rl-spend')), 'ORDER_NOT_PAID')
      assert.equal(await stateOf(limited, a, cancellation('rl-spend')), 'ORDER_NOT_FOUND')
      const refused = await send(limited, a, post('/api/pay/create-order', createBody('rl-spend')))
      assertLimited(refused)
      assert.equal(refused.headers['x-ratelimit-limit'], '3')
      assert.match(refused.body.message, /[\u4e00-\u9fff]/)
      assert.deepEqual(await ordersOf(t, 'rl-spend'), [])
      const english = await send(limited, a, { ...goods(), headers: { 'accept-language': 'en' } })
      assertLimited(english)
      assert.match(english.body.message, /^Too many requests, retry later: at most 3 per minute, retry in \d+ s$/)

      // Another address has a budget of its own.
      const other = await send(limited, '198.51.100.8', post('/api/pay/create-order', createBody('rl-spend')))
      assert.equal(other.status, 200)
      assert.equal((await ordersOf(t, 'rl-spend')).length, 1)
    })

    test('when requests are refused (bad parameters, unknown goods, a wrong method), then they count too', async () => {
      const limited = await start({ RATE_LIMIT_PER_MINUTE: '3' })
      const a = '198.51.100.9'
      const incomplete = post('/api/pay/create-order', { user_id: 'rl-refused' })
      assert.equal(await stateOf(limited, a, incomplete), 'INVALID_PARAMS')
      assert.equal(await stateOf(limited, a, goods(424242)), 'GOODS_NOT_FOUND')
      assert.equal(await stateOf(limited, a, { method: 'GET', url: '/api/pay/create-order' }), 'METHOD_NOT_ALLOWED')
      assertLimited(await send(limited, a, post('/api/pay/create-order', createBody('rl-refused'))))
      assert.deepEqual(await ordersOf(t, 'rl-refused'), [])
    })

    test('when an address makes its first request, then x-ratelimit-reset shows a whole window starting then', async () => {
      const limited = await start({ RATE_LIMIT_PER_MINUTE: '5' })
      for (const address of ['198.51.100.10', '198.51.100.11', '2001:db8:1::1']) {
        const first = await send(limited, address, goods())
        assert.equal(first.status, 200)
        assert.equal(first.headers['x-ratelimit-limit'], '5')
        assert.equal(first.headers['x-ratelimit-remaining'], '4')
        assert.equal(first.headers['x-ratelimit-reset'], '60')
        assert.equal(first.headers['retry-after'], undefined)
        const second = await send(limited, address, goods())
        assert.equal(second.headers['x-ratelimit-remaining'], '3')
        assert.match(String(second.headers['x-ratelimit-reset']), /^\d+$/)
        assert.ok(Number(second.headers['x-ratelimit-reset']) <= 60)
      }
    })

    test('when a callback is over the limit, then it is RATE_LIMITED, not CALLBACK_FORBIDDEN, unread and unlogged', async () => {
      const limited = await start({ RATE_LIMIT_PER_MINUTE: '1', CALLBACK_ALLOW_IPS: '10.0.0.0/8' })
      const a = '198.51.100.20'
      const forbidden = await send(limited, a, post('/api/pay/callback', {}))
      assert.equal(forbidden.body.state, 'CALLBACK_FORBIDDEN')
      assert.deepEqual((await callbackRows(t, { sourceIp: a })).map((r) => r.outcome), ['CALLBACK_FORBIDDEN'])

      const o = await createOrder(t.app, { user_id: 'rl-callback' })
      const attempts = [
        post('/api/pay/callback', signed(callbackParams(o.order, o.rmb_yuan))),
        post('/api/pay/callback', 'not json'),
        post('/api/pay/callback', 'a=1&a=2', 'application/x-www-form-urlencoded'),
        post('/api/pay/callback', 'x', 'text/csv'),
      ]
      for (const request of attempts) {
        const res = await send(limited, a, request)
        assertLimited(res)
        assert.deepEqual(await callbackRows(t, { traceId: res.traceId }), [])
      }
      assert.equal((await callbackRows(t, { sourceIp: a })).length, 1)
      assert.equal((await orderRow(t, o.order)).status, 'unpaid')
    })

    test('when no allow-list is set, then callbacks count like other requests and a limited one pays nothing', async () => {
      const limited = await start({ RATE_LIMIT_PER_MINUTE: '1' })
      const a = '198.51.100.21'
      const o = await createOrder(t.app, { user_id: 'rl-callback-open' })
      assert.equal((await send(limited, a, goods())).status, 200)
      const res = await send(limited, a, post('/api/pay/callback', signed(callbackParams(o.order, o.rmb_yuan))))
      assertLimited(res)
      assert.deepEqual(await callbackRows(t, { traceId: res.traceId }), [])
      assert.equal((await orderRow(t, o.order)).status, 'unpaid')
    })

    test('when the platform calls back from an allowed address, then only those callbacks are never limited', async () => {
      const limited = await start({ RATE_LIMIT_PER_MINUTE: '2', CALLBACK_ALLOW_IPS: '10.0.0.0/8' })
      const platform = '10.1.1.1'
      const o = await createOrder(t.app, { user_id: 'rl-platform' })
      const params = signed(callbackParams(o.order, o.rmb_yuan))
      const traces: string[] = []
      for (let i = 0; i < 6; i++) {
        const res = await send(limited, platform, post('/api/pay/callback', params))
        assert.equal(res.status, 200, JSON.stringify(res.body))
        assert.deepEqual(rateHeaders(res), [])
        traces.push(res.traceId)
      }
      assert.equal((await orderRow(t, o.order)).status, 'paid')
      const rows = await callbackRows(t, { sourceIp: platform })
      const outcomes = rows.filter((r) => traces.includes(r.trace_id)).map((r) => r.outcome)
      assert.deepEqual(outcomes, ['paid', ...Array(5).fill('already_applied')])

      // The same address on the other routes has an ordinary budget.
      assert.equal((await send(limited, platform, goods())).status, 200)
      assert.equal((await send(limited, platform, goods())).status, 200)
      assertLimited(await send(limited, platform, goods()))

      const outsider = '198.51.100.22'
      assert.equal((await send(limited, outsider, post('/api/pay/callback', params))).body.state, 'CALLBACK_FORBIDDEN')
      assert.equal((await send(limited, outsider, post('/api/pay/callback', params))).body.state, 'CALLBACK_FORBIDDEN')
      assertLimited(await send(limited, outsider, post('/api/pay/callback', params)))
      assert.equal((await callbackRows(t, { sourceIp: outsider })).length, 2)
    })

    test('when an address is over the limit, then /healthz, /readyz and /docs still answer it, unlimited', async () => {
      const limited = await start({ RATE_LIMIT_PER_MINUTE: '1' })
      const a = '198.51.100.23'
      assert.equal((await send(limited, a, goods())).status, 200)
      assertLimited(await send(limited, a, goods()))
      for (let i = 0; i < 3; i++) {
        for (const url of ['/healthz', '/readyz']) {
          const res = await send(limited, a, { method: 'GET', url })
          assert.equal(res.status, 200, url)
          assert.deepEqual(rateHeaders(res), [], url)
        }
        const docs = await limited.app.inject({ method: 'GET', url: '/docs/json', remoteAddress: a })
        assert.equal(docs.statusCode, 200)
        assert.equal(docs.headers['x-ratelimit-limit'], undefined)
      }
    })

    test('when addresses share an IPv6 /64 or are one IPv4 address, mapped or not, then they share one budget', async () => {
      const limited = await start({ RATE_LIMIT_PER_MINUTE: '2' })
      assert.equal((await send(limited, '2001:db8:2::1', goods())).status, 200)
      assert.equal((await send(limited, '2001:db8:2::ffff:2', goods())).status, 200)
      assertLimited(await send(limited, '2001:db8:2::3', goods()))
      assert.equal((await send(limited, '2001:db8:3::1', goods())).status, 200)

      assert.equal((await send(limited, '198.51.100.24', goods())).status, 200)
      assert.equal((await send(limited, '::ffff:198.51.100.24', goods())).status, 200)
      assertLimited(await send(limited, '198.51.100.24', goods()))
    })

    test('when the limit is off (the default), then many requests from one address all pass, unlimited', async () => {
      for (let i = 0; i < 30; i++) {
        const res = await send(t, '198.51.100.25', goods())
        assert.equal(res.status, 200)
        assert.deepEqual(rateHeaders(res), [])
      }
    })
  })

  describe('several instances and Redis', () => {
    before(async () => {
      const probe = new Redis(TEST_REDIS_URL, { lazyConnect: true, connectTimeout: 2000, retryStrategy: () => null })
      try {
        await probe.connect()
        assert.equal(await probe.ping(), 'PONG')
      } catch (err) {
        throw new Error(`Redis is not reachable at ${TEST_REDIS_URL} (TEST_REDIS_URL): ${(err as Error).message}`)
      } finally {
        probe.disconnect()
      }
    })

    test('when two instances on one database share a REDIS_URL, then an address has one budget across both', async () => {
      const env = { RATE_LIMIT_PER_MINUTE: '3', REDIS_URL: sharedRedisUrl() }
      const [a, b] = [await start(env), await start(env)]
      const client = '198.51.100.30'
      const first = await send(a, client, goods())
      assert.equal(first.headers['x-ratelimit-reset'], '60')
      assert.equal(first.headers['x-ratelimit-remaining'], '2')
      assert.equal((await send(b, client, goods())).headers['x-ratelimit-remaining'], '1')
      assert.equal(await stateOf(a, client, verification('rl-shared')), 'ORDER_NOT_PAID')
      assertLimited(await send(b, client, post('/api/pay/create-order', createBody('rl-shared'))))
      assertLimited(await send(a, client, post('/api/pay/create-order', createBody('rl-shared'))))
      assert.deepEqual(await ordersOf(t, 'rl-shared'), [])

      assert.equal((await send(b, '198.51.100.31', post('/api/pay/create-order', createBody('rl-shared')))).status, 200)
      assert.equal((await ordersOf(t, 'rl-shared')).length, 1)
    })

    test('when nothing listens at REDIS_URL, then requests answer, limited per instance, with a warning', async () => {
      const env = { RATE_LIMIT_PER_MINUTE: '2', REDIS_URL: sharedRedisUrl(`redis://127.0.0.1:${await freePort()}`) }
      const [logA, logB]: LogLine[][] = [[], []]
      const a = await appWithLog(t.url, env, logA)
      started.push(a)
      const b = await appWithLog(t.url, env, logB)
      started.push(b)
      const client = '198.51.100.32'
      for (const instance of [a, b]) {
        assert.equal((await send(instance, client, goods())).status, 200)
        assert.equal(await stateOf(instance, client, post('/api/pay/create-order', createBody('rl-no-redis'))), '')
        assertLimited(await send(instance, client, cancellation('rl-no-redis')))
      }
      // One order, handed back to the second instance as the user's open order.
      assert.equal((await ordersOf(t, 'rl-no-redis')).length, 1)
      assert.equal(warnings(logA).length, 1, JSON.stringify(logA))
      assert.equal(warnings(logB).length, 1)
      assert.match(warnings(logA)[0].msg, /per instance/)
    })

    describe('when Redis goes away while the instances run', () => {
      let proxy: TcpProxy
      let a: TestApp
      let b: TestApp
      const [logA, logB]: LogLine[][] = [[], []]
      before(async () => {
        const redis = new URL(TEST_REDIS_URL)
        proxy = await startTcpProxy({ host: redis.hostname, port: Number(redis.port || 6379) })
        const env = { RATE_LIMIT_PER_MINUTE: '2', REDIS_URL: sharedRedisUrl(`redis://127.0.0.1:${proxy.port}`) }
        a = await appWithLog(t.url, env, logA)
        started.push(a)
        b = await appWithLog(t.url, env, logB)
        started.push(b)
      })
      after(async () => { await proxy.close() })

      test('then requests answer, limited per instance with one warning, and shared again once Redis is back', async () => {
        const earlier = '198.51.100.40'
        assert.equal((await send(a, earlier, goods())).status, 200)
        assert.equal((await send(b, earlier, goods())).status, 200)
        assertLimited(await send(a, earlier, goods()))
        assert.deepEqual([...warnings(logA), ...warnings(logB)], [])

        await proxy.down()
        const during = '198.51.100.41'
        for (const instance of [a, b]) {
          assert.equal((await send(instance, during, goods())).status, 200)
          assert.equal((await send(instance, during, goods())).status, 200)
          assertLimited(await send(instance, during, goods()))
        }
        assert.equal(warnings(logA).length, 1, JSON.stringify(logA))
        assert.equal(warnings(logB).length, 1, JSON.stringify(logB))

        await proxy.up()
        const reconnected = () => recoveries(logA).length === 1 && recoveries(logB).length === 1
        await eventually('both instances reconnecting', reconnected)
        const afterwards = '198.51.100.42'
        assert.equal((await send(a, afterwards, goods())).status, 200)
        assert.equal((await send(b, afterwards, goods())).status, 200)
        assertLimited(await send(b, afterwards, goods()))
        assert.equal(warnings(logA).length, 1)
        assert.equal(warnings(logB).length, 1)
      })

      test('when Redis stops answering but keeps its connections, then requests answer, limited per instance', async () => {
        proxy.stall()
        const during = '198.51.100.43'
        for (const instance of [a, b]) {
          assert.equal((await send(instance, during, goods())).status, 200)
          assert.equal((await send(instance, during, goods())).status, 200)
          assertLimited(await send(instance, during, goods()))
        }
        assert.equal(warnings(logA).length, 2, JSON.stringify(logA))
        assert.equal(warnings(logB).length, 2, JSON.stringify(logB))

        await proxy.up()
        // No reconnection to announce it: a request now and then finds Redis answering again.
        let i = 0
        await eventually('both instances finding Redis answering', async () => {
          const client = `203.0.113.${++i % 200}`
          await Promise.all([send(a, client, goods()), send(b, client, goods())])
          return recoveries(logA).length === 2 && recoveries(logB).length === 2
        })
        const afterwards = '198.51.100.44'
        assert.equal((await send(a, afterwards, goods())).status, 200)
        assert.equal((await send(b, afterwards, goods())).status, 200)
        assertLimited(await send(a, afterwards, goods()))
      })
    })
  })
})
