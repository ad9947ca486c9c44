// SQLite group commit: transactions asked for together share one BEGIN IMMEDIATE … COMMIT (one
// fsync), each in its own savepoint. A failing one is undone alone; a failing commit fails them all;
// nobody is answered before the commit. Batches are counted by the store and, independently, by the
// commit frames SQLite wrote to the WAL.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { after, before, describe, test } from 'node:test'
import SQLite from 'better-sqlite3'
import { sql } from 'kysely'
import { connect, RaceLost, type Store } from '../../src/db/connect.ts'
import type { Executor } from '../../src/db/database.ts'
import { AppError } from '../../src/errors.ts'
import { createTestApp, DIALECTS, type TestApp } from '../helper.ts'

const isUnavailableError = (err: unknown) => err instanceof AppError && err.state === 'SERVICE_UNAVAILABLE'
const fileOf = (url: string) => url.slice('sqlite:'.length)

/**
 * Commit frames in the WAL since it was last reset: one per durable commit (one fsync each under
 * synchronous=FULL). Frames of an earlier generation carry other salts and end the count.
 */
function walCommits (file: string): number {
  const wal = readFileSync(`${file}-wal`)
  if (wal.length < 32) return 0
  const pageSize = wal.readUInt32BE(8)
  const salts = [wal.readUInt32BE(16), wal.readUInt32BE(20)]
  let commits = 0
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salts[0] || wal.readUInt32BE(at + 12) !== salts[1]) break
    if (wal.readUInt32BE(at + 4) !== 0) commits++
  }
  return commits
}

