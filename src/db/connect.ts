import { Kysely } from 'kysely'
import { mysqlDialect } from './drivers/mysql.ts'
import type { DriverOptions } from './drivers/options.ts'
import { postgresDialect } from './drivers/postgres.ts'
import { sqliteDialect } from './drivers/sqlite.ts'
import type { DB, Db, Executor } from './database.ts'
import { capabilities, type Capabilities, type DialectName } from './dialect.ts'

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

/** Thrown inside a transaction when a conditional update found the row changed under it. */
export class RaceLost extends Error {}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export function connect (url: string, opts: DriverOptions = {}): Store {
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
