import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { CompiledQuery, Kysely, MysqlDialect, PostgresDialect, SqliteDialect, SqliteDriver, type DatabaseConnection, type SqliteDialectConfig } from 'kysely'
import type { MysqlPool, MysqlPoolConnection, PostgresPool, PostgresPoolClient } from 'kysely'
import { createPool, type Pool as Mysql2Pool, type PoolConnection as Mysql2Connection } from 'mysql2'
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

// Transactions take SQLite's write lock when they begin. A deferred one that reads first and
// writes later gets SQLITE_BUSY at once, without waiting, when another process wrote meanwhile;
// an immediate one waits its turn (busy timeout), so several processes can share one file.
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction (connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig
  constructor (config: SqliteDialectConfig) {
    super(config)
    this.#config = config
  }

  override createDriver () {
    return new ImmediateSqliteDriver(this.#config)
  }
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
  return new ImmediateSqliteDialect({ database: { prepare, close: () => database.close() } })
}

function postgresDialect (url: string, opts: ConnectOptions): PostgresDialect {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: opts.connectTimeoutMs ?? 2000,
    statement_timeout: opts.statementTimeoutMs ?? 5000,
    idle_in_transaction_session_timeout: (opts.statementTimeoutMs ?? 5000) * 2,
    query_timeout: readTimeoutMs(opts),
  })
  // An idle client whose server went away must not crash the process; the next query reconnects.
  pool.on('error', () => {})
  // Nor a checked-out one (inside a transaction, between statements): its next query fails
  // ("not queryable", answered 503) and the pool discards it on release.
  pool.on('connect', (client) => { client.on('error', () => {}) })
  return new PostgresDialect({ pool: dropSilentPgClients(pool) })
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
    pool: dropSilentMysqlConnections(pool, readTimeoutMs(opts)),
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

// The server ends a slow statement itself (statement timeout, lock wait timeout). No answer at
// all well after that means the link is dead or black-holed (a network partition, a host gone
// without a reset): the query fails (503) instead of hanging, and the connection is dropped
// rather than handed to the next request, so the pool reconnects once the database answers.
function readTimeoutMs (opts: ConnectOptions): number {
  return Math.ceil((opts.statementTimeoutMs ?? 5000) / 1000) * 1000 + (opts.connectTimeoutMs ?? 2000)
}

function silentError (): Error {
  return Object.assign(new Error('the database did not answer in time; connection dropped'), { code: 'ETIMEDOUT' })
}

function dropSilentPgClients (pool: pg.Pool): PostgresPool {
  // One wrapper per client: Kysely keys its per-connection state on the object it is given.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>()
  const wrap = (client: pg.PoolClient) => {
    let silent = false
    const wrapper = {
      query (text: string, parameters: ReadonlyArray<unknown>) {
        if (silent) return Promise.reject(silentError())
        return client.query(text, [...parameters]).catch((err: Error) => {
          if (/Query read timeout/.test(err.message)) silent = true
          throw err
        })
      },
      release (destroy?: boolean) {
        // A truthy argument makes pg's pool close the client instead of keeping it.
        client.release(silent || destroy ? true : undefined)
      },
    }
    return wrapper as unknown as PostgresPoolClient
  }
  return {
    async connect () {
      const client = await pool.connect()
      let wrapper = wrappers.get(client)
      if (!wrapper) wrappers.set(client, (wrapper = wrap(client)))
      return wrapper
    },
    end: () => pool.end(),
  }
}

function dropSilentMysqlConnections (pool: Mysql2Pool, timeout: number): MysqlPool {
  const wrappers = new WeakMap<Mysql2Connection, MysqlPoolConnection>()
  const wrap = (connection: Mysql2Connection): MysqlPoolConnection => {
    let silent = false
    return {
      query (sql: string, parameters: unknown[], callback?: (err: unknown, result: unknown) => void) {
        if (!callback) return connection.query(sql, parameters) as never
        if (silent) return callback(silentError(), undefined)
        connection.query({ sql, timeout }, parameters, (err, result) => {
          if ((err as { code?: string } | null)?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') silent = true
          callback(err, result)
        })
      },
      release () {
        if (silent) connection.destroy()
        else connection.release()
      },
    } as MysqlPoolConnection
  }
  return {
    getConnection (callback) {
      pool.getConnection((err, connection) => {
        if (err) return callback(err, connection as unknown as MysqlPoolConnection)
        let wrapper = wrappers.get(connection)
        if (!wrapper) wrappers.set(connection, (wrapper = wrap(connection)))
        callback(null, wrapper)
      })
    },
    end: (callback) => pool.end(callback),
  }
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
