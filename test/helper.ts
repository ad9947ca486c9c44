import { mkdtempSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe } from 'node:test'
import { sql } from 'kysely'
import { buildApp } from '../src/app.ts'
import { loadConfig, type Config } from '../src/config.ts'
import { createContext, type AppContext, type ContextOptions } from '../src/context.ts'
import { connect } from '../src/db/connect.ts'
import type { DialectName } from '../src/db/dialect.ts'
import { computeSign, buildStringA, toSignValue, type SignType } from '../src/domain/signature.ts'
import { prepareMysql, preparePostgres, TEST_MYSQL_URL, TEST_PG_URL } from './databases.js'

export const TEST_SECRET = 'test-secret-of-16+chars'

/** The dialects this run covers (scripts/run-tests.js sets DIALECTS; alone, SQLite). */
export const DIALECTS = (process.env.DIALECTS ?? 'sqlite').split(',').filter(Boolean) as DialectName[]

/** describe() once per dialect: "<name> [postgres]". */
export function forEachDialect (name: string, body: (dialect: DialectName) => void) {
  for (const dialect of DIALECTS) describe(`${name} [${dialect}]`, () => body(dialect))
}

/**
 * An empty database of the dialect (all tables dropped); SQLite gets a new file. `name` picks a
 * database of its own on the server (created when missing), beside the shared test database.
 */
export async function freshDatabaseUrl (dialect: DialectName, name?: string): Promise<string> {
  if (dialect === 'sqlite') return `sqlite:${join(mkdtempSync(join(tmpdir(), 'gamepay-')), `${name ?? 'test'}.db`)}`
  const url = new URL(dialect === 'postgres' ? TEST_PG_URL : TEST_MYSQL_URL)
  if (name) {
    url.pathname = `/${name}`
    const created = dialect === 'postgres' ? await preparePostgres(url.toString()) : await prepareMysql(url.toString())
    if (!created) throw new Error(`${dialect} is not reachable at ${url}`)
  }
  const store = connect(url.toString())
  try {
    if (dialect === 'postgres') {
      await sql`drop schema public cascade`.execute(store.db)
      await sql`create schema public`.execute(store.db)
    } else {
      const tables = await store.db.introspection.getTables({ withInternalKyselyTables: true })
      for (const t of tables) await sql`drop table if exists ${sql.table(t.name)}`.execute(store.db)
    }
  } finally {
    await store.close()
  }
  return url.toString()
}

export function testConfig (url: string, env: Record<string, string> = {}): Config {
  return loadConfig({ DATABASE_URL: url, CALLBACK_SECRET: TEST_SECRET, LOG_LEVEL: 'silent', ...env })
}

export interface TestApp {
  app: Awaited<ReturnType<typeof buildApp>>
  ctx: AppContext
  url: string
  close: () => Promise<void>
}

/** An app on a fresh database (or on `url`, to share one database between several apps). */
export async function createTestApp (dialect: DialectName, opts: {
  env?: Record<string, string>
  clock?: () => number
  url?: string
  /** More context options: the delivery loop, a log the test reads. */
  context?: Omit<ContextOptions, 'clock'>
} = {}): Promise<TestApp> {
  const url = opts.url ?? await freshDatabaseUrl(dialect)
  const ctx = await createContext(testConfig(url, opts.env), { ...opts.context, clock: opts.clock })
  const app = await buildApp(ctx)
  await app.ready()
  return {
    app,
    ctx,
    url,
    async close () {
      await app.close()
      await ctx.close()
    },
  }
}

/** Callback parameters with a valid signature. */
export function signed<T extends Record<string, unknown>> (params: T, opts: { type?: SignType, secret?: string, privateKeyPem?: string } = {}): T & { signType: SignType, sign: string } {
  const type = opts.type ?? 'MD5'
  const text: Record<string, string | null> = Object.create(null)
  for (const [k, v] of Object.entries(params)) text[k] = toSignValue(v) ?? null
  const sign = computeSign(type, buildStringA(text), { secret: opts.secret ?? TEST_SECRET, privateKeyPem: opts.privateKeyPem })
  return { ...params, signType: type, sign }
}

export function callbackParams (order: string, amount: number | string, overrides: Record<string, unknown> = {}) {
  return {
    game_order_no: order,
    gyyx_order_no: `P${order.split('-')[1] ?? order}`,
    result: 'success',
    result_message: '',
    rmb_yuan: amount,
    server_flag: 's1',
    common_param: '',
    timestamp: String(Math.floor(Date.now() / 1000)),
    ...overrides,
  }
}

export async function post (app: TestApp['app'], url: string, payload: unknown, headers: Record<string, string> = {}) {
  const res = await app.inject({ method: 'POST', url, payload: payload as object, headers })
  return { status: res.statusCode, body: res.json(), headers: res.headers }
}

export async function createOrder (app: TestApp['app'], body: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await post(app, '/api/pay/create-order', { user_id: 'u1', item: '月卡', item_id: '2', single_pric: 30, ...body }, headers)
  if (res.status !== 200) throw new Error(`create-order failed: ${JSON.stringify(res.body)}`)
  return res.body.data as { order: string, rmb_yuan: number, item: string, item_id: number, user_id: string, reused: boolean }
}

export async function pay (app: TestApp['app'], order: string, amount: number | string, overrides: Record<string, unknown> = {}) {
  return post(app, '/api/pay/callback', signed(callbackParams(order, amount, overrides)))
}

/** Stored rows, for asserting what a request left behind. */
export async function orderRow (t: TestApp, orderNo: string) {
  return t.ctx.store.db.selectFrom('orders').selectAll().where('order_no', '=', orderNo).executeTakeFirstOrThrow()
}

export async function paymentsOf (t: TestApp, orderNo: string) {
  return t.ctx.store.db.selectFrom('payments').selectAll().where('order_no', '=', orderNo).orderBy('id').execute()
}

/** The callback log row of one request, by its trace id. */
export async function logged (t: TestApp, traceId: string) {
  return t.ctx.store.db.selectFrom('callbacks').selectAll().where('trace_id', '=', traceId).executeTakeFirstOrThrow()
}

/**
 * A create-order whose body is still arriving when `signal` is called: its first 10 bytes, the
 * signal 200 ms later, the rest 300 ms after that. Resolves with the answer's status and text.
 */
export function createOrderAcrossSignal (port: number, body: string, signal: () => void): Promise<{ status: number, text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ port, method: 'POST', path: '/api/pay/create-order', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let text = ''
      res.on('data', (d) => { text += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
    })
    req.on('error', reject)
    req.write(body.slice(0, 10))
    setTimeout(() => {
      signal()
      setTimeout(() => req.end(body.slice(10)), 300)
    }, 200)
  })
}
