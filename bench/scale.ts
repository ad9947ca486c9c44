// Does gamepay stay as fast on a big database as on an empty one? For each database: the latency of
// the hot paths against a real server process (`node bin/gamepay.js serve`, one connection, one
// request at a time), first on an empty database, then on the same database after `gamepay seed`
// has added N orders with their payments, callbacks and events, taking turns, round by round, with
// a second server on an empty control database (so that a machine busy with other work weighs on
// both alike); the ratios; and the EXPLAIN, on the big database, of every statement those paths
// run (captured as the service runs them, in this process, by a hook on Kysely's query executor).
//
//   node --import tsx bench/scale.ts [--orders 10000000] [--dialects sqlite,postgres,mysql] [--requests 2000]
//
// Paths: create-order, callback (paying the orders just made), verification by order number and by
// user and goods (the latest paid order), and the expiry sweep (ctx.orders.expireDueOrders on
// batches of 200 due orders, in this process, with its clock moved past their expiry).
// PostgreSQL and MariaDB use the databases gamepay_bench_scale and gamepay_bench_scale_control
// (created when missing, their tables dropped first; BENCH_SCALE_PG_URL / BENCH_SCALE_MYSQL_URL to
// change), SQLite temporary files.
// Builds dist/ first (bin/gamepay.js runs it).
import { spawnSync } from 'node:child_process'
import { statSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CompiledQuery, DefaultQueryExecutor, sql, type QueryResult } from 'kysely'
import { buildApp } from '../src/app.ts'
import { SEED_STATEMENT_TIMEOUT_MS, seedOrders } from '../src/cli/seed.ts'
import { loadConfig } from '../src/config.ts'
import { createContext } from '../src/context.ts'
import { connect, type Store } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { databaseVersion, dropAllTables, ensureDatabase, machine, ROOT, startServer, type BenchDialect, type ServerProcess } from './lib.ts'
import { dialectList, parseOptions, runMain, wholeNumber } from './options.ts'
import { callbackBody, GOODS, SECRET, type Prepared } from './payments.ts'

const URLS = {
  postgres: process.env.BENCH_SCALE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/gamepay_bench_scale',
  mysql: process.env.BENCH_SCALE_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/gamepay_bench_scale',
}

const USAGE = `node --import tsx bench/scale.ts [options]
  --orders N            orders to seed for the big database (default 10000000)
  --dialects D[,D...]   sqlite, postgres, mysql (default all three)
  --requests N          requests per path and database size (default 2000)`

/** Due orders the sweep expires per run (expireDueOrders' default), and the runs timed. */
const SWEEP_BATCH = 200
const SWEEP_RUNS = 20
const WARM_UP = 200
const TARGET_RATIO = 1.25
const ORDER_TTL_SECONDS = 1800

function options () {
  const values = parseOptions({
    orders: { type: 'string', default: '10000000' },
    dialects: { type: 'string', default: 'sqlite,postgres,mysql' },
    requests: { type: 'string', default: '2000' },
  }, USAGE)
  return {
    orders: wholeNumber('orders', values.orders, 1000, 100_000_000),
    requests: wholeNumber('requests', values.requests, 100, 1_000_000),
    dialects: dialectList('dialects', values.dialects),
  }
}

type PathName = 'create-order' | 'callback' | 'verification (order)' | 'verification (latest paid)' | 'expiry sweep (200 orders)'
const PATHS: PathName[] = ['create-order', 'callback', 'verification (order)', 'verification (latest paid)', 'expiry sweep (200 orders)']

interface Latency { p50: number, p99: number, n: number }

function latency (samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]
  return { p50: at(0.5), p99: at(0.99), n: sorted.length }
}

