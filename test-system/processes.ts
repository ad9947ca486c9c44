// Shared by the system tests: real `gamepay serve` processes, their databases, the typed client
// (@gamepay/client) set up for them, a raw HTTP call with a hang guard for what the client does not
// show (headers, non-API routes), a TCP proxy the tests can cut, and clean-up that runs even on failure.
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe } from 'node:test'
import { GamepayClient, signCallback, type CallbackParams, type ClientOptions } from '@gamepay/client'
import { connect, type Store } from '../src/db/connect.ts'
import type { DialectName } from '../src/db/dialect.ts'
import { callbackParams, DIALECTS, freshDatabaseUrl, signed, TEST_SECRET } from '../test/helper.ts'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const BIN = join(ROOT, 'bin', 'gamepay.js')
export const SECRET = TEST_SECRET

/** The dialects several hosts can share (a SQLite file serves processes on one machine only). */
export const SHARED_DIALECTS = DIALECTS.filter((d) => d !== 'sqlite')

/** describe() once per shared dialect of this run. */
export function forEachSharedDialect (name: string, body: (dialect: DialectName) => void) {
  for (const dialect of SHARED_DIALECTS) describe(`${name} [${dialect}]`, () => body(dialect))
}

export { forEachDialect } from '../test/helper.ts'

/** A port nobody listens on right now, on 127.0.0.1. */
export async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** An empty database for one scenario: the system tests' own, beside the unit tests' gamepay_test. */
// TEST_SYSTEM_DB names it, so runs in parallel (several checkouts on one server) keep apart.
export const freshSystemDatabase = (dialect: DialectName, name = process.env.TEST_SYSTEM_DB ?? 'gamepay_system') => freshDatabaseUrl(dialect, name)

/** The test's own connection, to read what the instances stored. */
export function openStore (url: string): Store {
  return connect(url, { poolSize: 2 })
}

export interface Instance {
  name: string
  port: number
  base: string
  pid: number
  child: ChildProcess
  /** The process's recent output (JSON log lines), for failure messages. */
  output: () => string
  running: () => boolean
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  /** SIGTERM (graceful: in-flight requests finish, the worker id is released), then wait. */
  stop: () => Promise<void>
  /** SIGKILL: no clean-up at all, as in a crash or an OOM kill. */
  kill: () => Promise<void>
}

const live = new Set<Instance>()
process.once('exit', () => {
  for (const instance of live) killGroup(instance.child)
})

function killGroup (child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL') {
  try {
    if (child.pid) process.kill(-child.pid, signal)
  } catch {}
}

export interface StartOptions {
  url: string
  name?: string
  port?: number
  env?: Record<string, string>
  /** Resolve once the process has exited instead of once it serves (for start-up failures). */
  expectExit?: boolean
}

