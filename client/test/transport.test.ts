// What the client does when no usable envelope comes back, or the wait asked for is too long. gamepay
// can't be made to hang, answer HTML or ask for minutes on demand, so a scripted HTTP peer stands in.
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { freePort } from '../../test-system/processes.ts'
import { GamepayClient, GamepayError, GamepayTransportError, parseRetryAfter, type RetryInfo } from '../src/index.ts'

type Script = (req: IncomingMessage, res: ServerResponse) => void

const unavailable = (retryAfter?: string): Script => (_req, res) => {
  res.writeHead(503, { 'content-type': 'application/json', ...(retryAfter ? { 'retry-after': retryAfter } : {}) })
  res.end(JSON.stringify({ result: 'fail', state: 'SERVICE_UNAVAILABLE', trace_id: 't-503', message: 'retry later' }))
}
const goods: Script = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' })
  res.end(JSON.stringify({ result: 'success', state: '', trace_id: 't-ok', data: { id: 2, item: '月卡', single_pric: 30, on_sale: true } }))
}

async function transportError (promise: Promise<unknown>): Promise<GamepayTransportError> {
  const err = await promise.then(() => null, (e: unknown) => e)
  assert.ok(err instanceof GamepayTransportError, `expected a GamepayTransportError, got ${String(err)}`)
  return err
}

describe('the typed client when gamepay is not the one answering', () => {
  let server: Server
  let base: string
  let scripts: Script[] = []
  const seen: { method: string, url: string, headers: IncomingMessage['headers'] }[] = []

  before(async () => {
    server = createServer((req, res) => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers })
      const next = scripts.shift()
      if (next) next(req, res)
      // No script left: never answer (a hung upstream); the socket is closed with the server.
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })
  const reset = (...next: Script[]) => {
    scripts = next
    seen.length = 0
  }

  test('when the first answers are 503 without Retry-After, then it backs off, retries, and returns the data', async () => {
    reset(unavailable(), unavailable(), goods)
    const retried: RetryInfo[] = []
    const client = new GamepayClient({ baseUrl: base, retryDelayMs: 10, onRetry: (r) => retried.push(r) })
    assert.deepEqual(await client.goods(2), { id: 2, item: '月卡', single_pric: 30, on_sale: true })
    assert.deepEqual(retried.map((r) => r.attempt), [1, 2])
    assert.deepEqual(seen.map((s) => s.url), ['/api/pay/goods?id=2', '/api/pay/goods?id=2', '/api/pay/goods?id=2'])
  })

  test('when the retries run out, then the last 503 is thrown as a GamepayError', async () => {
    reset(unavailable('0'), unavailable('0'))
    const err = await new GamepayClient({ baseUrl: base, retries: 1 }).goods(2).catch((e: unknown) => e)
    assert.ok(err instanceof GamepayError)
    assert.deepEqual([err.status, err.state, err.trace_id, err.retryAfter], [503, 'SERVICE_UNAVAILABLE', 't-503', 0])
    assert.equal(seen.length, 2)
  })

  test('when Retry-After asks for longer than maxRetryDelayMs, then it does not retry sooner and throws at once', async () => {
    reset(unavailable('120'), goods)
    const err = await new GamepayClient({ baseUrl: base, maxRetryDelayMs: 5000 }).goods(2).catch((e: unknown) => e)
    assert.ok(err instanceof GamepayError)
    assert.equal(err.retryAfter, 120)
    assert.equal(seen.length, 1)
  })

  test('when a 4xx comes back, then it is never retried', async () => {
    reset((_req, res) => {
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' })
      res.end(JSON.stringify({ result: 'fail', state: 'RATE_LIMITED', trace_id: 't-429', message: 'slow down' }))
    }, goods)
    const err = await new GamepayClient({ baseUrl: base }).goods(2).catch((e: unknown) => e)
    assert.ok(err instanceof GamepayError)
    assert.deepEqual([err.status, err.state, err.retryAfter], [429, 'RATE_LIMITED', 1])
    assert.equal(seen.length, 1)
  })

  test('when no answer comes in time, then it fails with reason "timeout" and is not retried', async () => {
    reset()
    const err = await transportError(new GamepayClient({ baseUrl: base, timeoutMs: 200 }).createOrder({ user_id: 'u', item: '月卡', single_pric: 30 }))
    assert.equal(err.reason, 'timeout')
    assert.equal(seen.length, 1)
  })

  test('when the caller aborts, then it fails with reason "aborted"', async () => {
    reset()
    const controller = new AbortController()
    const pending = new GamepayClient({ baseUrl: base }).goods(1, { signal: controller.signal })
    while (seen.length === 0) await new Promise((resolve) => setImmediate(resolve))
    controller.abort()
    assert.equal((await transportError(pending)).reason, 'aborted')
  })

  test('when a proxy answers with its own page, then it fails with reason "bad-response" and the status', async () => {
    reset((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' })
      res.end('<html>502 Bad Gateway</html>')
    })
    const err = await transportError(new GamepayClient({ baseUrl: base }).goods(1))
    assert.deepEqual([err.reason, err.status], ['bad-response', 502])
    assert.match(err.message, /502 Bad Gateway/)
  })

  test('when nothing listens, then it fails with reason "network"', async () => {
    const err = await transportError(new GamepayClient({ baseUrl: `http://127.0.0.1:${await freePort()}` }).goods(1))
    assert.equal(err.reason, 'network')
    assert.match(err.message, /ECONNREFUSED/)
  })

  test('when options set headers, then the request carries the trace id, the language and the Idempotency-Key', async () => {
    reset(goods)
    const client = new GamepayClient({ baseUrl: base, language: 'en', headers: { 'user-agent': 'game-server/1' } })
    await client.createOrder({ user_id: 'u', item: '月卡', single_pric: 30 }, { idempotencyKey: 'k-1', requestId: 'trace-1' })
    const { method, url, headers } = seen[0]
    assert.deepEqual([method, url], ['POST', '/api/pay/create-order'])
    assert.equal(headers['idempotency-key'], 'k-1')
    assert.equal(headers['x-request-id'], 'trace-1')
    assert.equal(headers['accept-language'], 'en')
    assert.equal(headers['user-agent'], 'game-server/1')
    assert.equal(headers['content-type'], 'application/json')
  })
})

describe('Retry-After', () => {
  test('when it is seconds or an HTTP date, then it is read as seconds; anything else is ignored', () => {
    const now = Date.parse('2026-01-01T00:00:00Z')
    assert.equal(parseRetryAfter('5', now), 5)
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30)
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0)
    assert.equal(parseRetryAfter('soon', now), undefined)
    assert.equal(parseRetryAfter(null, now), undefined)
  })
})
