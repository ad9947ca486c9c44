// How fast the operator console reads on a big database: the order search (each filter, a
// combination, a second page) and the dashboard, on a fresh database of N orders per dialect.
//
//   node --import tsx bench/console-search.ts [--orders 1000000] [--dialects sqlite,postgres,mysql]
//
// PostgreSQL and MariaDB use the database gamepay_bench_console (created when missing, its tables
// dropped first; BENCH_CONSOLE_PG_URL / BENCH_CONSOLE_MYSQL_URL to change), SQLite a temporary file.
// The same orders are made on each: a pure function of the row number, generated inside the
// database by one INSERT … SELECT over a number series. Prints each query's plan, then a table of
// the median of 5 runs after a warm-up run.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { sql, type Kysely } from 'kysely'
import { connect, type Store } from '../src/db/connect.ts'
import type { DB } from '../src/db/database.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { dashboard } from '../src/modules/console/dashboard/dashboard.repository.ts'
import { explainSearch, searchOrders, type OrderFilter, type PageRequest } from '../src/modules/console/orders/order-search.repository.ts'
import { databaseVersion, dropAllTables, ensureDatabase, machine, type BenchDialect } from './lib.ts'

const URLS = {
  postgres: process.env.BENCH_CONSOLE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/gamepay_bench_console',
  mysql: process.env.BENCH_CONSOLE_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/gamepay_bench_console',
}

const USAGE = `node --import tsx bench/console-search.ts [options]
  --orders N            orders to seed (default 1000000)
  --dialects D[,D...]   sqlite, postgres, mysql (default all three)`

const RUNS = 5
const LIMIT_MS = 200
const DAY = 86_400_000
const SPAN_DAYS = 90
const USERS = 10_000
const FLAGS = 20
const PRICES = [600, 3000, 6800, 12800, 32800, 64800]

class UsageError extends Error {}