describe('group commit [sqlite]', { skip: !DIALECTS.includes('sqlite') && 'SQLite is not in this run' }, () => {
  let t: TestApp
  let file: string
  // Batches bounded by their count only, so a slow machine can't split the batch a test builds.
  let store: Store
  const stores: Store[] = []
  const open = async (opts: Parameters<typeof connect>[1] = {}) => {
    const s = connect(t.url, { statementTimeoutMs: 1000, ...opts, groupCommit: { maxWorkMs: 60_000, ...opts.groupCommit } })
    stores.push(s)
    // No checkpoint resets the WAL while the tests count its commit frames.
    await sql`pragma wal_autocheckpoint = 0`.execute(s.db)
    return s
  }
  const rows = async () => (await sql<{ request: string }>`select request from batched_writes`.execute(store.db)).rows
    .map((r) => r.request).sort()
  const write = (request: string) => async (trx: Executor) => {
    await sql`insert into batched_writes (request) values (${request})`.execute(trx)
    return request
  }

  before(async () => {
    // The worker-id heartbeat writes too: at an hour's lease it beats every ten minutes, not during these tests.
    t = await createTestApp('sqlite', { env: { WORKER_LEASE_TTL_MS: '3600000' } })
    file = fileOf(t.url)
    store = await open()
    await sql`create table batched_writes (id integer primary key, request text not null unique)`.execute(store.db)
    // Committed only if each child's parent is there by COMMIT: a way to make the COMMIT itself fail.
    await sql`create table batch_parents (id integer primary key)`.execute(store.db)
    await sql`create table batch_children (id integer primary key, parent_id integer not null
      references batch_parents (id) deferrable initially deferred)`.execute(store.db)
    await sql`pragma foreign_keys = on`.execute(store.db)
    await sql`pragma wal_autocheckpoint = 0`.execute(t.ctx.store.db)
  })
  after(async () => {
    for (const s of stores) await s.close()
    await t.close()
  })

  test('when one transaction of a batch throws, one keeps violating a unique key and one is refused, then only their writes are undone and the others commit in the same commit', async () => {
    await store.transaction(write('first-taken'))
    const before = store.groupCommit?.()
    let uniqueRuns = 0
    let raceRuns = 0
    const results = await Promise.allSettled([
      store.transaction(write('ok-1')),
      store.transaction(async (trx) => {
        await write('thrown')(trx)
        throw new Error('the function failed')
      }),
      store.transaction(write('ok-2')),
      store.transaction(async (trx) => {
        uniqueRuns++
        await write(`unique-${uniqueRuns}`)(trx)
        await write('first-taken')(trx)
      }),
      store.transaction(async (trx) => {
        await write('refused')(trx)
        throw new AppError('PRICE_MISMATCH', 'refused')
      }),
      store.transaction(async (trx) => {
        raceRuns++
        await write(`race-${raceRuns}`)(trx)
        if (raceRuns === 1) throw new RaceLost('changed meanwhile')
        return 'won'
      }),
      store.transaction(write('ok-3')),
    ])

    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'rejected', 'fulfilled', 'fulfilled'])
    assert.deepEqual(results.filter((r) => r.status === 'fulfilled').map((r) => r.value), ['ok-1', 'ok-2', 'won', 'ok-3'])
    const reasons = results.map((r) => r.status === 'rejected' ? r.reason : null)
    assert.equal((reasons[1] as Error).message, 'the function failed')
    assert.equal((reasons[3] as { code: string }).code, 'SQLITE_CONSTRAINT_UNIQUE')
    assert.ok(uniqueRuns > 1 && uniqueRuns <= 8, `the unique violation was rerun a bounded number of times: ${uniqueRuns}`)
    assert.ok(reasons[4] instanceof AppError && reasons[4].state === 'PRICE_MISMATCH')
    assert.equal(raceRuns, 2)

    assert.deepEqual(await rows(), ['first-taken', 'ok-1', 'ok-2', 'ok-3', 'race-2'])
    const now = store.groupCommit?.()
    assert.equal(now!.commits - before!.commits, 1, 'the seven transactions shared one commit')
    assert.equal(now!.transactions - before!.transactions, 7)
  })

  test('when the shared COMMIT fails, then every transaction of the batch is answered SERVICE_UNAVAILABLE, refusals included, and none of their writes is there', async () => {
    await sql`delete from batched_writes`.execute(store.db)
    const ran: string[] = []
    const results = await Promise.allSettled([
      store.transaction(async (trx) => {
        ran.push('a')
        return write('commit-a')(trx)
      }),
      store.transaction(async (trx) => {
        ran.push('orphan')
        // Deferred: the statement succeeds, the COMMIT finds the parent missing and fails.
        await sql`insert into batch_children (id, parent_id) values (1, 999)`.execute(trx)
      }),
      store.transaction(async (trx) => {
        ran.push('refused')
        // Refused because of the first request's write: that refusal can't stand once the write is gone.
        const seen = await sql<{ n: number }>`select count(*) as n from batched_writes`.execute(trx)
        throw new AppError('CONFLICT', `saw ${seen.rows[0].n}`)
      }),
      store.transaction(async (trx) => {
        ran.push('b')
        return write('commit-b')(trx)
      }),
    ])

    assert.deepEqual(ran, ['a', 'orphan', 'refused', 'b'], 'each ran once, one after another')
    for (const r of results) assert.ok(r.status === 'rejected' && isUnavailableError(r.reason), JSON.stringify(r))
    const failed = (results[0] as PromiseRejectedResult).reason as AppError
    assert.equal((failed.cause as { code: string }).code, 'SQLITE_CONSTRAINT_FOREIGNKEY', 'the failed COMMIT is kept as the cause')
    assert.deepEqual(await rows(), [])
    assert.deepEqual((await sql`select * from batch_children`.execute(store.db)).rows, [])

    // The connection is usable again: the next batch commits.
    assert.equal(await store.transaction(write('after-failed-commit')), 'after-failed-commit')
    assert.deepEqual(await rows(), ['after-failed-commit'])
  })

  test('when BEGIN IMMEDIATE waits past the busy timeout for another process, then every queued transaction is answered SERVICE_UNAVAILABLE and none ran', async () => {
    const impatient = await open({ statementTimeoutMs: 300 })
    const other = new SQLite(file)
    other.prepare('begin immediate').run()
    let runs = 0
    try {
      const results = await Promise.allSettled([1, 2, 3].map((n) => impatient.transaction(async (trx) => {
        runs++
        return write(`busy-${n}`)(trx)
      })))
      for (const r of results) assert.ok(r.status === 'rejected' && isUnavailableError(r.reason), JSON.stringify(r))
      assert.equal(runs, 0)
    } finally {
      other.prepare('rollback').run()
      other.close()
    }
    assert.deepEqual((await rows()).filter((r) => r.startsWith('busy')), [])
    // The lock is free again: the same store commits.
    assert.equal(await impatient.transaction(write('busy-after')), 'busy-after')
  })

  test('when another process holds the write lock for a moment, then the batch waits for it and commits after it', async () => {
    await sql`delete from batched_writes`.execute(store.db)
    // Another process writes to the same file and keeps its transaction open a moment.
    const writer = spawn(process.execPath, ['-e', `
      const SQLite = require(${JSON.stringify(createRequire(import.meta.url).resolve('better-sqlite3'))})
      const db = new SQLite(${JSON.stringify(file)})
      db.pragma('wal_autocheckpoint = 0')
      db.prepare('begin immediate').run()
      db.prepare("insert into batched_writes (request) values ('other-process')").run()
      console.log('locked')
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300)
      db.prepare('commit').run()
      db.close()
    `], { stdio: ['ignore', 'pipe', 'inherit'] })
    const exited = once(writer, 'exit')
    await once(writer.stdout, 'data')
    const waiting = await open({ statementTimeoutMs: 10_000 })
    const done = await Promise.all(['after-1', 'after-2', 'after-3'].map((r) => waiting.transaction(write(r))))
    assert.deepEqual(done, ['after-1', 'after-2', 'after-3'])
    assert.deepEqual(waiting.groupCommit!(), { commits: 1, transactions: 3, queued: 0 })
    assert.deepEqual(await exited, [0, null])
    assert.deepEqual(await rows(), ['after-1', 'after-2', 'after-3', 'other-process'])
  })

  test('when SQLite rolls the whole transaction back under a batch, then every transaction of it is answered SERVICE_UNAVAILABLE and nothing of it is written', async () => {
    await sql`delete from batched_writes`.execute(store.db)
    const results = await Promise.allSettled([
      store.transaction(write('lost-1')),
      store.transaction(async (trx) => {
        await write('lost-2')(trx)
        // What SQLite does itself on a full disk or an I/O error in the middle of a statement.
        await sql`rollback`.execute(trx)
        throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' })
      }),
      store.transaction(write('lost-3')),
    ])
    for (const r of results) assert.ok(r.status === 'rejected' && isUnavailableError(r.reason), JSON.stringify(r))
    assert.deepEqual(await rows(), [])
    assert.equal(await store.transaction(write('after-lost')), 'after-lost')
  })

  test('when twenty transactions are asked for at once, then fewer commits than transactions reach the WAL, and a batch never exceeds its limit', async () => {
    await sql`delete from batched_writes`.execute(store.db)
    const limited = await open({ groupCommit: { maxTransactions: 4 } })
    for (const [s, name] of [[store, 'open'], [limited, 'limited']] as const) {
      const before = { stats: s.groupCommit!(), wal: walCommits(file) }
      const done = await Promise.all(Array.from({ length: 20 }, (_, i) => s.transaction(write(`${name}-${i}`))))
      assert.equal(done.length, 20)
      const stats = s.groupCommit!()
      const commits = stats.commits - before.stats.commits
      assert.equal(stats.transactions - before.stats.transactions, 20)
      assert.equal(walCommits(file) - before.wal, commits, 'each shared commit is one commit in the WAL')
      assert.equal(commits, name === 'open' ? 1 : 5)
    }
    assert.equal((await rows()).length, 40)

    // A lone transaction is a batch of its own: it waits for nobody.
    const lone = { stats: store.groupCommit!(), wal: walCommits(file) }
    await store.transaction(write('lone'))
    assert.equal(store.groupCommit!().commits - lone.stats.commits, 1)
    assert.equal(walCommits(file) - lone.wal, 1)
  })

  test('when reads outside transactions come while batches commit, then they are answered and see only committed rows', async () => {
    await sql`delete from batched_writes`.execute(store.db)
    const writes = Array.from({ length: 10 }, (_, i) => store.transaction(write(`seen-${i}`)))
    const reads = Array.from({ length: 5 }, () => sql<{ n: number }>`select count(*) as n from batched_writes`.execute(store.db))
    const counts = (await Promise.all(reads)).map((r) => Number(r.rows[0].n))
    await Promise.all(writes)
    for (const n of counts) assert.ok(n === 0 || n === 10, `a read saw ${n} rows: all of a commit or none of it`)
    assert.equal((await rows()).length, 10)
  })

  test('when create-order requests come together through the service, one of them refused, then the others commit together and the refused one wrote nothing', async () => {
    const before = { stats: t.ctx.store.groupCommit!(), wal: walCommits(file) }
    const asks = Array.from({ length: 8 }, (_, i) => ({ user_id: `batch-${i}`, item: '月卡', item_id: '2', single_pric: i === 3 ? 31 : 30 }))
    const results = await Promise.allSettled(asks.map((input, i) => t.ctx.orders.createOrder(input, `trace-batch-${i}`, null)))

    assert.ok(results[3].status === 'rejected' && results[3].reason instanceof AppError && results[3].reason.state === 'PRICE_MISMATCH')
    const created = results.filter((r) => r.status === 'fulfilled').map((r) => r.value)
    assert.equal(created.length, 7)
    const stored = await t.ctx.store.db.selectFrom('orders').select(['order_no', 'user_id', 'status']).where('user_id', 'like', 'batch-%').orderBy('user_id').execute()
    assert.deepEqual(stored.map((o) => o.user_id), ['batch-0', 'batch-1', 'batch-2', 'batch-4', 'batch-5', 'batch-6', 'batch-7'])
    assert.deepEqual(stored.map((o) => o.order_no).sort(), created.map((c) => c.order).sort())
    for (const o of stored) assert.equal(o.status, 'unpaid')
    const commits = t.ctx.store.groupCommit!().commits - before.stats.commits
    assert.ok(commits < 8, `8 transactions took ${commits} commits`)
    assert.equal(walCommits(file) - before.wal, commits)
  })
})
