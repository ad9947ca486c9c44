// Plumbing for bench/run.ts: child-process servers, the load runner and the database setup.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { cpus, availableParallelism } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon, { type Client, type Request } from 'autocannon'
import { sql } from 'kysely'
import pg from 'pg'
import mysql from 'mysql2/promise'
import { connect, type Store } from '../src/db/connect.ts'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))

export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (address === null || typeof address === 'string') throw new Error('could not find a free port')
  return address.port
}

export interface ServerProcess {
  origin: string
  pid: number
  /** Lines the server wrote (warnings and errors at LOG_LEVEL=warn). */
  output: string[]
  stop: () => Promise<void>
}

/**
 * Starts `node <args>` (in `cwd`, by default this checkout) with PORT on a free port and waits until
 * `readyPath` answers 200. The child's output is kept (and its first lines echoed) so a failure can be explained.
 */
export async function startServer (name: string, args: string[], env: Record<string, string>, readyPath: string, cwd = ROOT): Promise<ServerProcess> {
  const port = await freePort()
  const origin = `http://127.0.0.1:${port}`
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line.trim() === '') continue
      output.push(line)
      if (output.length <= 10) console.error(`  [${name}] ${line}`)
      else if (output.length === 11) console.error(`  [${name}] (further output kept quiet)`)
    }
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
  let exited = false
  const exit = once(child, 'exit').then(() => { exited = true })

  const deadline = Date.now() + 30_000
  for (;;) {
    if (exited) throw new Error(`${name} exited during start-up (code ${child.exitCode}):\n${output.join('\n')}`)
    try {
      const res = await fetch(origin + readyPath)
      await res.arrayBuffer()
      if (res.status === 200) break
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${name} was not ready on ${origin}${readyPath} within 30 s:\n${output.join('\n')}`)
    }
    await sleep(100)
  }

  return {
    origin,
    pid: child.pid ?? 0,
    output,
    async stop () {
      if (exited) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
      await exit
      clearTimeout(timer)
    },
  }
}

export interface LoadOptions {
  origin: string
  connections: number
  durationMs: number
  method: 'GET' | 'POST'
  path: string
  /** A new JSON body for every request (called once per request sent); none for a GET. */
  nextBody?: () => string
  /** At most this many requests in all (the pre-built bodies of a scenario). */
  limit?: number
  /**
   * Send the n-th body (from 0) with X-Request-Id: n, which the server echoes, and record which were
   * answered 2xx and which not (LoadResult.outcomes).
   */
  requestIds?: boolean
}

/** What became of each numbered request: sent, answered 2xx, answered otherwise (id and status). */
export interface Outcomes {
  sent: number[]
  ok: number[]
  failed: Array<[number, number]>
}

export interface LoadResult {
  completed: number
  ok: number
  non2xx: number
  errors: number
  elapsedS: number
  reqPerSec: number
  p50: number
  p99: number
  statusCodes: Record<string, number>
  firstFailure: string | null
  /** The limit was reached before the duration ended. */
  exhausted: boolean
  outcomes?: Outcomes
}

function percentile (sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]
}

/**
 * One bounded autocannon run. When the duration is up no new request is started, and the run
 * ends once every in-flight request has its response: autocannon's own stop drops in-flight
 * requests, which the server may still carry out, and the database checks need every request
 * that reached the server to be counted. Throughput is responses / wall time of the run.
 */
export async function load (opts: LoadOptions): Promise<LoadResult> {
  const limit = opts.limit ?? 1_000_000_000
  const connections = Math.max(1, Math.min(opts.connections, limit))
  const clients: Client[] = []
  let finished = 0
  let endedAt = 0
  let firstFailure: string | null = null
  let latencies = new Float64Array(1 << 16)
  let count = 0

  const outcomes: Outcomes | undefined = opts.requestIds ? { sent: [], ok: [], failed: [] } : undefined
  const request: Request = {
    method: opts.method,
    path: opts.path,
    onResponse (status, body, _context, headers) {
      if ((status < 200 || status > 299) && firstFailure === null) firstFailure = `${status} ${body.slice(0, 400)}`
      const id = outcomes && Number(headers['X-Request-Id'] ?? headers['x-request-id'])
      if (outcomes && Number.isInteger(id)) {
        if (status >= 200 && status <= 299) outcomes.ok.push(id as number)
        else outcomes.failed.push([id as number, status])
      }
    },
  }
  const nextBody = opts.nextBody
  if (nextBody) {
    request.headers = { 'content-type': 'application/json' }
    request.setupRequest = (req) => {
      if (!outcomes) return { ...req, body: nextBody() }
      const id = outcomes.sent.length
      outcomes.sent.push(id)
      return { ...req, headers: { 'content-type': 'application/json', 'x-request-id': String(id) }, body: nextBody() }
    }
  }

  const startedAt = performance.now()
  const instance = autocannon({
    url: opts.origin,
    connections,
    amount: limit,
    timeout: 10,
    requests: [request],
    setupClient (client) {
      clients.push(client)
      client.on('done', () => {
        if (++finished === connections) endedAt = performance.now()
      })
    },
  })
  instance.on('response', (_client: Client, _status: number, _bytes: number, responseTime: number) => {
    if (count === latencies.length) {
      const bigger = new Float64Array(latencies.length * 2)
      bigger.set(latencies)
      latencies = bigger
    }
    latencies[count++] = responseTime
  })
  // A client destroys itself before its next request once reqsMade reaches responseMax.
  const drain = setTimeout(() => {
    for (const client of clients) client.responseMax = client.reqsMade
  }, opts.durationMs)
  const hardStop = setTimeout(() => instance.stop(), opts.durationMs + 20_000)
  const result = await instance
  clearTimeout(drain)
  clearTimeout(hardStop)

  const elapsedMs = (endedAt || performance.now()) - startedAt
  const sorted = latencies.subarray(0, count).sort()
  const statusCodes: Record<string, number> = {}
  for (const [code, { count }] of Object.entries(result.statusCodeStats)) statusCodes[code] = count
  return {
    completed: count,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    elapsedS: elapsedMs / 1000,
    reqPerSec: count / (elapsedMs / 1000),
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    statusCodes,
    firstFailure,
    exhausted: count >= limit && elapsedMs < opts.durationMs,
    outcomes,
  }
}

/** Runs `task(i)` for i = 0, 1, … on `concurrency` parallel lanes while `more(tasks started so far)` holds. */
export async function inParallel (concurrency: number, more: (started: number) => boolean, task: (i: number) => Promise<void>) {
  let next = 0
  const lane = async () => {
    while (more(next)) await task(next++)
  }
  await Promise.all(Array.from({ length: concurrency }, lane))
}

export type BenchDialect = 'sqlite' | 'postgres' | 'mysql'

export const DEFAULT_BENCH_DATABASE = 'gamepay_bench'

/**
 * The benchmark's PostgreSQL or MySQL database: BENCH_PG_URL / BENCH_MYSQL_URL, else the local
 * server's gamepay_bench; `name` names another database on the same server.
 */
export function benchDatabaseUrl (dialect: Exclude<BenchDialect, 'sqlite'>, name?: string): string {
  const url = new URL(dialect === 'postgres'
    ? process.env.BENCH_PG_URL ?? `postgres://postgres@127.0.0.1:5432/${DEFAULT_BENCH_DATABASE}`
    : process.env.BENCH_MYSQL_URL ?? `mysql://root@127.0.0.1:3306/${DEFAULT_BENCH_DATABASE}`)
  if (name !== undefined) url.pathname = `/${name}`
  return url.toString()
}