async function postJson (origin: string, path: string, body: string): Promise<Record<string, unknown>> {
  const res = await fetch(origin + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
  const json = await res.json() as { data?: Record<string, unknown> }
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(json)}`)
  return json.data ?? {}
}

type Measured = Partial<Record<PathName, Latency>>

/** Rounds per measurement: the targets take turns, so a machine busy with something else weighs on each alike. */
const ROUNDS = 8

/**
 * The four HTTP paths, `count` requests of each per target, one at a time over one keep-alive
 * connection, after a warm-up; the targets take turns round by round.
 */
async function measureHttp (targets: Array<{ origin: string, tag: string }>, count: number): Promise<Measured[]> {
  const clients = targets.map(({ origin, tag }) => {
    const create = async (user: string): Promise<Prepared> =>
      ({ order: String((await postJson(origin, '/api/pay/create-order', JSON.stringify({ user_id: user, ...GOODS }))).order), user, amount: GOODS.single_pric })
    let paid = 0
    const steps: Array<[PathName, (o: Prepared) => Promise<unknown>]> = [
      ['callback', (o) => postJson(origin, '/api/pay/callback', callbackBody(o, `SCALE-${tag}-${paid++}`))],
      ['verification (order)', (o) => postJson(origin, '/api/pay/verification', JSON.stringify({ user_id: o.user, item: GOODS.item, item_id: GOODS.item_id, order: o.order }))],
      ['verification (latest paid)', (o) => postJson(origin, '/api/pay/verification', JSON.stringify({ user_id: o.user, item: GOODS.item, item_id: GOODS.item_id }))],
    ]
    return { tag, create, steps, made: 0, samples: new Map<PathName, number[]>(PATHS.map((p) => [p, []])) }
  })

  async function round (client: typeof clients[number], n: number, timed: boolean) {
    const time = async <T> (path: PathName, fn: () => Promise<T>): Promise<T> => {
      const started = performance.now()
      const result = await fn()
      if (timed) client.samples.get(path)?.push(performance.now() - started)
      return result
    }
    const orders: Prepared[] = []
    for (let i = 0; i < n; i++) {
      const user = `scale-${client.tag}-${timed ? '' : 'warm-'}${client.made++}`
      orders.push(await time('create-order', () => client.create(user)))
    }
    for (const [path, step] of client.steps) for (const o of orders) await time(path, () => step(o))
  }

  for (const client of clients) await round(client, WARM_UP, false)
  for (let r = 0; r < ROUNDS; r++) {
    for (const client of clients) await round(client, Math.ceil(count / ROUNDS), true)
  }
  return clients.map((c) => Object.fromEntries([...c.samples].filter(([, xs]) => xs.length > 0).map(([p, xs]) => [p, latency(xs)])))
}

/** A context in this process whose clock can be moved on, for the sweep. */
async function sweepContext (url: string, notifyUrl: string) {
  let shiftMs = 0
  const config = loadConfig({ DATABASE_URL: url, CALLBACK_SECRET: SECRET, NOTIFY_URL: notifyUrl, ORDER_TTL_SECONDS: String(ORDER_TTL_SECONDS), LOG_LEVEL: 'silent' })
  const ctx = await createContext(config, { clock: () => Date.now() + shiftMs })
  return { ctx, shift: (ms: number) => { shiftMs = ms } }
}

/**
 * expireDueOrders on batches of due orders made for it (unpaid orders, then the clock moved past
 * their expiry), on each database in turn.
 */
async function measureSweep (urls: string[], notifyUrl: string, tag: string): Promise<Latency[]> {
  const contexts = await Promise.all(urls.map((url) => sweepContext(url, notifyUrl)))
  try {
    const times = contexts.map(() => [] as number[])
    for (const [n, { ctx, shift }] of contexts.entries()) {
      for (let i = 0; i < (SWEEP_RUNS + 1) * SWEEP_BATCH; i++) {
        const user = `sweep-${tag}-${n}-${i}`
        await ctx.orders.createOrder({ user_id: user, item: GOODS.item, item_id: GOODS.item_id, single_pric: GOODS.single_pric }, user, null)
      }
      shift((ORDER_TTL_SECONDS + 60) * 1000)
      // The first run warms up; any orders still due from before (the seed's youngest) go first.
      await ctx.orders.expireDueOrders(SWEEP_BATCH)
    }
    for (let run = 0; run < SWEEP_RUNS; run++) {
      for (const [n, { ctx }] of contexts.entries()) {
        const started = performance.now()
        const expired = await ctx.orders.expireDueOrders(SWEEP_BATCH)
        times[n].push(performance.now() - started)
        if (expired !== SWEEP_BATCH) throw new Error(`the sweep expired ${expired} orders, not ${SWEEP_BATCH}`)
      }
    }
    return times.map(latency)
  } finally {
    await Promise.all(contexts.map(({ ctx }) => ctx.close()))
  }
}

interface Captured { sql: string, parameters: readonly unknown[] }

/** Records every statement any Kysely instance in this process runs while `fn` runs. */
async function capture (fn: () => Promise<void>): Promise<Captured[]> {
  const proto = DefaultQueryExecutor.prototype as unknown as { executeQuery: (q: CompiledQuery) => Promise<QueryResult<unknown>> }
  const original = proto.executeQuery
  const seen: Captured[] = []
  proto.executeQuery = function (this: unknown, q: CompiledQuery) {
    seen.push({ sql: q.sql, parameters: q.parameters })
    return original.call(this, q)
  }
  try {
    await fn()
  } finally {
    proto.executeQuery = original
  }
  // The statements worth a plan, each once.
  const unique = new Map<string, Captured>()
  for (const q of seen) if (/^\s*(with|select|insert|update|delete)\b/i.test(q.sql) && !unique.has(q.sql)) unique.set(q.sql, q)
  return [...unique.values()]
}

async function explain (store: Store, q: Captured): Promise<string> {
  const dialect = store.caps.name
  const prefix = dialect === 'sqlite' ? 'explain query plan ' : 'explain '
  const result = await store.db.executeQuery(CompiledQuery.raw(prefix + q.sql, [...q.parameters]))
  const rows = result.rows as Record<string, unknown>[]
  if (dialect === 'postgres') return rows.map((r) => String(r['QUERY PLAN'])).join('\n')
  if (dialect === 'sqlite') return rows.map((r) => String(r.detail)).join('\n')
  return rows.map((r) => Object.entries(r).filter(([, v]) => v !== null).map(([k, v]) => `${k}=${String(v)}`).join(' ')).join('\n')
}

/** The statements each path runs, captured from the service in this process on the big database, with their plans. */
async function explainPaths (url: string, notifyUrl: string, store: Store) {
  const { ctx, shift } = await sweepContext(url, notifyUrl)
  const app = await buildApp(ctx)
  await app.ready()
  const inject = async (path: string, body: unknown) => {
    const res = await app.inject({ method: 'POST', url: path, payload: body as object })
    if (res.statusCode !== 200) throw new Error(`${path} answered ${res.statusCode}: ${res.body}`)
    return res.json().data as Record<string, unknown>
  }
  try {
    const user = `explain-${Date.now()}`
    const o: Prepared = { order: '', user, amount: GOODS.single_pric }
    const steps: Array<[PathName, () => Promise<unknown>]> = [
      ['create-order', async () => { o.order = String((await inject('/api/pay/create-order', { user_id: user, ...GOODS })).order) }],
      ['callback', () => inject('/api/pay/callback', JSON.parse(callbackBody(o, `EXPLAIN-${user}`)))],
      ['verification (order)', () => inject('/api/pay/verification', { user_id: user, item: GOODS.item, item_id: GOODS.item_id, order: o.order })],
      ['verification (latest paid)', () => inject('/api/pay/verification', { user_id: user, item: GOODS.item, item_id: GOODS.item_id })],
    ]
    for (const [name, step] of steps) {
      const statements = await capture(async () => { await step() })
      console.log(`\n### ${name}: ${statements.length} statements`)
      for (const q of statements) console.log(`\n${q.sql}\n${indent(await explain(store, q))}`)
    }
    await ctx.orders.createOrder({ user_id: `${user}-due`, ...GOODS }, `${user}-due`, null)
    shift((ORDER_TTL_SECONDS + 60) * 1000)
    const statements = await capture(async () => { await ctx.orders.expireDueOrders(SWEEP_BATCH) })
    console.log(`\n### expiry sweep: ${statements.length} statements`)
    for (const q of statements) console.log(`\n${q.sql}\n${indent(await explain(store, q))}`)
  } finally {
    await app.close()
    await ctx.close()
  }
}

