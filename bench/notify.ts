// Does a game server that never answers slow payments down? Callback latency with a NOTIFY_URL whose
// receiver holds every request until NOTIFY_TIMEOUT_MS, against the same load with no NOTIFY_URL
// (and, for the cost of the outbox itself, with a receiver that answers at once).
//
//   node scripts/build.js && node --import tsx bench/notify.ts [--duration 5] [--connections 10] [--rounds 1] [--db sqlite]
//
// Each run: a fresh database (a new SQLite file; PostgreSQL/MySQL: BENCH_PG_URL / BENCH_MYSQL_URL with
// its tables dropped), `node bin/gamepay.js serve`, unpaid orders made over HTTP, then a
// bounded autocannon run of signed success callbacks; 127.0.0.1 only. Prints p50/p99 per setting.
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from '../src/db/connect.ts'
import { databaseVersion, freshBenchDatabase, load, machine, startServer, type BenchDialect, type LoadResult } from './lib.ts'
import { dialectList, parseOptions, runMain, UsageError, wholeNumber } from './options.ts'
import { callbackBody, createOrders, SECRET } from './payments.ts'

const USAGE = 'usage: node --import tsx bench/notify.ts [--duration 5] [--connections 10] [--rounds 1] [--db sqlite|postgres|mysql]'

/** A receiver that reads each request and never answers (or, `answer`, answers 200 at once); it counts what it holds. */
async function receiver (answer = false) {
  const held = new Set<ServerResponse>()
  let received = 0
  let peak = 0
  const server = createServer((req, res) => {
    req.resume()
    received++
    if (answer) {
      res.end('ok')
      return
    }
    held.add(res)
    peak = Math.max(peak, held.size)
    res.once('close', () => held.delete(res))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    stats: () => ({ received, peak }),
    async close () {
      for (const res of held) res.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

interface Setting { name: string, env: Record<string, string> }

async function run (setting: Setting, opts: { durationMs: number, connections: number, db: BenchDialect }) {
  const dir = mkdtempSync(join(tmpdir(), 'gamepay-bench-notify-'))
  const url = await freshBenchDatabase(opts.db, dir)
  const server = await startServer(setting.name, ['bin/gamepay.js', 'serve'],
    { DATABASE_URL: url, CALLBACK_SECRET: SECRET, LOG_LEVEL: 'error', ...setting.env }, '/readyz')
  try {
    const started = Date.now()
    const orders = await createOrders(server.origin, 'bench-nt-', Math.max(2 * opts.connections, 16),
      (n) => n >= 100_000 || Date.now() - started > opts.durationMs * 2)
    const bodies = orders.map((o, i) => callbackBody(o, `BNT${Date.now()}x${i}`))
    let sent = 0
    const result = await load({
      durationMs: opts.durationMs, connections: opts.connections, origin: server.origin, method: 'POST', path: '/api/pay/callback', limit: bodies.length, nextBody: () => bodies[sent++],
    })
    const store = connect(url)
    try {
      const rows = await store.db.selectFrom('notification_events').select('status').execute()
      const version = await databaseVersion(store)
      return { result, events: rows.length, delivered: rows.filter((r) => r.status === 'delivered').length, version }
    } finally {
      await store.close()
    }
  } finally {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]

async function main () {
  const values = parseOptions({
    duration: { type: 'string', default: '5' },
    connections: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '1' },
    db: { type: 'string', default: 'sqlite' },
  }, USAGE)
  const [db, ...more] = dialectList('db', values.db)
  if (db === undefined || more.length > 0) throw new UsageError(`--db must be one of sqlite, postgres, mysql, got "${values.db}"`)
  const durationMs = wholeNumber('duration', values.duration, 1, 600) * 1000
  const connections = wholeNumber('connections', values.connections, 1, 200)
  const rounds = wholeNumber('rounds', values.rounds, 1, 20)
  const hanging = await receiver()
  const answering = await receiver(true)
  const settings: Setting[] = [
    { name: 'no NOTIFY_URL', env: {} },
    // The defaults: 5 s per request, 8 in flight.
    { name: 'NOTIFY_URL never answers', env: { NOTIFY_URL: hanging.url, NOTIFY_SECRET: 'bench-notify-secret-16+' } },
    { name: 'NOTIFY_URL answers 200', env: { NOTIFY_URL: answering.url, NOTIFY_SECRET: 'bench-notify-secret-16+' } },
  ]
  let version: string = db
  const runs = new Map<string, { result: LoadResult, events: number, delivered: number }[]>(settings.map((s) => [s.name, []]))
  try {
    // Settings take turns, round after round, so a machine busy with something else weighs on each alike.
    for (let round = 1; round <= rounds; round++) {
      for (const setting of settings) {
        const { result, events, delivered, version: v } = await run(setting, { durationMs, connections, db })
        version = v
        runs.get(setting.name)?.push({ result, events, delivered })
        console.log(`round ${round}  ${setting.name.padEnd(26)} ${result.reqPerSec.toFixed(1).padStart(8)} req/s  p50 ${result.p50.toFixed(2)} ms  ` +
          `p99 ${result.p99.toFixed(2)} ms  non-2xx ${result.non2xx}  errors ${result.errors}  events ${events} (${delivered} delivered by the end)`)
      }
    }
  } finally {
    await hanging.close()
    await answering.close()
  }
  const { received, peak } = hanging.stats()
  const m = machine()
  console.log('')
  console.log(`| callbacks (median of ${rounds}) | req/s | p50 ms | p99 ms | non-2xx |`)
  console.log('|---|---:|---:|---:|---:|')
  for (const [name, rs] of runs) {
    const at = (f: (r: LoadResult) => number) => median(rs.map((r) => f(r.result)))
    console.log(`| ${name} | ${at((r) => r.reqPerSec).toFixed(0)} | ${at((r) => r.p50).toFixed(2)} | ${at((r) => r.p99).toFixed(2)} | ` +
      `${rs.reduce((n, r) => n + r.result.non2xx, 0)} |`)
  }
  console.log('')
  console.log(`The hanging receiver got ${received} requests, at most ${peak} at once (NOTIFY_CONCURRENCY). ` +
    `${m.cpu}, ${m.cores} cores, Node ${m.node}, ${version}; ${durationMs / 1000} s per run, ${connections} connections.`)
}

runMain(main, USAGE)
