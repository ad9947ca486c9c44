// Load benchmark of the public API against a real server process (never part of `npm test`).
//
//   npm run bench -- [--duration 10] [--connections 10] [--db sqlite|postgres|mysql] [--only goods,callback]
//
// Each scenario runs for a bounded time against `node bin/gamepay.js serve` on a fresh
// database (PostgreSQL/MySQL: the gamepay_bench database, its tables dropped first), and the
// writes are checked against the database afterwards. Prints one line per scenario and a
// markdown table for the README.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { sql } from 'kysely'
import { connect, type Store } from '../src/db/connect.ts'
import {
  databaseVersion, freshBenchDatabase, inParallel, load, machine, startServer,
  type BenchDialect, type LoadOptions, type LoadResult, type ServerProcess,
} from './lib.ts'
import { callbackBody, createOrders, GOODS, SECRET } from './payments.ts'

const SCENARIOS = {
  baseline: 'baseline: bare Fastify GET',
  goods: 'GET /api/pay/goods?id=1',
  'create-order': 'POST /api/pay/create-order',
  callback: 'POST /api/pay/callback',
  verification: 'POST /api/pay/verification',
} as const
type Scenario = keyof typeof SCENARIOS

const USAGE = `npm run bench -- [options]
  --duration N       seconds per scenario (default 10)
  --connections N    concurrent connections (default 10)
  --db D             sqlite (default), postgres or mysql
  --only S[,S...]    run only these scenarios: ${Object.keys(SCENARIOS).join(', ')}`

