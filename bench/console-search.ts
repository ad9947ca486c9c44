// How fast the operator console reads on a big database: the order search (each filter, a
// combination, a second page) and the dashboard, on a fresh database of N orders per dialect.
//
//   node --import tsx bench/console-search.ts [--orders 1000000] [--dialects sqlite,postgres,mysql]
//
// PostgreSQL and MariaDB use the database gamepay_bench_console (created when missing, its tables
// dropped first; BENCH_CONSOLE_PG_URL / BENCH_CONSOLE_MYSQL_URL to change), SQLite a temporary file.
// The same orders are made on each by `gamepay seed` (src/cli/seed.ts): a pure function of the row
// number, generated inside the database by INSERT … SELECT over a number series. Prints each
// query's plan, then a table of the median of 5 runs after a warm-up run.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Kysely } from 'kysely'
import { SEED_STATEMENT_TIMEOUT_MS, seedOrders } from '../src/cli/seed.ts'
import { connect, type Store } from '../src/db/connect.ts'
import type { DB } from '../src/db/database.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { DEMO_CATALOG, importCatalog } from '../src/modules/goods/goods.service.ts'
import { dashboard } from '../src/modules/console/dashboard/dashboard.repository.ts'
import { explainSearch, searchOrders, type OrderFilter, type PageRequest } from '../src/modules/console/orders/order-search.repository.ts'
import { databaseVersion, dropAllTables, ensureDatabase, machine, type BenchDialect } from './lib.ts'
import { dialectList, parseOptions, runMain, wholeNumber } from './options.ts'

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

function options () {
  const values = parseOptions({
    orders: { type: 'string', default: '1000000' },
    dialects: { type: 'string', default: 'sqlite,postgres,mysql' },
  }, USAGE)
  return { orders: wholeNumber('orders', values.orders, 1000, 20_000_000), dialects: dialectList('dialects', values.dialects) }
}

/** The orders of `gamepay seed` (src/cli/seed.ts), over the demo catalog, with fresh statistics. */
async function seed (store: Store, orders: number, now: number) {
  await importCatalog(store, DEMO_CATALOG, now)
  await seedOrders(store, { orders, users: USERS, days: SPAN_DAYS, now })
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
  const store = connect(url, { statementTimeoutMs: SEED_STATEMENT_TIMEOUT_MS })
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

runMain(main, USAGE)
