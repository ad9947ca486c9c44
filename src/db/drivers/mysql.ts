import { CompiledQuery, MysqlDialect, type MysqlPool, type MysqlPoolConnection } from 'kysely'
import type * as Mysql2 from 'mysql2'
import type { ExecuteValues, Pool as Mysql2Pool, PoolConnection as Mysql2Connection } from 'mysql2'
import { loadPackage } from '../../load-package.ts'
import { readTimeoutMs, silentError, type DriverOptions, type PoolStats } from './options.ts'

/**
 * The utf8mb4 binary collations without PAD SPACE, preferred first: MariaDB's, then MySQL 8's.
 * With utf8mb4_bin (PAD SPACE) "888888 " would equal "888888"; with these, strings compare exactly.
 */
export const NO_PAD_BINARY_COLLATIONS = ['utf8mb4_nopad_bin', 'utf8mb4_0900_bin'] as const

const quoted = NO_PAD_BINARY_COLLATIONS.map((c) => `'${c}'`).join(', ')
/** A subquery: the first of NO_PAD_BINARY_COLLATIONS the server has (NULL on a server with none). */
export const NO_PAD_BINARY_COLLATION_SQL = `(select collation_name from information_schema.COLLATIONS
  where collation_name in (${quoted}) order by field(collation_name, ${quoted}) limit 1)`

export function mysqlDialect (url: string, opts: DriverOptions): { dialect: MysqlDialect, poolStats: () => PoolStats } {
  const { createPool } = loadPackage('mysql2') as typeof Mysql2
  const pool = createPool({
    uri: url,
    connectionLimit: opts.poolSize ?? 10,
    connectTimeout: opts.connectTimeoutMs ?? 2000,
    supportBigNumbers: true,
    bigNumberStrings: true,
    // The handshake carries collation ids up to 255 only; the session's NO PAD one is set below.
    charset: 'utf8mb4_bin',
    timezone: 'Z',
    // Server-side statements each connection keeps (see `execute` below): the hot paths use a few
    // dozen texts, and the server's max_prepared_stmt_count (16382 by default) is shared by all
    // connections of all instances.
    maxPreparedStatements: 100,
  })
  const timeoutMs = opts.statementTimeoutMs ?? 5000
  const dialect = new MysqlDialect({
    pool: dropSilentMysqlConnections(pool, readTimeoutMs(opts)),
    async onCreateConnection (connection) {
      // READ COMMITTED: a read after a row lock sees the latest committed rows, as on PostgreSQL.
      await connection.executeQuery(CompiledQuery.raw('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED'))
      // A parameter compared with a column takes the column's collation; this makes a comparison
      // between two parameters (or literals) exact too, with no PAD SPACE. SET NAMES rather than
      // collation_connection alone: it is what the parameters of prepared statements take.
      const { rows } = await connection.executeQuery<{ name: string | null }>(CompiledQuery.raw(`select ${NO_PAD_BINARY_COLLATION_SQL} as name`))
      const collation = NO_PAD_BINARY_COLLATIONS.find((c) => c === rows[0]?.name)
      if (collation) await connection.executeQuery(CompiledQuery.raw(`SET NAMES utf8mb4 COLLATE ${collation}`))
      await connection.executeQuery(CompiledQuery.raw(`SET SESSION innodb_lock_wait_timeout = ${Math.max(1, Math.ceil(timeoutMs / 1000))}`))
      try {
        await connection.executeQuery(CompiledQuery.raw(`SET SESSION max_statement_time = ${timeoutMs / 1000}`)) // MariaDB
      } catch {
        await connection.executeQuery(CompiledQuery.raw(`SET SESSION max_execution_time = ${timeoutMs}`)) // MySQL
      }
    },
  })
  return { dialect, poolStats: () => mysqlPoolStats(pool) }
}

// mysql2 (3.x) keeps its counts in fields its types leave out; a test notices if they move.
interface Mysql2PoolInternals {
  config?: { connectionLimit?: number }
  _allConnections?: { length: number }
  _freeConnections?: { length: number }
  _connectionQueue?: { length: number }
}

function mysqlPoolStats (pool: Mysql2Pool): PoolStats {
  const p = pool as unknown as Mysql2PoolInternals
  const all = p._allConnections?.length ?? 0
  const idle = p._freeConnections?.length ?? 0
  return { max: p.config?.connectionLimit ?? 0, inUse: all - idle, idle, waiting: p._connectionQueue?.length ?? 0 }
}

// Schema changes come from migrations only, and rebuilding a big table takes longer than any
// request may: the migration lifts the server's limit, and no read timeout cuts them short.
const SCHEMA_CHANGE = /^\s*(alter|create|drop)\s/i

function dropSilentMysqlConnections (pool: Mysql2Pool, timeout: number): MysqlPool {
  const wrappers = new WeakMap<Mysql2Connection, MysqlPoolConnection>()
  const wrap = (connection: Mysql2Connection): MysqlPoolConnection => {
    let silent = false
    type Callback = (err: unknown, result: unknown) => void
    const whenAnswered = (callback: Callback) => (err: unknown, result: unknown) => {
      if ((err as { code?: string } | null)?.code === 'PROTOCOL_SEQUENCE_TIMEOUT') silent = true
      callback(err, result)
    }

    // A statement with parameters runs as a server-side prepared statement, prepared once per
    // connection and text: the server parses it once, and the values travel in binary. mysql2's
    // `execute` has no read timeout of its own, so the one `query` takes is kept here.
    function execute (sql: string, parameters: unknown[], callback: Callback) {
      let answered = false
      const timer = setTimeout(() => {
        answered = true
        callback(Object.assign(new Error('Query inactivity timeout'), { code: 'PROTOCOL_SEQUENCE_TIMEOUT' }), undefined)
      }, timeout)
      connection.execute(sql, parameters as ExecuteValues[], (err, result) => {
        clearTimeout(timer)
        if (!answered) callback(err, result)
      })
    }

    return {
      query (sql: string, parameters: unknown[], callback?: Callback) {
        if (!callback) return connection.query(sql, parameters) as never
        if (silent) return callback(silentError(), undefined)
        const schemaChange = SCHEMA_CHANGE.test(sql)
        if (parameters.length > 0 && !schemaChange) return execute(sql, parameters, whenAnswered(callback))
        connection.query({ sql, timeout: schemaChange ? undefined : timeout }, parameters, whenAnswered(callback))
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