function options () {
  let values
  try {
    values = parseArgs({
      options: {
        orders: { type: 'string', default: '1000000' },
        dialects: { type: 'string', default: 'sqlite,postgres,mysql' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const orders = Number(values.orders)
  if (!Number.isInteger(orders) || orders < 1000 || orders > 20_000_000) throw new UsageError(`--orders must be a whole number from 1000 to 20000000, got "${values.orders}"`)
  const dialects = values.dialects.split(',').map((d) => d.trim()).filter(Boolean)
  for (const d of dialects) if (!['sqlite', 'postgres', 'mysql'].includes(d)) throw new UsageError(`--dialects: unknown "${d}"`)
  return { orders, dialects: dialects as BenchDialect[] }
}

/**
 * Order n (1 … N, oldest first) as SQL over a column `n`: the same integer arithmetic (+, *, %),
 * CASE and concat() mean the same on all three databases. Pseudo-random attributes are
 * (n · a) mod p for a prime p and a multiplier per attribute.
 */
function orderSource (series: string, orders: number, now: number) {
  const start = now - SPAN_DAYS * DAY
  const step = Math.floor((SPAN_DAYS * DAY) / orders)
  const r = (a: number) => `((n * ${a}) % 1000003)`
  const price = `case g ${PRICES.map((p, i) => `when ${i + 1} then ${p}`).join(' ')} end`
  return `(select n, created_at, g, ${price} as price, p, a,
      concat('811-', 100000000000 + n) as order_no,
      concat('u', ${r(48271)} % ${USERS}) as user_id,
      concat('s', ${r(69621)} % ${FLAGS} + 1) as server_flag,
      case when p < 60 then 'paid' when p < 75 then 'expired' when p < 90 then 'cancelled' else 'unpaid' end as status,
      case when p < 60 then created_at + 5000 + n % 60000 end as paid_at
    from (select n, ${start} + n * ${step} + ${r(7919)} % ${Math.max(1, Math.min(1000, step))} as created_at,
        ${r(16807)} % 6 + 1 as g, ${r(40692)} % 100 as p, ${r(39119)} % 100 as a
      from ${series}) as base) as x`
}

function seriesOf (dialect: BenchDialect, orders: number) {
  if (dialect === 'postgres') return `(select cast(s as bigint) as n from generate_series(1, ${orders}) as s) as s`
  if (dialect === 'mysql') return `(select seq as n from seq_1_to_${orders}) as s`
  return `(with recursive s(n) as (select 1 union all select n + 1 from s where n < ${orders}) select n from s) as s`
}

async function seed (store: Store, orders: number, now: number) {
  const dialect = store.caps.name
  const source = orderSource(seriesOf(dialect, orders), orders, now)
  await store.db.connection().execute(async (db) => {
    if (dialect === 'sqlite') {
      // A throwaway file: no fsync, and room to keep the whole database in memory.
      await sql`pragma synchronous = off`.execute(db)
      await sql`pragma cache_size = -2000000`.execute(db)
    }
    if (dialect === 'mysql') await sql`set session unique_checks = 0`.execute(db)
    const run = (text: string) => sql.raw(text).execute(db)
    const insert = async (text: string) => {
      if (dialect === 'sqlite') await db.transaction().execute((trx) => sql.raw(text).execute(trx))
      else await run(text)
    }
    await insert(`insert into orders (order_no, user_id, goods_id, item, price_fen, amount_num, amount_fen, server_flag,
        description, game_role_id, game_role_name, game_role_grade, status, open_key, created_at, expire_at, updated_at,
        paid_at, gyyx_order_no, paid_fen, late_payment, verify_count, first_verified_at, first_verify_trace_id)
      select order_no, user_id, g, concat('goods-', g), price, 1, price, server_flag,
        null, concat('role-', n % 50000), null, null, status, null, created_at, created_at + 1800000, coalesce(paid_at, created_at),
        paid_at, case when paid_at is not null then concat('GY', 100000000000 + n) end,
        case when paid_at is not null then price end, 0,
        case when paid_at is not null then n % 3 else 0 end,
        case when paid_at is not null and n % 3 > 0 then paid_at + 1000 end,
        case when paid_at is not null and n % 3 > 0 then concat('vt-', n) end
      from ${source}`)
    const callbacks = `insert into callbacks (received_at, source_ip, trace_id, game_order_no, gyyx_order_no, params, sign_type,
        signature, outcome, anomaly)`
    // Every paid order's callback, then 1 % of all orders with an anomalous one.
    await insert(`${callbacks}
      select paid_at, '10.0.0.1', concat('cb-', n), order_no, concat('GY', 100000000000 + n),
        concat('game_order_no=', order_no, '&result=success&fen=', price), 'MD5', 'valid', 'paid', 0
      from ${source} where paid_at is not null`)
    await insert(`${callbacks}
      select created_at + 60000, '10.0.0.2', concat('cba-', n), order_no, concat('GX', 100000000000 + n),
        concat('game_order_no=', order_no, '&result=success'), 'MD5', 'valid',
        case n % 3 when 0 then 'amount_mismatch' when 1 then 'duplicate_payment' else 'late_paid' end, 1
      from ${source} where a = 0`)
    if (dialect === 'mysql') await sql`set session unique_checks = 1`.execute(db)
  })
  // Fresh statistics, as a database that has been running a while has them.
  if (dialect === 'sqlite') await sql`analyze`.execute(store.db)
  else if (dialect === 'postgres') await sql`vacuum analyze`.execute(store.db)
  else await sql`analyze table orders, callbacks`.execute(store.db)
}

interface Case { name: string, filter: OrderFilter, page?: PageRequest }

/** The filters, with values picked from the seeded data. */
async function cases (db: Kysely<DB>, now: number): Promise<Case[]> {
  const middle = await db.selectFrom('orders').select(['order_no', 'gyyx_order_no', 'user_id'])
    .where('status', '=', 'paid').where('created_at', '<', now - 45 * DAY).orderBy('created_at', 'desc').limit(1)
    .executeTakeFirstOrThrow()
  const combination: OrderFilter = { goodsId: 2, serverFlag: 's5', status: 'paid', from: now - 30 * DAY, to: now }
  const first = await searchOrders(db, combination, { limit: 50 }, now)
  return [
    { name: 'none (newest first)', filter: {} },
    { name: 'order number', filter: { orderNo: middle.order_no } },
    { name: 'user id', filter: { userId: middle.user_id } },
    { name: 'platform number', filter: { gyyxOrderNo: middle.gyyx_order_no ?? '' } },
    { name: 'status paid', filter: { status: 'paid' } },
    { name: 'status unpaid (live)', filter: { status: 'unpaid' } },
    { name: 'status expired (+ unpaid past expiry)', filter: { status: 'expired' } },
    { name: 'goods', filter: { goodsId: 3 } },
    { name: 'server flag', filter: { serverFlag: 's7' } },
    { name: 'date range (one day)', filter: { from: now - 10 * DAY, to: now - 9 * DAY } },
    { name: 'has anomaly', filter: { hasAnomaly: true } },
    { name: 'goods + flag + paid + 30 days', filter: combination },
    { name: 'the same, second page', filter: combination, page: { limit: 50, after: first.next ?? undefined } },
  ]
}

async function timed<T> (fn: () => Promise<T>): Promise<{ ms: number, result: T }> {
  // One run first, so each query is timed on a warm cache, as on a database in use.
  let result: T = await fn()
  const times: number[] = []
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now()
    result = await fn()
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  return { ms: times[Math.floor(RUNS / 2)], result }
}

interface Row { name: string, ms: number, rows: number }

async function benchDialect (dialect: BenchDialect, orders: number, dir: string) {
  const url = dialect === 'sqlite' ? `sqlite:${join(dir, 'console.db')}` : URLS[dialect]
  if (dialect !== 'sqlite') await ensureDatabase(dialect, url)
  // Seeding a million rows in one statement takes longer than any request may.
  const store = connect(url, { statementTimeoutMs: 900_000 })
  const now = Date.now()
  try {
    if (dialect !== 'sqlite') await dropAllTables(store)
    await migrateToLatest(store)
    const version = await databaseVersion(store)
    console.log(`\n## ${version}: seeding ${orders} orders`)
    const seedStarted = performance.now()
    await seed(store, orders, now)
    const seedS = (performance.now() - seedStarted) / 1000
    const counts = await store.db.selectFrom('orders').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()
    const anomalies = await store.db.selectFrom('callbacks').select((eb) => eb.fn.countAll().as('n')).where('anomaly', '=', 1).executeTakeFirstOrThrow()
    console.log(`seeded ${String(counts.n)} orders and ${String(anomalies.n)} anomalous callbacks in ${seedS.toFixed(1)} s (with ANALYZE)`)

    const rows: Row[] = []
    for (const c of await cases(store.db, now)) {
      const plan = await explainSearch(store.db, dialect, c.filter, { page: c.page, now })
      const { ms, result } = await timed(() => searchOrders(store.db, c.filter, c.page ?? { limit: 50 }, now))
      rows.push({ name: c.name, ms, rows: result.rows.length })
      console.log(`\n### ${c.name}: ${ms.toFixed(1)} ms, ${result.rows.length} rows\n${plan}`)
    }
    const { ms, result } = await timed(() => dashboard(store.db, now))
    rows.push({ name: 'dashboard (30 days)', ms, rows: result.days.length })
    console.log(`\n### dashboard: ${ms.toFixed(1)} ms; today ${JSON.stringify(result.today)}`)
    return { dialect, version, seedS, rows }
  } finally {
    await store.close()
  }
}

async function main () {
  const opts = options()
  const dir = mkdtempSync(join(tmpdir(), 'gamepay-bench-console-'))
  const results = []
  try {
    for (const dialect of opts.dialects) results.push(await benchDialect(dialect, opts.orders, dir))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  const names = results[0]?.rows.map((r) => r.name) ?? []
  const cell = (r: Row | undefined) => (r ? `${r.ms.toFixed(1)}${r.ms > LIMIT_MS ? ' (!)' : ''} | ${r.rows}` : '- | -')
  console.log('')
  console.log(`| filter | ${results.map((r) => `${r.dialect} ms | rows`).join(' | ')} |`)
  console.log(`|---|${results.map(() => '---:|---:').join('|')}|`)
  for (const name of names) console.log(`| ${name} | ${results.map((r) => cell(r.rows.find((x) => x.name === name))).join(' | ')} |`)
  const m = machine()
  console.log('')
  console.log(`${opts.orders} orders; median of ${RUNS} runs after a warm-up; page of 50; ${m.cpu}, ${m.cores} cores, Node ${m.node}; ` +
    results.map((r) => `${r.version} (seeded in ${r.seedS.toFixed(0)} s)`).join(', '))
  const slow = results.flatMap((r) => r.rows.filter((x) => x.ms > LIMIT_MS).map((x) => `${r.dialect}: ${x.name}`))
  if (slow.length > 0) console.log(`over ${LIMIT_MS} ms: ${slow.join(', ')}`)
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`)
  if (err instanceof UsageError) console.error(USAGE)
  else if (err instanceof Error && err.stack) console.error(err.stack)
  process.exitCode = 1
})