const indent = (text: string) => text.split('\n').map((l) => `    ${l}`).join('\n')

async function databaseSize (store: Store, url: string): Promise<string> {
  let bytes: number
  if (store.caps.name === 'sqlite') bytes = statSync(url.slice('sqlite:'.length)).size
  else if (store.caps.name === 'postgres') bytes = Number((await sql<{ n: string }>`select pg_database_size(current_database()) as n`.execute(store.db)).rows[0].n)
  else {
    bytes = Number((await sql<{ n: string }>`select sum(data_length + index_length) as n from information_schema.TABLES where table_schema = database()`
      .execute(store.db)).rows[0].n)
  }
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`
}

/** A game server's endpoint for the order.paid events: answers 200 to everything. */
async function receiver () {
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.end('ok'))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return { url: `http://127.0.0.1:${port}/paid`, close: () => new Promise((resolve) => server.close(resolve)) }
}

interface DialectResult {
  dialect: BenchDialect
  version: string
  empty: Measured
  big: Measured
  /** A second, small database measured in turns with the big one. */
  control: Measured
  seedS: number
  size: string
}

/** A database of its own, migrated and empty: the control beside the big database. */
async function controlDatabase (dialect: BenchDialect, url: string, dir: string): Promise<string> {
  if (dialect === 'sqlite') return `sqlite:${join(dir, 'control.db')}`
  const control = new URL(url)
  control.pathname = `${control.pathname}_control`
  await ensureDatabase(dialect, control.toString())
  const store = connect(control.toString())
  try {
    await dropAllTables(store)
  } finally {
    await store.close()
  }
  return control.toString()
}

