// Group commit for SQLite. With synchronous=FULL every COMMIT waits for an fsync, and SQLite has one
// writer, so one transaction per request makes the disk, not the CPU, the limit. Transactions that
// arrive together share one BEGIN IMMEDIATE … COMMIT (one fsync); each runs in its own savepoint, so
// a failing one is undone alone. Nobody is answered before the shared COMMIT returns.
import { CompiledQuery, type Kysely, type Transaction } from 'kysely'
import type { DB } from './database.ts'
import { AppError } from '../errors.ts'

export interface GroupCommitLimits {
  /** Most transactions one commit carries. */
  maxTransactions?: number
  /** Once a batch's transactions have run this long, the rest wait for the next commit. */
  maxWorkMs?: number
}

export interface GroupCommitStats {
  /** Shared transactions committed: one fsync each. */
  commits: number
  /** Transactions those commits carried. */
  transactions: number
  /** Transactions waiting for the next batch. */
  queued: number
}

export interface RerunRules {
  /** How long a transaction may keep being rerun, from when it was asked for. */
  timeoutMs: number
  /** After fn threw on its attempt'th run: run it again? */
  rerun: (err: unknown, attempt: number, deadline: number) => boolean
  /** What the caller is answered once fn is not run again. */
  answer: (err: unknown) => unknown
}

type Work = (trx: Transaction<DB>) => Promise<unknown>
type Outcome = { ok: true, value: unknown } | { ok: false, error: unknown }

interface Request {
  fn: Work
  deadline: number
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
  outcome?: Outcome
}

const SAVEPOINT = CompiledQuery.raw('savepoint request')
const RELEASE = CompiledQuery.raw('release request')
const ROLLBACK_TO = CompiledQuery.raw('rollback to request')

/** The savepoint could not be undone: SQLite already rolled the whole transaction back (disk full, I/O error). */
class BatchLost extends Error {}

export class GroupCommit {
  readonly #db: Kysely<DB>
  readonly #rules: RerunRules
  readonly #maxTransactions: number
  readonly #maxWorkMs: number
  #queue: Request[] = []
  #active = false
  #idle: (() => void)[] = []
  #commits = 0
  #transactions = 0

  constructor (db: Kysely<DB>, rules: RerunRules, limits: GroupCommitLimits = {}) {
    this.#db = db
    this.#rules = rules
    this.#maxTransactions = limits.maxTransactions ?? 64
    this.#maxWorkMs = limits.maxWorkMs ?? 5
  }

  run<T> (fn: (trx: Transaction<DB>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const deadline = performance.now() + this.#rules.timeoutMs
      this.#queue.push({ fn, deadline, resolve: resolve as (value: unknown) => void, reject })
      if (!this.#active) {
        this.#active = true
        // Not a timer: it runs once this turn's I/O callbacks are done, so requests that came in
        // together join one batch, and a lone request starts at once.
        setImmediate(this.#next)
      }
    })
  }

  stats (): GroupCommitStats {
    return { commits: this.#commits, transactions: this.#transactions, queued: this.#queue.length }
  }

  /** Resolves once every transaction asked for so far is answered. */
  drain (): Promise<void> {
    if (!this.#active) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  readonly #next = () => {
    this.#commitBatch().finally(() => {
      // Again after the I/O that came meanwhile, so what queued during this commit goes together.
      if (this.#queue.length > 0) {
        setImmediate(this.#next)
        return
      }
      this.#active = false
      for (const resolve of this.#idle.splice(0)) resolve()
    })
  }

  async #commitBatch (): Promise<void> {
    const batch = this.#queue.splice(0, this.#maxTransactions)
    try {
      await this.#db.transaction().execute(async (trx) => {
        const started = performance.now()
        for (let i = 0; i < batch.length; i++) {
          if (i > 0 && performance.now() - started > this.#maxWorkMs) {
            // Out of this batch's time: the rest go first in the next one.
            this.#queue.unshift(...batch.splice(i))
            break
          }
          batch[i].outcome = await this.#runOne(trx, batch[i])
          // Arrived while this batch ran (its fns awaited something other than SQLite): join it.
          if (i === batch.length - 1 && batch.length < this.#maxTransactions && this.#queue.length > 0) {
            batch.push(...this.#queue.splice(0, this.#maxTransactions - batch.length))
          }
        }
      })
    } catch (err) {
      // BEGIN or COMMIT failed, or the transaction was lost: none of the batch is written. Its
      // refusals too are withdrawn, as they may rest on another request's writes that are gone.
      for (const request of batch) {
        const unavailable = new AppError('SERVICE_UNAVAILABLE')
        unavailable.cause = err instanceof BatchLost ? err.cause : err
        request.reject(unavailable)
      }
      return
    }
    this.#commits++
    this.#transactions += batch.length
    for (const { outcome, resolve, reject } of batch) {
      if (outcome?.ok) resolve(outcome.value)
      else reject(outcome?.error)
    }
  }

  /** One transaction in its own savepoint, run again while the rules say so; only its writes go if it fails. */
  async #runOne (trx: Transaction<DB>, request: Request): Promise<Outcome> {
    for (let attempt = 1; ; attempt++) {
      await trx.executeQuery(SAVEPOINT)
      let outcome: Outcome
      try {
        outcome = { ok: true, value: await request.fn(trx) }
      } catch (err) {
        outcome = { ok: false, error: err }
      }
      if (outcome.ok) {
        await trx.executeQuery(RELEASE)
        return outcome
      }
      try {
        await trx.executeQuery(ROLLBACK_TO)
        await trx.executeQuery(RELEASE)
      } catch {
        throw new BatchLost('the transaction was rolled back under the batch', { cause: outcome.error })
      }
      // Run again at once: the batch holds SQLite's one write lock, so a pause would only hold it longer.
      if (!this.#rules.rerun(outcome.error, attempt, request.deadline)) return { ok: false, error: this.#rules.answer(outcome.error) }
    }
  }
}
