import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { connect as netConnect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import { buildApp } from '../src/app.ts'
import { createContext } from '../src/context.ts'
import { connect } from '../src/db/connect.ts'
import { createLogger, serve } from '../src/server.ts'
import { callbackParams, createOrder, createOrderAcrossSignal, createTestApp, freshDatabaseUrl, pay, signed, TEST_SECRET, testConfig } from './helper.ts'

describe('operations', () => {
  test('when /docs/json is read, then it is an OpenAPI 3 document of the five routes built from the validating schemas', async () => {
    const t = await createTestApp('sqlite')
    try {
      const doc = (await t.app.inject({ url: '/docs/json' })).json()
      assert.match(doc.openapi, /^3\./)
      for (const path of ['/api/pay/goods', '/api/pay/create-order', '/api/pay/callback', '/api/pay/verification', '/api/pay/cancel-order']) {
        assert.ok(doc.paths[path], `${path} documented`)
      }
      const body = doc.paths['/api/pay/create-order'].post.requestBody.content['application/json'].schema
      assert.deepEqual(body.required, ['user_id', 'item', 'single_pric'])
      assert.equal(body.properties.user_id.maxLength, 64)
      const ui = await t.app.inject({ url: '/docs' })
      assert.ok([200, 302].includes(ui.statusCode))
    } finally {
      await t.close()
    }
  })

  test('when the OpenAPI examples are sent to a fresh service, then they succeed; failures are documented with their states', async () => {
    const t = await createTestApp('sqlite')
    try {
      const doc = (await t.app.inject({ url: '/docs/json' })).json()
      const example = (path: string) => {
        const media = doc.paths[path].post.requestBody.content['application/json']
        return media.example ?? media.schema.example ?? Object.values(media.examples ?? {})[0]
      }
      const goodsId = doc.paths['/api/pay/goods'].get.parameters.find((p: { name: string }) => p.name === 'id').example
      const goods = (await t.app.inject({ url: `/api/pay/goods?id=${goodsId}` })).json()
      assert.equal(goods.state, '', JSON.stringify(goods))
      const created = await t.app.inject({ method: 'POST', url: '/api/pay/create-order', payload: example('/api/pay/create-order') })
      assert.equal(created.statusCode, 200, created.body)
      const order = created.json().data
      const verify = example('/api/pay/verification')
      assert.deepEqual([verify.user_id, verify.item, Number(verify.item_id)], [order.user_id, order.item, order.item_id])
      const callback = example('/api/pay/callback')
      assert.equal(callback.rmb_yuan, order.rmb_yuan)
      const paid = await pay(t.app, order.order, callback.rmb_yuan)
      assert.equal(paid.status, 200)
      const verified = await t.app.inject({ method: 'POST', url: '/api/pay/verification', payload: verify })
      assert.equal(verified.statusCode, 200, verified.body)

      for (const [path, method] of [['/api/pay/goods', 'get'], ['/api/pay/create-order', 'post'], ['/api/pay/callback', 'post']]) {
        const failure = doc.paths[path][method].responses['4XX'].content['application/json'].schema
        assert.deepEqual(failure.properties.result.enum, ['fail'])
        assert.ok(failure.properties.state.enum.includes('INVALID_PARAMS') && failure.properties.state.enum.includes('RATE_LIMITED'))
      }
      const callbackDoc = doc.paths['/api/pay/callback'].post
      assert.deepEqual(Object.keys(callbackDoc.requestBody.content).sort(), ['application/json', 'application/x-www-form-urlencoded'])
      assert.ok(callbackDoc.parameters.some((p: { in: string, name: string }) => p.in === 'query' && p.name === 'gyyx_order_no'))
      assert.doesNotMatch(JSON.stringify(doc), /CONTRACT/)
    } finally {
      await t.close()
    }
  })

  test('when requests are served, then each writes one JSON log line with its trace id, route, status and duration, and no signature', async () => {
    const lines: Record<string, unknown>[] = []
    const sink = new Writable({ write (chunk, _enc, done) { lines.push(JSON.parse(String(chunk))); done() } })
    const config = testConfig(await freshDatabaseUrl('sqlite'), { LOG_LEVEL: 'info' })
    const ctx = await createContext(config)
    const app = await buildApp(ctx, { logger: createLogger(config, sink) })
    try {
      const order = await createOrder(app, {}, { 'x-request-id': 'trace-create-1' })
      const callback = signed(callbackParams(order.order, 30))
      const query = new URLSearchParams(callback as unknown as Record<string, string>).toString()
      await app.inject({ method: 'POST', url: `/api/pay/callback?${query}`, headers: { 'x-request-id': 'trace-callback-1' } })
      await app.inject({ url: '/nowhere', headers: { 'x-request-id': 'trace-404' } })

      const requests = lines.filter((l) => l.msg === 'request')
      assert.equal(requests.length, 3, 'one line per request')
      assert.deepEqual(requests.map((l) => [l.trace_id, l.route, l.status]), [
        ['trace-create-1', '/api/pay/create-order', 200],
        ['trace-callback-1', '/api/pay/callback', 200],
        ['trace-404', 'unmatched', 404],
      ])
      assert.ok(requests.every((l) => typeof l.ms === 'number'))
      assert.equal(requests[2].state, 'NOT_FOUND')
      const text = JSON.stringify(lines)
      assert.ok(!text.includes(callback.sign), 'the signature is never logged')
      assert.ok(!text.includes(TEST_SECRET), 'the secret is never logged')
    } finally {
      await app.close()
      await ctx.close()
    }
  })

  test('when the service gets SIGTERM during a request, then that request completes, new ones are refused, and the worker id is given back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gamepay-shutdown-'))
    const url = `sqlite:${join(dir, 'gamepay.db')}`
    const child = spawn(process.execPath, ['bin/gamepay.js', 'serve'], {
      env: { ...process.env, PORT: '0', DATABASE_URL: url, CALLBACK_SECRET: TEST_SECRET, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    try {
      let output = ''
      child.stdout.on('data', (d) => { output += d })
      while (!/listening on http:\/\/127\.0\.0\.1:(\d+)/.test(output)) {
        await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => { throw new Error(output) })])
      }
      const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1])

      // A request whose body is still arriving when the signal comes.
      const body = JSON.stringify({ user_id: 'u1', item: '月卡', single_pric: 30 })
      const inFlight = createOrderAcrossSignal(port, body, () => child.kill('SIGTERM'))
      const done = await inFlight
      assert.equal(done.status, 200, done.text)
      assert.equal(JSON.parse(done.text).data.status, 'unpaid')
      const [code] = await once(child, 'exit')
      assert.equal(code, 0)

      const store = connect(url)
      try {
        const orders = await store.db.selectFrom('orders').select('order_no').execute()
        assert.equal(orders.length, 1, 'the in-flight order was stored')
        const leases = await store.db.selectFrom('worker_leases').select(['expires_at']).execute()
        assert.equal(leases.length, 1)
        assert.ok(Number(leases[0].expires_at) <= Date.now() + 1, 'the lease was released at shutdown')
      } finally {
        await store.close()
      }
    } finally {
      child.kill('SIGKILL')
    }
  })

  test('when the port is taken, then the start fails and gives its worker-id lease back at once', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as AddressInfo).port
    const url = await freshDatabaseUrl('sqlite')
    try {
      await assert.rejects(serve(testConfig(url, { PORT: String(port) })), /EADDRINUSE/)
    } finally {
      blocker.close()
    }
    const store = connect(url)
    try {
      const leases = await store.db.selectFrom('worker_leases').select(['expires_at']).execute()
      assert.equal(leases.length, 1)
      assert.ok(Number(leases[0].expires_at) <= Date.now() + 1, 'the lease was released')
    } finally {
      await store.close()
    }
  })

  test('when a client sends its headers or body too slowly, then it gets 408 or its connection closed soon after REQUEST_TIMEOUT_MS', async () => {
    const t = await createTestApp('sqlite', { env: { REQUEST_TIMEOUT_MS: '1000' } })
    try {
      await t.app.listen({ port: 0, host: '127.0.0.1' })
      const port = (t.app.server.address() as AddressInfo).port
      const partial = [
        'POST /api/pay/create-order HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl',
        'POST /api/pay/create-order HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"user_id":',
      ]
      for (const text of partial) {
        const socket = netConnect(port, '127.0.0.1')
        socket.write(text)
        let answer = ''
        socket.on('data', (chunk) => { answer += String(chunk) })
        // Bounded: a server that never cuts the client off fails here instead of hanging the run.
        const guard = setTimeout(() => socket.destroy(new Error('still open 8 s later')), 8000)
        const [err] = await Promise.race([once(socket, 'close').then(() => [null]), once(socket, 'error')])
        clearTimeout(guard)
        assert.equal(err, null, String(err))
        assert.ok(answer === '' || answer.startsWith('HTTP/1.1 408'), answer)
      }
    } finally {
      await t.close()
    }
  })
})