async function benchDialect (dialect: BenchDialect, opts: ReturnType<typeof options>, dir: string, notifyUrl: string): Promise<DialectResult> {
  const url = dialect === 'sqlite' ? `sqlite:${join(dir, 'scale.db')}` : URLS[dialect]
  if (dialect !== 'sqlite') await ensureDatabase(dialect, url)
  const store = connect(url, { statementTimeoutMs: SEED_STATEMENT_TIMEOUT_MS })
  try {
    if (dialect !== 'sqlite') await dropAllTables(store)
    await migrateToLatest(store)
    const version = await databaseVersion(store)

    /** A server process per database, the HTTP paths in turns, then the sweep in this process in turns. */
    const phase = async (targets: Array<{ url: string, tag: string }>): Promise<Measured[]> => {
      const servers: ServerProcess[] = []
      let measured: Measured[]
      try {
        for (const target of targets) {
          servers.push(await startServer(`gamepay (${dialect}, ${target.tag})`, ['bin/gamepay.js', 'serve'], {
            DATABASE_URL: target.url, CALLBACK_SECRET: SECRET, NOTIFY_URL: notifyUrl, LOG_LEVEL: 'warn', WORKERS: '1', ORDER_TTL_SECONDS: String(ORDER_TTL_SECONDS),
          }, '/readyz'))
        }
        measured = await measureHttp(targets.map((t, n) => ({ origin: servers[n].origin, tag: t.tag })), opts.requests)
      } finally {
        await Promise.all(servers.map((s) => s.stop()))
      }
      const sweeps = await measureSweep(targets.map((t) => t.url), notifyUrl, targets.map((t) => t.tag).join('-'))
      for (const [n, target] of targets.entries()) {
        measured[n]['expiry sweep (200 orders)'] = sweeps[n]
        for (const path of PATHS) {
          const l = measured[n][path]
          if (l) console.log(`${dialect} ${target.tag.padEnd(7)} ${path.padEnd(28)} p50 ${l.p50.toFixed(2)} ms  p99 ${l.p99.toFixed(2)} ms  (${l.n})`)
        }
      }
      return measured
    }

    console.log(`\n## ${version}: empty database`)
    const [empty] = await phase([{ url, tag: 'empty' }])

    console.log(`\n## ${version}: seeding ${opts.orders} orders`)
    const seeded = await seedOrders(store, { orders: opts.orders, force: true, notifyUrl, orderTtlMs: ORDER_TTL_SECONDS * 1000, progress: console.log })
    const seedS = (seeded.seedMs + seeded.analyzeMs) / 1000
    const size = await databaseSize(store, url)
    console.log(`seeded ${seeded.orders} orders in ${seedS.toFixed(0)} s (indexes ${(seeded.indexMs / 1000).toFixed(0)} s); database ${size}`)

    console.log(`\n## ${version}: ${opts.orders} orders, in turns with an empty control database`)
    const [big, control] = await phase([{ url, tag: 'big' }, { url: await controlDatabase(dialect, url, dir), tag: 'control' }])
    console.log(`\n## ${version}: the statements of each path and their plans, on ${opts.orders} orders`)
    await explainPaths(url, notifyUrl, store)
    return { dialect, version, empty, big, control, seedS, size }
  } finally {
    await store.close()
  }
}