/** Creates the benchmark database when missing (PostgreSQL, MySQL/MariaDB). */
export async function ensureDatabase (dialect: Exclude<BenchDialect, 'sqlite'>, url: string) {
  const server = new URL(url)
  const name = decodeURIComponent(server.pathname.slice(1))
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`database name "${name}" must be letters, digits and _`)
  if (dialect === 'postgres') {
    server.pathname = '/postgres'
    const client = new pg.Client({ connectionString: server.toString(), connectionTimeoutMillis: 3000 })
    await client.connect()
    try {
      const found = await client.query('select 1 from pg_database where datname = $1', [name])
      if (found.rowCount === 0) await client.query(`create database "${name}"`)
    } finally {
      await client.end()
    }
  } else {
    server.pathname = ''
    const conn = await mysql.createConnection({ uri: server.toString(), connectTimeout: 3000 })
    try {
      await conn.query(`create database if not exists \`${name}\` character set utf8mb4 collate utf8mb4_bin`)
    } finally {
      await conn.end()
    }
  }
}

/** Drops every table (ours and Kysely's migration tables) so the service starts from nothing. */
export async function dropAllTables (store: Store) {
  const tables = await store.db.introspection.getTables({ withInternalKyselyTables: true })
  for (const table of tables) {
    if (store.caps.name === 'postgres') await sql`drop table if exists ${sql.table(table.name)} cascade`.execute(store.db)
    else await sql`drop table if exists ${sql.table(table.name)}`.execute(store.db)
  }
}

export async function databaseVersion (store: Store): Promise<string> {
  const query = store.caps.name === 'sqlite' ? sql<{ v: string }>`select sqlite_version() as v` : sql<{ v: string }>`select version() as v`
  const { rows } = await query.execute(store.db)
  const version = String(rows[0]?.v ?? '')
  // PostgreSQL's version() is a sentence; its first two words say enough.
  return store.caps.name === 'postgres' ? version.split(' ').slice(0, 2).join(' ') : `${store.caps.name === 'sqlite' ? 'SQLite' : 'MySQL/MariaDB'} ${version}`
}

export function machine () {
  const cpu = cpus()
  return {
    cpu: cpu[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU',
    cores: availableParallelism(),
    node: process.version,
  }
}

/** A fresh database for one run: a new SQLite file in `dir`, or the bench database (benchDatabaseUrl) with its tables dropped. */
export async function freshBenchDatabase (db: BenchDialect, dir: string, name?: string): Promise<string> {
  if (db === 'sqlite') return `sqlite:${join(dir, 'bench.db')}`
  const url = benchDatabaseUrl(db, name)
  await ensureDatabase(db, url)
  const admin = connect(url)
  try {
    await dropAllTables(admin)
  } finally {
    await admin.close()
  }
  return url
}