/** Starts `node bin/gamepay.js serve` and resolves when /healthz answers. */
export async function startInstance (opts: StartOptions): Promise<Instance> {
  const port = opts.port ?? await freePort()
  const name = opts.name ?? `gamepay:${port}`
  const env: NodeJS.ProcessEnv = { ...process.env }
  // The test runner's own variables must not make the service think it is a test file.
  delete env.NODE_TEST_CONTEXT
  delete env.NODE_OPTIONS
  Object.assign(env, {
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: opts.url,
    CALLBACK_SECRET: SECRET,
    LOG_LEVEL: 'warn',
    GOODS_SEED: join(ROOT, 'test-system', 'goods.json'),
    ...opts.env,
  })
  // A scratch working directory, so a developer's .env in the repository does not leak in.
  const cwd = mkdtempSync(join(tmpdir(), 'gamepay-instance-'))
  // Its own process group, so the instance and its helpers (tsx's esbuild) go together.
  const child = spawn(process.execPath, [BIN, 'serve'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  const lines: string[] = []
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter(Boolean))
    if (lines.length > 200) lines.splice(0, lines.length - 200)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  let done = false
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true
      killGroup(child)
      live.delete(instance)
      resolve({ code, signal })
    })
  })
  const wait = async (ms: number) => {
    let timer: NodeJS.Timeout | undefined
    await Promise.race([exited, new Promise((resolve) => { timer = setTimeout(resolve, ms) })])
    clearTimeout(timer)
  }
  const instance: Instance = {
    name,
    port,
    base: `http://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    child,
    output: () => lines.join('\n'),
    running: () => !done,
    exited,
    async stop () {
      if (done) return
      child.kill('SIGTERM')
      await wait(20_000)
      if (!done) child.kill('SIGKILL')
      await exited
    },
    async kill () {
      if (done) return
      killGroup(child)
      await exited
    },
  }
  live.add(instance)
  if (opts.expectExit) {
    await wait(30_000)
    if (!done) {
      await instance.kill()
      throw new Error(`${name} kept running, expected it to stop:\n${instance.output()}`)
    }
    return instance
  }
  const deadline = Date.now() + 30_000
  for (;;) {
    if (done) throw new Error(`${name} exited during start-up:\n${instance.output()}`)
    try {
      const res = await call(instance.base, 'GET', '/healthz', { timeoutMs: 2000 })
      if (res.status === 200) return instance
    } catch {}
    if (Date.now() > deadline) {
      await instance.kill()
      throw new Error(`${name} did not answer /healthz in 30 s:\n${instance.output()}`)
    }
    await sleep(100)
  }
}

/** Stops every instance still running (for after() hooks; safe to call twice). */
export async function stopAll (how: 'stop' | 'kill' = 'stop') {
  await Promise.all([...live].map((i) => how === 'stop' ? i.stop() : i.kill()))
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

export interface Reply {
  status: number
  headers: IncomingHttpHeaders
  body: any
}

export interface CallOptions {
  body?: unknown
  headers?: Record<string, string>
  /** A hang guard, not a timing assertion: an answer that never comes fails the test. */
  timeoutMs?: number
  /** The client's own source address (anything in 127.0.0.0/8). */
  localAddress?: string
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 })

/** One HTTP request; rejects on a network error or a body that is not JSON (never an envelope). */
export function call (base: string, method: string, path: string, opts: CallOptions = {}): Promise<Reply> {
  const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body)
  const headers: Record<string, string> = { ...opts.headers }
  if (payload !== undefined) headers['content-type'] = 'application/json'
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${base}${path}`, { method, headers, agent, localAddress: opts.localAddress }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        try {
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) })
        } catch {
          reject(new Error(`${method} ${path} answered ${res.statusCode} with a body that is not JSON: ${text.slice(0, 300)}`))
        }
      })
    })
    req.setTimeout(opts.timeoutMs ?? 20_000, () => req.destroy(new Error(`${method} ${base}${path}: no answer in ${opts.timeoutMs ?? 20_000} ms`)))
    req.on('error', reject)
    req.end(payload)
  })
}

export const post = (base: string, path: string, body: unknown, opts: CallOptions = {}) => call(base, 'POST', path, { ...opts, body })

/**
 * The typed client as a game server or a platform uses it, with no retries: a system test sees every
 * 503 as it happens. The timeout is a hang guard, not a timing assertion.
 */
export function clientFor (target: string | { base: string }, opts: Partial<ClientOptions> = {}): GamepayClient {
  return new GamepayClient({ baseUrl: typeof target === 'string' ? target : target.base, retries: 0, timeoutMs: 20_000, ...opts })
}

/** A success callback for `order` from the platform order `gyyx`, signed as the platform would. */
export function paidCallback (order: string, gyyx: string, amount: number | string = MONTH_CARD.single_pric): CallbackParams {
  const params = {
    game_order_no: order,
    gyyx_order_no: gyyx,
    result: 'success',
    result_message: '',
    rmb_yuan: amount,
    server_flag: 's1',
    common_param: '',
    timestamp: String(Math.floor(Date.now() / 1000)),
  }
  return signCallback(params, { secret: SECRET, signType: 'MD5' })
}

/**
 * A fetch that connects from a chosen local address (anything in 127.0.0.0/8), for the client: Node's
 * own fetch can't pick one. Enough of fetch for GamepayClient (string bodies, plain-object headers).
 */