async function main () {
  const opts = options()
  const built = spawnSync(process.execPath, ['scripts/build.js'], { cwd: ROOT, stdio: 'inherit' })
  if (built.status !== 0) throw new Error('the build failed')
  const dir = mkdtempSync(join(tmpdir(), 'gamepay-bench-scale-'))
  const notify = await receiver()
  const results: DialectResult[] = []
  try {
    for (const dialect of opts.dialects) results.push(await benchDialect(dialect, opts, dir, notify.url))
  } finally {
    await notify.close()
    rmSync(dir, { recursive: true, force: true })
  }

  const ms = (l: Latency | undefined) => (l ? `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)}` : '-')
  const ratio = (a: Latency | undefined, b: Latency | undefined) => {
    if (!a || !b) return '-'
    const r = b.p50 / a.p50
    return `${r.toFixed(2)}${r > TARGET_RATIO ? ' (!)' : ''}`
  }
  for (const r of results) {
    console.log('')
    console.log(`${r.version}: p50 / p99 in ms; ratio of the p50s`)
    console.log('')
    console.log(`| path | empty | ${opts.orders} orders | empty control, in turns | big / empty | big / control |`)
    console.log('|---|---:|---:|---:|---:|---:|')
    for (const path of PATHS) {
      console.log(`| ${path} | ${ms(r.empty[path])} | ${ms(r.big[path])} | ${ms(r.control[path])} | ${ratio(r.empty[path], r.big[path])} | ${ratio(r.control[path], r.big[path])} |`)
    }
  }
  const m = machine()
  console.log('')
  console.log(`${opts.requests} requests per path and database, one at a time over one connection, in ${ROUNDS} rounds after ${WARM_UP} of each; ` +
    `the sweep: ${SWEEP_RUNS} runs of ` +
    `${SWEEP_BATCH} orders; ${m.cpu}, ${m.cores} cores, Node ${m.node}; ` +
    results.map((r) => `${r.version} (seeded in ${r.seedS.toFixed(0)} s, ${r.size})`).join(', '))
  const over = results.flatMap((r) => PATHS.filter((p) => {
    const a = r.control[p]
    const b = r.big[p]
    return a && b && b.p50 / a.p50 > TARGET_RATIO
  }).map((p) => `${r.dialect}: ${p}`))
  const target = `${Math.round((TARGET_RATIO - 1) * 100)} %`
  console.log(over.length ? `more than ${target} slower on the big database than on the control: ${over.join(', ')}` : `every path within ${target} of the control`)
}

runMain(main, USAGE)
