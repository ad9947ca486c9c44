import { Kysely } from 'kysely'
import { mysqlDialect } from './drivers/mysql.ts'
import type { DriverOptions, PoolStats } from './drivers/options.ts'
import { postgresDialect } from './drivers/postgres.ts'
import { sqliteDialect } from './drivers/sqlite.ts'
import type { DB, Db, Executor } from './database.ts'
import { AppError } from '../errors.ts'
import { capabilities, type Capabilities, type DialectName } from './dialect.ts'

export interface Store {
  db: Db
  caps: Capabilities
  /**
   * Runs fn in a transaction, again from the start when it lost a race (a conditional update that
   * found the row changed, a unique key, a deadlock), within one statement timeout in all.
   */
  transaction: <T>(fn: (trx: Executor) => Promise<T>) => Promise<T>
  /** The connection pool right now (SQLite: its one connection). */
  poolStats: () => PoolStats
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
  const driver = name === 'sqlite' ? sqliteDialect : name === 'postgres' ? postgresDialect : mysqlDialect
  const { dialect, poolStats } = driver(url, opts)
  const db = new Kysely<DB>({ dialect })
  const caps = capabilities[name]
  return {
    db,
    caps,
    async transaction (fn) {
      // The request's deadline: reruns stop once a statement timeout has gone by, so a stuck lock
      // costs one timeout, not one per rerun.
      const deadline = performance.now() + (opts.statementTimeoutMs ?? 5000)
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().execute(fn)
        } catch (err) {
          if (err instanceof AppError) throw err
          const raced = err instanceof RaceLost || caps.isRetryable(err) || caps.isUniqueViolation(err)
          if (raced && attempt < 8 && performance.now() < deadline) {
            await sleep(Math.random() * 5 * attempt)
            continue
          }
          // Still losing after the reruns: busy, not broken.
          if (err instanceof RaceLost) throw new AppError('SERVICE_UNAVAILABLE', { zh: '订单正被并发修改', en: 'the order is being changed concurrently' })
          if (caps.isUnavailable(err)) throw new AppError('SERVICE_UNAVAILABLE')
          throw err
        }
      }
    },
    poolStats,
    close: () => db.destroy(),
  }
}
