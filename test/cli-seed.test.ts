// `gamepay seed` as an operator runs it: a real child process on each database, checked by what it
// prints, by the rows it leaves (counts, proportions, every paid order's one payment) and by the
// service working on the seeded database afterwards.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve as resolvePath } from 'node:path'
import { before, describe, test } from 'node:test'
import { sql, type RawBuilder } from 'kysely'
import { SEED_OPTIONS } from '../src/cli/seed.ts'
import { connect, type Store } from '../src/db/connect.ts'
import { createOrder, createTestApp, forEachDialect, freshDatabaseUrl, post } from './helper.ts'

const BIN = resolvePath(import.meta.dirname, '../bin/gamepay.js')
const DAY_MS = 86_400_000
const NOTIFY_URL = 'http://127.0.0.1:9/hooks/paid'

interface Run { code: number, stdout: string, stderr: string }

/** `node bin/gamepay.js …` in an empty directory (no .env), with only the given environment. */
function gamepay (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const cwd = mkdtempSync(join(tmpdir(), 'gamepay-seed-'))
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

async function withStore<T> (url: string, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = connect(url)
  try {
    return await fn(store)
  } finally {
    await store.close()
  }
}

/** SELECT count(*) … as a number. */
async function countOf (store: Store, query: RawBuilder<{ n: unknown }>): Promise<number> {
  const { rows } = await query.execute(store.db)
  return Number(rows[0].n)
}

forEachDialect('gamepay seed', (dialect) => {
  let url: string
  const seededNumbers = new Set<string>()
  before(async () => {
    url = await freshDatabaseUrl(dialect)
  })

  test('when 2,000 orders are seeded, then it prints its progress and time, and the tables hold them in realistic proportions', async () => {
    const started = Date.now()
    const run = await gamepay(['seed', '--orders', '2000', '--users', '100'], { DATABASE_URL: url, NOTIFY_URL })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^seeding 2,000 orders of the last 90 days into \w+, numbered seed-…, with their order\.paid events\n/)
    assert.match(run.stdout, /\n {2}2,000 \/ 2,000 orders \(100 %\) in [\d.]+ s, [\d,]+ orders\/s\n/)
    assert.match(run.stdout, /\nseeded 2,000 orders \([\d,]+ paid\) in [\d.]+ s \(indexes [\d.]+ s\)/)

    await withStore(url, async (store) => {
      const orders = await store.db.selectFrom('orders')
        .select(['order_no', 'user_id', 'status', 'created_at', 'expire_at', 'paid_at', 'amount_fen', 'paid_fen', 'gyyx_order_no', 'open_key'])
        .execute()
      assert.equal(orders.length, 2000)
      for (const o of orders) seededNumbers.add(o.order_no)
      assert.ok(orders.every((o) => /^seed-\d{12}$/.test(o.order_no)), 'seeded numbers carry the seed prefix')
      assert.equal(new Set(orders.map((o) => o.user_id)).size, 100)
      const byStatus = (s: string) => orders.filter((o) => o.status === s)
      const paid = byStatus('paid')
      // ~60 % paid, ~15 % cancelled, the rest expired (none is younger than its 30 min TTL: one order per 65 min).
      assert.ok(paid.length > 1100 && paid.length < 1300, `paid: ${paid.length}`)
      assert.ok(byStatus('cancelled').length > 200 && byStatus('cancelled').length < 400, `cancelled: ${byStatus('cancelled').length}`)
      assert.equal(paid.length + byStatus('cancelled').length + byStatus('expired').length + byStatus('unpaid').length, 2000)
      for (const o of orders) {
        const created = Number(o.created_at)
        assert.ok(created >= started - 90 * DAY_MS - 1000 && created <= Date.now(), `${o.order_no} created within the 90 days`)
        assert.equal(Number(o.expire_at), created + 1_800_000)
        assert.equal(o.open_key === null, o.status !== 'unpaid', 'only an unpaid order holds its open key')
        if (o.status === 'paid') {
          assert.ok(Number(o.paid_at) > created && Number(o.paid_at) < Number(o.expire_at), `${o.order_no} paid before it expired`)
          assert.equal(String(o.paid_fen), String(o.amount_fen))
        } else {
          assert.equal(o.paid_at, null)
          assert.equal(o.gyyx_order_no, null)
        }
      }

      // A creation event per order, and one event per change to its status.
      const events = await store.db.selectFrom('order_events').select(['order_no', 'from_status', 'to_status', 'created_at']).execute()
      assert.equal(events.length, 2000 + 2000 - byStatus('unpaid').length)
      const historyOf = new Map<string, typeof events>()
      for (const e of events) historyOf.set(e.order_no, [...historyOf.get(e.order_no) ?? [], e])
      for (const o of orders) {
        const history = (historyOf.get(o.order_no) ?? []).sort((a, b) => Number(a.created_at) - Number(b.created_at))
        assert.deepEqual(history.map((e) => [e.from_status, e.to_status]),
          o.status === 'unpaid' ? [[null, 'unpaid']] : [[null, 'unpaid'], ['unpaid', o.status]], o.order_no)
      }

      // Every paid order has exactly one applied payment, for its amount and platform number; no other order has one.
      const payments = await store.db.selectFrom('payments').select(['order_no', 'gyyx_order_no', 'amount_fen', 'kind']).execute()
      const applied = payments.filter((p) => p.kind === 'applied')
      assert.equal(applied.length, paid.length)
      const appliedTo = new Map(applied.map((p) => [p.order_no, p]))
      assert.equal(appliedTo.size, paid.length, 'one applied payment per order')
      for (const o of paid) {
        const payment = appliedTo.get(o.order_no)
        assert.ok(payment, `${o.order_no} has its payment`)
        assert.equal(payment.gyyx_order_no, o.gyyx_order_no)
        assert.equal(String(payment.amount_fen), String(o.amount_fen))
      }
      const duplicates = payments.filter((p) => p.kind === 'duplicate')
      assert.deepEqual(new Set(payments.map((p) => p.kind)), new Set(['applied', 'duplicate']))
      assert.ok(duplicates.every((p) => byStatus('paid').some((o) => o.order_no === p.order_no)), 'duplicates are of paid orders')

      // One callback per payment and ~1 % anomalies, whose parameters are the JSON a callback logs.
      const callbacks = await store.db.selectFrom('callbacks').select(['game_order_no', 'gyyx_order_no', 'outcome', 'anomaly', 'params', 'signature']).execute()
      const outcomes = (o: string) => callbacks.filter((c) => c.outcome === o).length
      assert.equal(outcomes('paid'), paid.length)
      assert.equal(outcomes('duplicate_payment'), duplicates.length)
      const anomalies = callbacks.filter((c) => Number(c.anomaly) === 1)
      assert.equal(anomalies.length, outcomes('duplicate_payment') + outcomes('amount_mismatch'))
      assert.ok(anomalies.length >= 5 && anomalies.length <= 50, `anomalies: ${anomalies.length}`)
      assert.equal(callbacks.length, payments.length + outcomes('amount_mismatch'))
      for (const c of callbacks) {
        const params = JSON.parse(c.params) as Record<string, unknown>
        assert.equal(params.game_order_no, c.game_order_no)
        assert.equal(params.gyyx_order_no, c.gyyx_order_no)
        assert.equal(c.signature, 'valid')
      }

      // With NOTIFY_URL: each paid order's order.paid event, delivered at its one attempt.
      const notifications = await store.db.selectFrom('notification_events').select(['event_id', 'order_no', 'status', 'payload']).execute()
      assert.equal(notifications.length, paid.length)
      for (const n of notifications) {
        assert.equal(n.status, 'delivered')
        const body = JSON.parse(n.payload) as { event_id: string, type: string, created_at: string, data: Record<string, unknown> }
        const order = paid.find((o) => o.order_no === n.order_no)
        assert.ok(order, `${n.order_no} is paid`)
        assert.equal(body.event_id, n.event_id)
        assert.equal(body.type, 'order.paid')
        assert.equal(body.data.order, order.order_no)
        assert.equal(body.data.rmb_yuan, Number(order.amount_fen) / 100)
        assert.equal(body.data.paid_at, new Date(Number(order.paid_at)).toISOString())
      }
      const attempts = await store.db.selectFrom('notification_attempts').select(['event_id', 'url', 'http_status']).execute()
      assert.equal(attempts.length, notifications.length)
      assert.ok(attempts.every((a) => a.url === NOTIFY_URL && Number(a.http_status) === 200))
    })
  })

  test('when the service then runs on the seeded database, then its new order numbers meet no seeded one and a seeded paid order verifies', async () => {
    const t = await createTestApp(dialect, { url })
    try {
      const created = []
      for (let i = 0; i < 30; i++) created.push((await createOrder(t.app, { user_id: `seed-u${i}` })).order)
      assert.ok(created.every((n) => n.startsWith('811-') && !seededNumbers.has(n)), created.join(', '))
      assert.equal(new Set(created).size, 30)
      const stored = await countOf(t.ctx.store, sql<{ n: unknown }>`select count(*) as n from orders`)
      assert.equal(stored, 2030)

      const seededPaid = await t.ctx.store.db.selectFrom('orders').select(['order_no', 'user_id', 'item', 'goods_id', 'verify_count'])
        .where('status', '=', 'paid').where('order_no', 'like', 'seed-%').orderBy('order_no').limit(1).executeTakeFirstOrThrow()
      const verified = await post(t.app, '/api/pay/verification', {
        user_id: seededPaid.user_id, item: seededPaid.item, item_id: String(seededPaid.goods_id), order: seededPaid.order_no,
      })
      assert.equal(verified.status, 200, JSON.stringify(verified.body))
      assert.equal(verified.body.data.verify_count, Number(seededPaid.verify_count) + 1)
      const after = await t.ctx.store.db.selectFrom('orders').select('verify_count').where('order_no', '=', seededPaid.order_no).executeTakeFirstOrThrow()
      assert.equal(Number(after.verify_count), Number(seededPaid.verify_count) + 1)
    } finally {
      await t.close()
    }
  })

  test('when the database has orders, then seed refuses without --force, and with it numbers on after the seeded orders', async () => {
    const refused = await gamepay(['seed', '--orders', '100'], { DATABASE_URL: url })
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /^gamepay: refused: the database already has orders\nhint: gamepay seed --force/)
    const sameAsService = await gamepay(['seed', '--orders', '100', '--force', '--prefix', '811'], { DATABASE_URL: url })
    assert.equal(sameAsService.code, 1)
    assert.match(sameAsService.stderr, /--prefix 811 is ORDER_PREFIX/)
    await withStore(url, async (store) => {
      assert.equal(await countOf(store, sql<{ n: unknown }>`select count(*) as n from orders`), 2030)
    })

    const forced = await gamepay(['seed', '--orders', '100', '--force'], { DATABASE_URL: url })
    assert.equal(forced.code, 0, forced.stderr)
    assert.match(forced.stdout, /numbers seed-100000002001 … seed-100000002100$/m)
    await withStore(url, async (store) => {
      const seeded = await store.db.selectFrom('orders').select('order_no').where('order_no', 'like', 'seed-%').execute()
      assert.equal(seeded.length, 2100)
      const added = seeded.map((o) => o.order_no).filter((n) => !seededNumbers.has(n))
      assert.equal(added.length, 100)
      assert.ok(added.every((n) => n > 'seed-100000002000'), 'the second seed numbers on after the first')
      assert.equal(await countOf(store, sql<{ n: unknown }>`select count(*) as n from orders`), 2130)
      // The second seed had no NOTIFY_URL: its paid orders have no events.
      const events = await countOf(store, sql<{ n: unknown }>`select count(*) as n from notification_events`)
      const paidFirst = await countOf(store, sql<{ n: unknown }>`select count(*) as n from orders where status = 'paid' and order_no <= 'seed-100000002000'`)
      assert.equal(events, paidFirst)
    })
  })
})

describe('gamepay seed options', () => {
  test('when --orders is missing or not a count, then it exits 1 saying so, and --help explains every flag', async () => {
    const [missing, bad, help] = await Promise.all([
      gamepay(['seed']),
      gamepay(['seed', '--orders', '1e6']),
      gamepay(['help', 'seed']),
    ])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /^gamepay: --orders must be a whole number from 1 to 100000000, got nothing\nhint: gamepay seed --help\n$/)
    assert.equal(bad.code, 1)
    assert.match(bad.stderr, /got "1e6"/)
    assert.equal(help.code, 0, help.stderr)
    for (const name of Object.keys(SEED_OPTIONS)) assert.match(help.stdout, new RegExp(`^  (-h, )?--${name} `, 'm'), `--${name} is explained`)
  })
})