function options () {
  let parsed
  try {
    parsed = parseArgs({
      options: {
        duration: { type: 'string', default: '10' },
        connections: { type: 'string', default: '10' },
        db: { type: 'string', default: 'sqlite' },
        only: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const { values } = parsed
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const positive = (name: string, raw: string, max: number) => {
    const n = Number(raw)
    if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`--${name} must be a whole number from 1 to ${max}, got "${raw}"`)
    return n
  }
  const db = values.db as BenchDialect
  if (!['sqlite', 'postgres', 'mysql'].includes(db)) throw new UsageError(`--db must be sqlite, postgres or mysql, got "${values.db}"`)
  const only = (values.only ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)
  for (const s of only) if (!Object.hasOwn(SCENARIOS, s)) throw new UsageError(`--only: unknown scenario "${s}"; one of ${Object.keys(SCENARIOS).join(', ')}`)
  const scenarios = (Object.keys(SCENARIOS) as Scenario[]).filter((s) => only.length === 0 || only.includes(s))
  return {
    durationMs: positive('duration', values.duration, 3600) * 1000,
    connections: positive('connections', values.connections, 1000),
    db,
    scenarios,
  }
}

interface Row { scenario: Scenario, result: LoadResult, check?: string }

const fmt = (n: number, digits = 2) => n.toFixed(digits)

function report (scenario: Scenario, r: LoadResult, check?: string) {
  console.log(`${scenario.padEnd(13)} ${fmt(r.reqPerSec, 1).padStart(9)} req/s  p50 ${fmt(r.p50)} ms  p99 ${fmt(r.p99)} ms  non-2xx ${r.non2xx}  errors ${r.errors}` +
    `  (${r.completed} requests in ${fmt(r.elapsedS)} s)`)
  if (r.non2xx > 0) console.log(`  status codes: ${JSON.stringify(r.statusCodes)}; first failure: ${r.firstFailure}`)
  if (r.exhausted) console.log('  note: every prepared request was sent before the duration was up')
  if (check) console.log(`  ${check}`)
}

const count = async (query: Promise<{ n: unknown } | undefined>) => Number((await query)?.n ?? 0)

// Failures explained by their message alone: no stack trace.
class ConsistencyError extends Error {}
class UsageError extends Error {}

async function main () {
  const opts = options()
  const { durationMs, connections, db } = opts
  const base = { connections, durationMs }
  const rows: Row[] = []
  const failures: string[] = []
  const servers: ServerProcess[] = []
  const stopAll = () => Promise.all(servers.splice(0).map((s) => s.stop()))
  process.once('SIGINT', () => { stopAll().finally(() => process.exit(130)) })

  console.log(`gamepay bench: ${opts.scenarios.join(', ')}; ${durationMs / 1000} s each, ${connections} connections, database ${db}`)

  if (opts.scenarios.includes('baseline')) {
    const server = await startServer('baseline', ['--import', 'tsx', 'bench/baseline-server.ts'], {}, '/')
    servers.push(server)
    try {
      const result = await load({ ...base, origin: server.origin, method: 'GET', path: '/' })
      rows.push({ scenario: 'baseline', result })
      report('baseline', result)
    } finally {
      await stopAll()
    }
  }

  const serviceScenarios = opts.scenarios.filter((s) => s !== 'baseline')
  let dbVersion = db as string
  if (serviceScenarios.length > 0) {
    const tmp = mkdtempSync(join(tmpdir(), 'gamepay-bench-'))
    const url = await freshBenchDatabase(db, tmp)

    const server = await startServer('gamepay', ['bin/gamepay.js', 'serve'], { DATABASE_URL: url, CALLBACK_SECRET: SECRET, LOG_LEVEL: 'warn' }, '/readyz')
    servers.push(server)
    // The benchmark's own connection, for the checks: the service has migrated the schema by now.
    const store: Store = connect(url)
    try {
      dbVersion = await databaseVersion(store)
      for (const scenario of serviceScenarios) {
        const row = await runScenario(scenario, server.origin, store, base)
        rows.push(row)
        report(scenario, row.result, row.check)
        if (row.check?.startsWith('consistency: FAILED')) failures.push(`${scenario}: ${row.check}`)
      }
    } finally {
      await store.close()
      await stopAll()
      rmSync(tmp, { recursive: true, force: true })
    }
  }

  printTable(rows, { durationMs, connections, dbVersion, db })
  if (failures.length > 0) throw new ConsistencyError(`the database disagrees with the responses:\n  ${failures.join('\n  ')}`)
}

async function runScenario (scenario: Exclude<Scenario, 'baseline'>, origin: string, store: Store, base: Pick<LoadOptions, 'connections' | 'durationMs'>): Promise<Row> {
  const { db } = store
  switch (scenario) {
    case 'goods':
      return { scenario, result: await load({ ...base, origin, method: 'GET', path: '/api/pay/goods?id=1' }) }

    case 'create-order': {
      // A new user per request, so each one creates an order (no open order is reused).
      let next = 0
      const result = await load({
        ...base,
        origin,
        method: 'POST',
        path: '/api/pay/create-order',
        nextBody: () => JSON.stringify({ user_id: `bench-co-${next++}`, ...GOODS }),
      })
      const stored = await count(db.selectFrom('orders').select((eb) => eb.fn.countAll().as('n')).where('user_id', 'like', 'bench-co-%').executeTakeFirst())
      return { scenario, result, check: verdict(stored === result.ok, `${stored} orders stored, ${result.ok} 2xx responses`) }
    }

    case 'callback': {
      // Enough unpaid orders for the whole duration: creating one costs about as much as paying
      // it, so creating for twice the duration leaves a margin (a run that still uses them all
      // says so). Bodies are signed beforehand so the load run measures the service, not the signing.
      const prepStarted = Date.now()
      const orders = await createOrders(origin, 'bench-cb-', Math.max(2 * base.connections, 16),
        (n) => n >= 200_000 || Date.now() - prepStarted > base.durationMs * 2)
      console.log(`  prepared ${orders.length} unpaid orders in ${fmt((Date.now() - prepStarted) / 1000)} s`)
      const bodies = orders.map((o, i) => callbackBody(o, `BCB${Date.now()}x${i}`))
      let sent = 0
      const result = await load({ ...base, origin, method: 'POST', path: '/api/pay/callback', limit: bodies.length, nextBody: () => bodies[sent++] })
      const paid = await count(db.selectFrom('orders').select((eb) => eb.fn.countAll().as('n'))
        .where('user_id', 'like', 'bench-cb-%').where('status', '=', 'paid').executeTakeFirst())
      const payments = await count(db.selectFrom('payments').select((eb) => eb.fn.countAll().as('n')).where('gyyx_order_no', 'like', 'BCB%').executeTakeFirst())
      return {
        scenario,
        result,
        check: verdict(paid === result.ok && payments === result.ok && sent <= bodies.length,
          `${paid} paid orders, ${payments} payments, ${result.ok} 2xx callbacks (${sent} sent)`),
      }
    }

    case 'verification': {
      let paid = (await db.selectFrom('orders').select(['order_no', 'user_id']).where('status', '=', 'paid').limit(5000).execute())
        .map((r) => ({ order: r.order_no, user: r.user_id }))
      if (paid.length < 100) paid = paid.concat(await preparePaidOrders(origin, store, base.connections))
      const bodies = paid.map((o) => JSON.stringify({ user_id: o.user, item: GOODS.item, item_id: GOODS.item_id, order: o.order }))
      const before = await sumVerifyCount(store)
      let next = 0
      const result = await load({ ...base, origin, method: 'POST', path: '/api/pay/verification', nextBody: () => bodies[next++ % bodies.length] })
      const counted = (await sumVerifyCount(store)) - before
      return { scenario, result, check: verdict(counted === result.ok, `verify_count grew by ${counted}, ${result.ok} 2xx responses over ${bodies.length} paid orders`) }
    }
  }
}

function verdict (ok: boolean, detail: string) {
  return `consistency: ${ok ? 'ok' : 'FAILED'} (${detail})`
}

async function sumVerifyCount (store: Store) {
  return count(store.db.selectFrom('orders').select(sql<string>`coalesce(sum(verify_count), 0)`.as('n')).executeTakeFirst())
}

/** 200 orders created and paid over HTTP, for a verification run without a callback run before it. */
async function preparePaidOrders (origin: string, store: Store, lanes: number) {
  const orders = await createOrders(origin, 'bench-vf-', lanes, (n) => n >= 200)
  await inParallel(lanes, (n) => n < orders.length, async (i) => {
    const res = await fetch(`${origin}/api/pay/callback`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: callbackBody(orders[i], `BVF${Date.now()}x${i}`) })
    if (res.status !== 200) throw new Error(`callback answered ${res.status}: ${await res.text()}`)
  })
  return orders
}

function printTable (rows: Row[], ctx: { durationMs: number, connections: number, dbVersion: string, db: BenchDialect }) {
  if (rows.length === 0) return
  const m = machine()
  const lines = [
    '| scenario | req/s | p50 ms | p99 ms | non-2xx | errors |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(({ scenario, result: r }) =>
      `| ${SCENARIOS[scenario]} | ${fmt(r.reqPerSec, 0)} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.non2xx} | ${r.errors} |`),
  ]
  console.log('')
  console.log(lines.join('\n'))
  console.log('')
  console.log(`${m.cpu}, ${m.cores} cores, Node ${m.node}, database ${ctx.dbVersion}; ` +
    `${ctx.durationMs / 1000} s per scenario, ${ctx.connections} connections, autocannon on the same machine.`)
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`)
  if (err instanceof UsageError) console.error(USAGE)
  else if (!(err instanceof ConsistencyError) && err instanceof Error && err.stack) console.error(err.stack)
  process.exitCode = 1
})
