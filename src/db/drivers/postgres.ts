import { createHash } from 'node:crypto'
import type pg from 'pg'
import { PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely'
import { loadPackage } from '../../load-package.ts'
import { readTimeoutMs, silentError, type DriverOptions, type PoolStats } from './options.ts'

export function postgresDialect (url: string, opts: DriverOptions): { dialect: PostgresDialect, poolStats: () => PoolStats } {
  const { Pool } = loadPackage('pg') as typeof pg
  const pool = new Pool({
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

// Named statements a connection keeps at most; past that, a new text runs unnamed. The same few
// texts serve every request, so this only bounds the server memory of rarely used ones.
const MAX_NAMED_PER_CONNECTION = 200

// A plan cached for `select *` fails once a migration adds a column ("cached plan must not change
// result type"): such texts run unnamed, as do those without parameters (begin, commit, DDL),
// which the simple protocol sends in one message anyway.
const namable = (text: string, parameters: ReadonlyArray<unknown>) => parameters.length > 0 && !text.includes('*')

const names = new Map<string, string>()
/** The statement's name: a hash of its text, so every connection names the same text alike. */
function nameOf (text: string): string {
  let name = names.get(text)
  if (name === undefined) {
    if (names.size >= 1000) names.clear()
    name = `gp_${createHash('sha1').update(text).digest('base64url')}`
    names.set(text, name)
  }
  return name
}

function dropSilentPgClients (pool: pg.Pool): PostgresPool {
  // One wrapper per client: Kysely keys its per-connection state on the object it is given.
  const wrappers = new WeakMap<pg.PoolClient, PostgresPoolClient>()
  const wrap = (client: pg.PoolClient) => {
    let silent = false
    // Repeated texts run as named prepared statements: PostgreSQL parses and plans them once per
    // connection instead of on every request.
    const named = new Set<string>()
    const wrapper = {
      query (text: string, parameters: ReadonlyArray<unknown>) {
        if (silent) return Promise.reject(silentError())
        let name: string | undefined
        if (namable(text, parameters)) {
          name = nameOf(text)
          if (!named.has(name)) {
            if (named.size < MAX_NAMED_PER_CONNECTION) named.add(name)
            else name = undefined
          }
        }
        return client.query({ text, values: [...parameters], name }).catch((err: Error) => {
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