export function fetchFrom (localAddress: string): typeof fetch {
  const localFetch = (input: string | URL | Request, init: RequestInit = {}) => new Promise<Response>((resolve, reject) => {
    const headers = init.headers as Record<string, string> | undefined
    const req = httpRequest(String(input), { method: init.method, headers, agent, localAddress }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('error', reject)
      res.on('end', () => {
        const answer = new Headers()
        for (const [name, value] of Object.entries(res.headers)) for (const v of [value ?? []].flat()) answer.append(name, v)
        resolve(new Response(Buffer.concat(chunks), { status: res.statusCode, headers: answer }))
      })
    })
    init.signal?.addEventListener('abort', () => req.destroy(init.signal?.reason), { once: true })
    req.on('error', reject)
    req.end(init.body as string | undefined)
  })
  return localFetch as typeof fetch
}

/** The goods the system tests order (test-system/goods.json). */
export const MONTH_CARD = { item: '月卡', item_id: '2', single_pric: 30 }

export function createOrder (base: string, userId: string, opts: CallOptions = {}) {
  return post(base, '/api/pay/create-order', { user_id: userId, ...MONTH_CARD }, opts)
}

/** A correctly signed success callback; `gyyx` picks the platform's order number. */
export function payOrder (base: string, order: string, gyyx: string, opts: CallOptions & { amount?: number | string } = {}) {
  return post(base, '/api/pay/callback', signed(callbackParams(order, opts.amount ?? MONTH_CARD.single_pric, { gyyx_order_no: gyyx })), opts)
}

export function cancelOrder (base: string, userId: string, order: string, opts: CallOptions = {}) {
  return post(base, '/api/pay/cancel-order', { user_id: userId, order }, opts)
}

/** The snowflake's worker id bits (41 ms | 10 worker | 12 sequence). */
export const workerIdOf = (order: string): number => Number((BigInt(order.split('-')[1]) >> 12n) & 1023n)

