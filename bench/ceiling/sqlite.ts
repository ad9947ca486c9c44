// better-sqlite3 with gamepay's durability (WAL, synchronous = FULL) and prepared statements.
// By default each request commits on its own (one fsync each); with groupCommit the requests that
// arrive in the same turn of the event loop share one transaction and so one commit, each in its
// own savepoint where it has more than one statement.
import SQLite from 'better-sqlite3'
import {
  INSERT_ORDER_SQL, INSERT_PAYMENT_SQL, insertOrderValues, PAID_COLUMNS, PAY_SQL, payValues, paymentValues, VERIFY_SQL,
  type CeilingStore, type PaidRow, type Payment,
} from './store.ts'

interface Job {
  run: () => unknown
  resolve: (value: unknown) => void
  reject: (err: unknown) => void
}

export function sqliteStore (url: string, opts: { groupCommit?: boolean } = {}): CeilingStore {
  const db = new SQLite(url.slice('sqlite:'.length), { timeout: 5000 })
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = FULL')
  const insertOrder = db.prepare(INSERT_ORDER_SQL)
  const update = db.prepare(PAY_SQL)
  const insertPayment = db.prepare(INSERT_PAYMENT_SQL)
  const verify = db.prepare<unknown[], PaidRow>(`${VERIFY_SQL} returning ${PAID_COLUMNS}`)
  // Inside another transaction better-sqlite3 makes this a savepoint.
  const pay = db.transaction((p: Payment) => {
    if (update.run(...payValues(p)).changes !== 1) return false
    insertPayment.run(...paymentValues(p))
    return true
  })

  let pending: Job[] = []
  const commitTogether = db.transaction((jobs: Array<Job & { value?: unknown, error?: unknown }>) => {
    for (const job of jobs) {
      try {
        job.value = job.run()
      } catch (err) {
        job.error = err
      }
    }
  })
  function flush () {
    const jobs: Array<Job & { value?: unknown, error?: unknown }> = pending
    pending = []
    try {
      // IMMEDIATE, as gamepay begins its transactions: the write lock is taken at BEGIN.
      commitTogether.immediate(jobs)
    } catch (err) {
      for (const job of jobs) job.reject(err)
      return
    }
    for (const job of jobs) {
      if (job.error === undefined) job.resolve(job.value)
      else job.reject(job.error)
    }
  }
  async function write<T> (run: () => T): Promise<T> {
    if (!opts.groupCommit) return run()
    return new Promise<T>((resolve, reject) => {
      pending.push({ run, resolve: resolve as (value: unknown) => void, reject })
      if (pending.length === 1) setImmediate(flush)
    })
  }

  return {
    async insertOrder (o) {
      await write(() => insertOrder.run(...insertOrderValues(o)))
    },
    pay: (p) => write(() => opts.groupCommit ? pay(p) : pay.immediate(p)),
    verify: (orderNo, userId, item, now, traceId) => write(() => verify.get(now, traceId, orderNo, userId, item)),
    async close () {
      db.close()
    },
  }
}
