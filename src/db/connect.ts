import { Kysely } from 'kysely'
import { mysqlDialect } from './drivers/mysql.ts'
import type { DriverOptions, PoolStats } from './drivers/options.ts'
import { postgresDialect } from './drivers/postgres.ts'
import { sqliteDialect } from './drivers/sqlite.ts'
import type { DB, Db, Executor } from './database.ts'
import { AppError } from '../errors.ts'
import { capabilities, type Capabilities, type DialectName } from './dialect.ts'
import { GroupCommit, type GroupCommitLimits, type GroupCommitStats, type RerunRules } from './group-commit.ts'

export interface Store {
  db: Db
  caps: Capabilities
  /**
   * Runs fn in a transaction, again from the start when it lost a race (a conditional update that
   * found the row changed, a unique key, a deadlock), within one statement timeout in all.
   * SQLite: transactions asked for together share one commit, each in its own savepoint; each is
   * answered once that commit is durable, and all with SERVICE_UNAVAILABLE if it fails.
   */
  transaction: <T>(fn: (trx: Executor) => Promise<T>) => Promise<T>
  /** The connection pool right now (SQLite: its one connection; waiting counts queued transactions). */
  poolStats: () => PoolStats
  /** SQLite: commits so far and the transactions they carried. */
  groupCommit?: () => GroupCommitStats
  close: () => Promise<void>
}

export interface StoreOptions extends DriverOptions {
  /** SQLite: how many transactions, and how much of their work, one commit may carry. */
  groupCommit?: GroupCommitLimits
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

/** Reruns what a rerun can fix, and turns what is left into the answer; shared by both ways of committing. */
function rerunRules (caps: Capabilities, timeoutMs: number): RerunRules {
  return {
    timeoutMs,
    rerun: (err, attempt, deadline) => !(err instanceof AppError) &&
      (err instanceof RaceLost || caps.isRetryable(err) || caps.isUniqueViolation(err)) &&
      attempt < 8 && performance.now() < deadline,
    answer (err) {
      if (err instanceof AppError) return err
      // Still losing after the reruns: busy, not broken.
      if (err instanceof RaceLost) return new AppError('SERVICE_UNAVAILABLE', { zh: '订单正被并发修改', en: 'the order is being changed concurrently' })
      if (caps.isUnavailable(err)) return new AppError('SERVICE_UNAVAILABLE')
      return err
    },
  }
}

export function connect (url: string, opts: StoreOptions = {}): Store {
  const name = dialectOf(url)
  const driver = name === 'sqlite' ? sqliteDialect : name === 'postgres' ? postgresDialect : mysqlDialect
  const { dialect, poolStats } = driver(url, opts)
  const db = new Kysely<DB>({ dialect })
  const caps = capabilities[name]
  // The request's deadline: reruns stop once a statement timeout has gone by, so a stuck lock
  // costs one timeout, not one per rerun.
  const rules = rerunRules(caps, opts.statementTimeoutMs ?? 5000)

  if (name === 'sqlite') {
    const group = new GroupCommit(db, rules, opts.groupCommit)
    return {
      db,
      caps,
      transaction: (fn) => group.run(fn),
      poolStats () {
        const stats = poolStats()
        return { ...stats, waiting: stats.waiting + group.stats().queued }
      },
      groupCommit: () => group.stats(),
      async close () {
        await group.drain()
        await db.destroy()
      },
    }
  }

  return {
    db,
    caps,
    async transaction (fn) {
      const deadline = performance.now() + rules.timeoutMs
      for (let attempt = 1; ; attempt++) {
        try {
          return await db.transaction().execute(fn)
        } catch (err) {
          if (rules.rerun(err, attempt, deadline)) {
            await sleep(Math.random() * 5 * attempt)
            continue
          }
          throw rules.answer(err)
        }
      }
    },
    poolStats,
    close: () => db.destroy(),
  }
}
