// Store.transaction reruns what a rerun can fix (a lost race, a deadlock, a serialization failure)
// and nothing else: a lock-wait or busy timeout is answered at once, so a stuck lock costs one
// statement timeout, not one per rerun.
import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { connect, RaceLost, type Store } from '../../src/db/connect.ts'
import { capabilities } from '../../src/db/dialect.ts'
import { AppError } from '../../src/errors.ts'
import { findOrder } from '../../src/modules/orders/orders.repository.ts'
import { createOrder, createTestApp, forEachDialect, type TestApp } from '../helper.ts'

const isUnavailableError = (err: unknown) => err instanceof AppError && err.state === 'SERVICE_UNAVAILABLE'

forEachDialect('transaction reruns', (dialect) => {
  let t: TestApp
  let store: Store
  before(async () => {
    t = await createTestApp(dialect)
    store = connect(t.url, { statementTimeoutMs: 1000, poolSize: 2 })
  })
  after(async () => {
    await store.close()
    await t.close()
  })

  test('when a lock is held past the statement timeout, then the transaction fails once with SERVICE_UNAVAILABLE, not after reruns', async () => {
    const o = await createOrder(t.app, { user_id: 'tx-lock' })
    const holder = connect(t.url, { statementTimeoutMs: 10_000, poolSize: 1 })
    let release = () => {}
    const released = new Promise<void>((resolve) => { release = resolve })
    let locked = () => {}
    const isLocked = new Promise<void>((resolve) => { locked = resolve })
    // Another transaction locks the order (SQLite: takes the write lock) and keeps it.
    const holding = holder.db.transaction().execute(async (trx) => {
      await findOrder(trx, o.order, holder.caps.rowLocks)
      if (dialect === 'sqlite') await trx.updateTable('orders').set({ updated_at: 1 }).where('order_no', '=', o.order).execute()
      locked()
      await released
    })
    await isLocked
    let runs = 0
    try {
      await assert.rejects(store.transaction(async (trx) => {
        runs++
        const order = await findOrder(trx, o.order, store.caps.rowLocks)
        await trx.updateTable('orders').set({ updated_at: 2 }).where('order_no', '=', o.order).execute()
        return order
      }), isUnavailableError)
      // SQLite fails at BEGIN IMMEDIATE, before the function; the others inside it, once.
      assert.equal(runs, dialect === 'sqlite' ? 0 : 1)
    } finally {
      release()
      await holding
      await holder.close()
    }
    const row = await t.ctx.store.db.selectFrom('orders').select('updated_at').where('order_no', '=', o.order).executeTakeFirstOrThrow()
    assert.notEqual(Number(row.updated_at), 2, 'the refused transaction wrote nothing')
  })

  test('when a conditional update loses a race, then the whole transaction runs again and its second run commits', async () => {
    let runs = 0
    const result = await store.transaction(async () => {
      runs++
      if (runs === 1) throw new RaceLost('changed meanwhile')
      return 'done'
    })
    assert.equal(result, 'done')
    assert.equal(runs, 2)
  })

  test('when the race keeps being lost, then it gives up with SERVICE_UNAVAILABLE after a bounded number of runs', async () => {
    let runs = 0
    await assert.rejects(store.transaction(async () => {
      runs++
      throw new RaceLost('always changed')
    }), isUnavailableError)
    assert.ok(runs > 1 && runs <= 8, `${runs} runs`)
  })

  test('when the function refuses the request (an AppError), then it is not run again and the refusal comes through', async () => {
    let runs = 0
    await assert.rejects(store.transaction(async () => {
      runs++
      throw new AppError('PRICE_MISMATCH', 'Connection lost')
    }), (err: unknown) => err instanceof AppError && err.state === 'PRICE_MISMATCH')
    assert.equal(runs, 1)
  })
})

test('when the databases report deadlocks or serialization failures, then those rerun; lock-wait and busy timeouts never do', () => {
  const pg = (code: string) => Object.assign(new Error(code), { code })
  const my = (errno: number) => Object.assign(new Error(String(errno)), { errno })
  assert.equal(capabilities.postgres.isRetryable(pg('40P01')), true)
  assert.equal(capabilities.postgres.isRetryable(pg('40001')), true)
  assert.equal(capabilities.postgres.isRetryable(pg('55P03')), false)
  assert.equal(capabilities.postgres.isRetryable(pg('57014')), false)
  assert.equal(capabilities.mysql.isRetryable(my(1213)), true)
  assert.equal(capabilities.mysql.isRetryable(my(1205)), false)
  assert.equal(capabilities.sqlite.isRetryable(pg('SQLITE_BUSY')), false)
  // The timeouts are "busy": answered 503.
  assert.equal(capabilities.postgres.isUnavailable(pg('55P03')), true)
  assert.equal(capabilities.postgres.isUnavailable(pg('57014')), true)
  assert.equal(capabilities.mysql.isUnavailable(my(1205)), true)
  assert.equal(capabilities.sqlite.isUnavailable(pg('SQLITE_BUSY')), true)
})
