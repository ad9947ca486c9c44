import pg from 'pg'
import { PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely'
import { readTimeoutMs, silentError, type DriverOptions, type PoolStats } from './options.ts'

export function postgresDialect (url: string, opts: DriverOptions): { dialect: PostgresDialect, poolStats: () => PoolStats } {
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
  return {
    dialect: new PostgresDialect({ pool: dropSilentPgClients(pool) }),
    // totalCount includes clients still connecting: they are taken, not idle.
    poolStats: () => ({
      max: pool.options.max, inUse: pool.totalCount - pool.idleCount, idle: pool.idleCount, waiting: pool.waitingCount,
    }),
  }
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
