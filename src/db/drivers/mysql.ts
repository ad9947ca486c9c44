import { CompiledQuery, MysqlDialect, type MysqlPool, type MysqlPoolConnection } from 'kysely'
import { createPool, type Pool as Mysql2Pool, type PoolConnection as Mysql2Connection } from 'mysql2'
import { readTimeoutMs, silentError, type DriverOptions } from './options.ts'

export function mysqlDialect (url: string, opts: DriverOptions): MysqlDialect {
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
