// The ready handlers in real servers of each kind, fed by the service's own sender.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, before, describe, test } from 'node:test'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { postEvent } from '../../src/modules/notifications/notification-sender.ts'
import {
  expressNotificationHandler, fastifyNotificationHandler, fastifyNotifications, nodeNotificationHandler, signNotification,
  type GamepayEvent, type NotificationHandlerOptions,
} from '../src/index.ts'
import { EVENT, NOTIFY_SECRET as SECRET } from './fixtures.ts'

const PAYLOAD = JSON.stringify(EVENT)

/** What gamepay does: one signed POST, the signature made now. */
const deliver = (url: string, payload = PAYLOAD, secret = SECRET) =>
  postEvent(url, payload, { secret, timeoutMs: 5000, unixSeconds: Math.floor(Date.now() / 1000) })

/** A POST with a header of the test's choosing. */
async function send (url: string, body: string, headers: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })
  return { status: res.status, body: await res.json() as Record<string, unknown> }
}

const signedNow = (body: string) => ({ 'gamepay-signature': signNotification(body, SECRET) })

/** Handler options recording what was handed over; `fail` makes the handler throw. */
function recorder () {
  const events: GamepayEvent[] = []
  const errors: unknown[] = []
  let fail = false
  const options: NotificationHandlerOptions = {
    secret: SECRET,
    onEvent: (event) => {
      if (fail) throw new Error('the game server is busy')
      events.push(event)
    },
    onError: (err) => errors.push(err),
  }
  return { events, errors, options, failNext: (on: boolean) => { fail = on } }
}

async function listening (server: Server): Promise<string> {
  if (!server.listening) await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`
}

const closeServer = (server: Server) => new Promise((resolve) => server.close(resolve))

/** The stories every handler must tell the same way. */
function commonStories (url: () => string, r: ReturnType<typeof recorder>) {
  test('when gamepay delivers a signed event, then it is answered 2xx and handed over parsed', async () => {
    r.events.length = 0
    const result = await deliver(url())
    assert.equal(result.ok, true, `${result.httpStatus} ${result.head}`)
    assert.deepEqual(JSON.parse(result.head), { received: true })
    assert.deepEqual(r.events, [EVENT])
  })

  test('when the signature is wrong, old or missing, then it is answered 400 and nothing is handed over', async () => {
    r.events.length = 0
    assert.equal((await deliver(url(), PAYLOAD, 'someone-elses-secret!')).httpStatus, 400)
    const old = { 'gamepay-signature': signNotification(PAYLOAD, SECRET, Math.floor(Date.now() / 1000) - 600) }
    const stale = await send(url(), PAYLOAD, old)
    assert.deepEqual([stale.status, stale.body.error], [400, 'outside-tolerance'])
    const unsigned = await send(url(), PAYLOAD, {})
    assert.deepEqual([unsigned.status, unsigned.body.error], [400, 'missing-header'])
    assert.deepEqual(r.events, [])
  })

  test('when the event handler throws, then it is answered 500 so that gamepay sends the event again', async () => {
    r.failNext(true)
    try {
      const result = await deliver(url())
      assert.equal(result.httpStatus, 500)
      assert.equal(result.ok, false)
    } finally {
      r.failNext(false)
    }
    assert.match(String(r.errors.at(-1)), /the game server is busy/)
  })
}

describe("the handler in Node's http server", () => {
  const r = recorder()
  const server = createServer(nodeNotificationHandler({ ...r.options, limitBytes: 4096 }))
  let url = ''
  before(async () => { url = await listening(server) })
  after(() => closeServer(server))
  commonStories(() => url, r)

  test('when the method is not POST or the body is over the limit, then 405 and 413', async () => {
    const get = await fetch(url)
    assert.equal(get.status, 405)
    assert.equal(get.headers.get('allow'), 'POST')
    const big = JSON.stringify({ ...EVENT, padding: 'x'.repeat(5000) })
    assert.equal((await send(url, big, signedNow(big))).status, 413)
  })
})

describe('the handler in Express', () => {
  const r = recorder()
  const app = express()
  app.post('/raw', express.raw({ type: 'application/json' }), expressNotificationHandler(r.options))
  app.post('/unparsed', expressNotificationHandler(r.options))
  app.post('/parsed', express.json(), expressNotificationHandler(r.options))
  let server: Server
  let base = ''
  before(async () => {
    server = createServer(app)
    base = await listening(server)
  })
  after(() => closeServer(server))

  describe('behind express.raw({ type: "application/json" })', () => commonStories(() => `${base}/raw`, r))

  test('when no body parser is mounted, then the handler reads the body itself', async () => {
    r.events.length = 0
    assert.equal((await deliver(`${base}/unparsed`)).ok, true)
    assert.deepEqual(r.events, [EVENT])
  })

  test('when express.json() parsed the body first, then it is answered 500 with how to mount the handler, and nothing is handed over', async () => {
    r.events.length = 0
    const res = await send(`${base}/parsed`, PAYLOAD, signedNow(PAYLOAD))
    assert.equal(res.status, 500)
    assert.equal(res.body.error, 'body-already-parsed')
    assert.match(String(res.body.message), /express\.raw\(\{ type: 'application\/json' \}\)/)
    assert.deepEqual(r.events, [])
  })
})

describe('the handler in Fastify', () => {
  const r = recorder()
  let app: FastifyInstance
  let base = ''
  before(async () => {
    app = Fastify()
    await app.register(fastifyNotifications, { ...r.options, prefix: '/gamepay', path: '/notify' })
    // The app's other routes keep Fastify's own JSON parser.
    app.post('/echo', async (request) => ({ parsed: request.body }))
    app.post('/bare', fastifyNotificationHandler(r.options))
    await app.listen({ host: '127.0.0.1', port: 0 })
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  })
  after(() => app.close())

  describe('registered as the fastifyNotifications plugin', () => commonStories(() => `${base}/gamepay/notify`, r))

  test('when the plugin is registered, then the other routes still get parsed JSON', async () => {
    const res = await send(`${base}/echo`, '{"a":1}', {})
    assert.deepEqual(res, { status: 200, body: { parsed: { a: 1 } } })
  })

  test('when the bare handler gets a body Fastify already parsed, then it is answered 500 with how to fix it', async () => {
    r.events.length = 0
    const res = await send(`${base}/bare`, PAYLOAD, signedNow(PAYLOAD))
    assert.equal(res.status, 500)
    assert.match(String(res.body.message), /parseAs: 'buffer'/)
    assert.deepEqual(r.events, [])
  })
})
