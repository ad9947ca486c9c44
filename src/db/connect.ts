import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { CompiledQuery, Kysely, MysqlDialect, PostgresDialect, SqliteDialect } from 'kysely'
import { createPool } from 'mysql2'
import pg from 'pg'
import type { DB, Db, Executor } from './database.ts'
import { capabilities, type Capabilities, type DialectName } from './dialect.ts'

export interface ConnectOptions {
  poolSize?: number
  statementTimeoutMs?: number
  /** How long to wait for a connection before answering SERVICE_UNAVAILABLE. */
  connectTimeoutMs?: number
}

export interface Store {
  db: Db
  caps: Capabilities
  /** Runs fn in a transaction, again from the start when it lost a race (transient error or unique key). */
  transaction: <T>(fn: (trx: Executor) => Promise<T>) => Promise<T>
  close: () => Promise<void>
}

export function dialectOf (url: string): DialectName {
  if (url.startsWith('sqlite:')) return 'sqlite'
  if (/^postgres(ql)?:\/\//.test(url)) return 'postgres'
  if (url.startsWith('mysql://')) return 'mysql'
  throw new Error('DATABASE_URL must start with sqlite:, postgres:// or mysql://')
}

function sqliteDialect (url: string, opts: ConnectOptions): SqliteDialect {
  const file = url.slice('sqlite:'.length)
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const database = new SQLite(file, { timeout: opts.statementTimeoutMs ?? 5000 })
  database.pragma('journal_mode = WAL')
  // FULL: a payment acknowledged to the platform survives a power cut, not just a crash.
  database.pragma('synchronous = FULL')
  database.defaultSafeIntegers(true)
  // Kysely prepares every query anew; better-sqlite3 statements are reusable, and the same few
  // SQL texts serve every request, so keep them prepared.
  const statements = new Map<string, SQLite.Statement>()
  const prepare = (text: string) => {
    let statement = statements.get(text)
    if (!statement) {
      if (statements.size >= 500) statements.clear()
      statement = database.prepare(text)
      statements.set(text, statement)
    }
    return statement
  }
  return new SqliteDialect({ database: { prepare, close: () => database.close() } })
}

function postgresDialect (url: string, opts: ConnectOptions): PostgresDialect {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 2000,
    statement_timeout: opts.statementTimeoutMs ?? 5000,
    idle_in_transaction_session_timeout: (opts.statementTimeoutMs ?? 5000) * 2,
  })
  // An idle client whose server went away must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  // Nor a checked-out one (inside a transaction, between statements): its next query fails
  // ("not queryable", answered 503) and the pool discards it on release.
  pool.on('connect', (client) => { client.on('error', () => {}) })
  return new PostgresDialect({ pool })
}

function mysqlDialect (url: string, opts: ConnectOptions): MysqlDialect {
  const pool = createPool({
    uri: url,
    connectionLimit: opts.poolSize ?? 10,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    supportBigNumbers: true,
    bigNumberStrings: true,
    charset: 'utf8mb4_bin',
    timezone: 'Z',
  })
  const timeoutMs = opts.statementTimeoutMs ?? 5000
  return new MysqlDialect({
    pool,
    async onCreateConnection (connection) {
      // READ COMMITTED: a read after a row lock sees the latest committed rows, as on PostgreSQL.
      await connection.executeQuery(CompiledQuery.raw('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'))
      await connection.executeQuery(CompiledQuery.raw(`SET SESSION innodb_lock_wait_timeout = ${Math.max(1, Math.ceil(timeoutMs / 1000))}`))
      try {
        await connection.executeQuery(CompiledQuery.raw(`SET SESSION max_statement_time = ${timeoutMs / 1000}`)) // MariaDB
      } catch {
        await connection.executeQuery(CompiledQuery.raw(`SET SESSION max_execution_time = ${timeoutMs}`)) // MySQL
      }
    },
  })
}

/** Thrown inside a transaction when a conditional update found the row changed under it. */
export class RaceLost extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function connect (url: string, opts: ConnectOptions = {}): Store {
  const name = dialectOf(url)
  const dialect = name === 'sqlite' ? sqliteDialect(url, opts) : name === 'postgres' ? postgresDialect(url, opts) : mysqlDialect(url, opts)
  const db = new Kysely<DB>({ dialect })
  const caps = capabilities[name]
  return {
    db,
    caps,
    async transaction (fn) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().execute(fn)
        } catch (err) {
          const raced = err instanceof RaceLost || caps.isTransient(err) || caps.isUniqueViolation(err)
          if (!raced || attempt >= 8) throw err
          await sleep(Math.random() * 5 * attempt)
        }
      }
    },
    close: () => db.destroy(),
  }
}