/** Runs fn over items with at most `limit` running at once; resolves every outcome. */
export async function bounded<T, R> (items: T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<PromiseSettledResult<R>[]> {
  const results: PromiseSettledResult<R>[] = new Array(items.length)
  let next = 0
  async function worker () {
    while (next < items.length) {
      const i = next++
      try {
        results[i] = { status: 'fulfilled', value: await fn(items[i], i) }
      } catch (reason) {
        results[i] = { status: 'rejected', reason }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return results
}

/** The failure envelope for a state. */
export function assertEnvelope (res: Reply, state: string, status: number) {
  assert.equal(res.status, status, JSON.stringify(res.body))
  assert.equal(res.body.result, 'fail')
  assert.equal(res.body.state, state)
  assert.equal(typeof res.body.message, 'string')
  assert.equal(typeof res.body.trace_id, 'string')
  assert.equal(res.headers['x-request-id'], res.body.trace_id)
  assert.equal('data' in res.body, false)
}

/**
 * A TCP proxy between the service and its database that the test can cut and restore, so a
 * database outage is simulated without touching the shared database server.
 */
export interface TcpProxy {
  port: number
  /** Connections open right now, and the most ever open at once. */
  open: () => number
  maxOpen: () => number
  /** Refuses new connections and closes the open ones: the database server is gone. */
  down: () => Promise<void>
  /** Keeps every connection open but carries no byte either way: a network black hole. */
  stall: () => void
  /** Accepts and forwards again (stalled bytes flow on, as when a network heals). */
  up: () => Promise<void>
  close: () => Promise<void>
}

export async function startTcpProxy (target: { host: string, port: number }): Promise<TcpProxy> {
  const port = await freePort()
  const pairs = new Set<{ client: Socket, upstream: Socket }>()
  let peak = 0
  let server: Server | null = null
  let stalled = false

  const flow = ({ client, upstream }: { client: Socket, upstream: Socket }) => {
    client.pipe(upstream)
    upstream.pipe(client)
  }
  const halt = ({ client, upstream }: { client: Socket, upstream: Socket }) => {
    client.unpipe(upstream)
    upstream.unpipe(client)
    client.pause()
    upstream.pause()
  }

  const listen = () => new Promise<void>((resolve, reject) => {
    const s = createServer((client) => {
      const pair = { client, upstream: netConnect(target.port, target.host) }
      pairs.add(pair)
      peak = Math.max(peak, pairs.size)
      const drop = () => {
        pair.client.destroy()
        pair.upstream.destroy()
        pairs.delete(pair)
      }
      client.on('error', drop).on('close', drop)
      pair.upstream.on('error', drop).on('close', drop)
      if (stalled) halt(pair)
      else flow(pair)
    })
    s.once('error', reject)
    s.listen(port, '127.0.0.1', () => {
      server = s
      resolve()
    })
  })
  const down = async () => {
    const s = server
    server = null
    stalled = false
    // Closed under the service's feet, as when the server goes down. (Not resetAndDestroy: on
    // Node 20 it can leave a handle that spins forever at exit.)
    for (const { client, upstream } of pairs) {
      client.destroy()
      upstream.destroy()
    }
    pairs.clear()
    if (s) await new Promise((resolve) => s.close(resolve))
  }
  await listen()
  return {
    port,
    open: () => pairs.size,
    maxOpen: () => peak,
    down,
    stall () {
      stalled = true
      for (const pair of pairs) halt(pair)
    },
    async up () {
      if (stalled) {
        stalled = false
        for (const pair of pairs) flow(pair)
      }
      if (!server) await listen()
    },
    close: down,
  }
}

/** A database URL through the proxy instead of straight to the server. */
export function viaProxy (url: string, proxy: TcpProxy): string {
  const u = new URL(url)
  u.hostname = '127.0.0.1'
  u.port = String(proxy.port)
  return u.toString()
}

/** Host and port of a database URL. */
export function serverOf (url: string): { host: string, port: number } {
  const u = new URL(url)
  return { host: u.hostname, port: Number(u.port || (u.protocol.startsWith('mysql') ? 3306 : 5432)) }
}

/** What a load acknowledged: each order with its user, each paid order with its platform order number. */
export interface Acknowledged { orders: Map<string, string>, payments: Map<string, string> }

/** Every acknowledged order is stored as answered, and every acknowledged payment left its order paid. */
export async function assertAcknowledgedKept (store: Store, acked: Acknowledged) {
  for (const [order, user] of acked.orders) {
    const row = await store.db.selectFrom('orders').select(['user_id', 'amount_fen']).where('order_no', '=', order).executeTakeFirst()
    assert.ok(row, `acknowledged order ${order} is missing`)
    assert.equal(row.user_id, user)
    assert.equal(String(row.amount_fen), '3000')
  }
  for (const [order, gyyx] of acked.payments) {
    const row = await store.db.selectFrom('orders').select(['status', 'gyyx_order_no']).where('order_no', '=', order).executeTakeFirstOrThrow()
    assert.deepEqual(row, { status: 'paid', gyyx_order_no: gyyx }, `acknowledged payment for ${order}`)
  }
}

/** The database's own invariants: no half-written order or payment, nothing applied twice. */
export async function assertConsistent (store: Store) {
  const orders = await store.db.selectFrom('orders').selectAll().execute()
  const events = await store.db.selectFrom('order_events').select(['order_no', 'from_status', 'to_status']).orderBy('id').execute()
  const payments = await store.db.selectFrom('payments').selectAll().execute()
  for (const order of orders) {
    const history = events.filter((e) => e.order_no === order.order_no)
    assert.equal(history[0]?.to_status, 'unpaid', `order ${order.order_no} has no creation event`)
    assert.equal(history.at(-1)?.to_status, order.status, `order ${order.order_no}: history ends elsewhere than its status`)
    const applied = payments.filter((p) => p.order_no === order.order_no && p.kind !== 'duplicate')
    if (order.status === 'paid') {
      assert.equal(applied.length, 1, `order ${order.order_no} paid ${applied.length} times`)
      assert.equal(applied[0].gyyx_order_no, order.gyyx_order_no)
      assert.equal(String(applied[0].amount_fen), String(order.paid_fen))
      assert.equal(history.filter((e) => e.to_status === 'paid').length, 1)
    } else {
      assert.equal(applied.length, 0, `unpaid order ${order.order_no} has a payment`)
    }
  }
  for (const p of payments) assert.ok(orders.some((o) => o.order_no === p.order_no), `payment ${p.gyyx_order_no} for no order`)
  assert.equal(new Set(payments.map((p) => p.gyyx_order_no)).size, payments.length)
}
