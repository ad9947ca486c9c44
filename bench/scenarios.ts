// The hot paths under load: what each round sends (new bodies, and for payments new orders put
// straight into the database), and the check of the database against what the server answered.
import type { Store } from '../src/db/connect.ts'
import type { OrdersTable } from '../src/db/database.ts'
import type { Outcomes } from './lib.ts'
import { callbackBody, GOODS, type Prepared } from './payments.ts'

export const PATHS = {
  goods: { method: 'GET', url: '/api/pay/goods?id=1' },
  'create-order': { method: 'POST', url: '/api/pay/create-order' },
  callback: { method: 'POST', url: '/api/pay/callback' },
  verification: { method: 'POST', url: '/api/pay/verification' },
} as const
export type HotPath = keyof typeof PATHS

/** The goods file both servers start with (GOODS_SEED): the API document's example and the bench's goods. */
export const BENCH_GOODS = [
  { id: 1, item: '商品属性', single_pric: 99.99, on_sale: true },
  { id: Number(GOODS.item_id), item: GOODS.item, single_pric: GOODS.single_pric, on_sale: true },
]

const PRICE_FEN = Math.round(GOODS.single_pric * 100)

export interface Round {
  bodies?: string[]
  /** Compares the database with the answers; ok false when they disagree. */
  check?: (outcomes: Outcomes) => Promise<{ ok: boolean, detail: string }>
}

/**
 * `count` new requests for one round, all named by `tag` (unique per round and server): create-order
 * bodies each for a new user; callbacks each for a new unpaid order, signed; verifications each of a
 * new paid order. Orders are inserted directly, in batches, as gamepay would have stored them.
 */
export async function prepareRound (path: HotPath, store: Store, tag: string, count: number): Promise<Round> {
  const ids = Array.from({ length: count }, (_, i) => i)
  switch (path) {
    case 'goods':
      return {}

    case 'create-order': {
      const user = (i: number) => `bench-${tag}-${i}`
      return {
        bodies: ids.map((i) => JSON.stringify({ user_id: user(i), ...GOODS })),
        check: async (outcomes) => {
          const rows = await store.db.selectFrom('orders').select('user_id').where('user_id', 'like', `bench-${tag}-%`).execute()
          return compare(outcomes, rows.map((r) => indexOf(r.user_id)), '1 order')
        },
      }
    }

    case 'callback': {
      const orders = ids.map((i): Prepared => ({ order: `${tag}-${i}`, user: `bench-${tag}-${i}`, amount: GOODS.single_pric }))
      await insertOrders(store, orders, 'unpaid')
      const stamp = Date.now()
      return {
        bodies: orders.map((o, i) => callbackBody(o, `P${tag}-${stamp}-${i}`)),
        check: async (outcomes) => {
          // One statement, so one snapshot: a request still in flight when the load stopped may commit
          // meanwhile, and two reads could see its payment without its paid order. The payments are
          // counted per order through their index: a join, planned on statistics taken before this
          // round's orders and payments existed, became a nested loop over both on PostgreSQL.
          const rows = await store.db.selectFrom('orders as o')
            .select((eb) => ['o.order_no', 'o.status',
              eb.selectFrom('payments as p').whereRef('p.order_no', '=', 'o.order_no').select(eb.fn.countAll().as('n')).as('payments')])
            .where('o.order_no', 'like', `${tag}-%`).execute()
          const paid = rows.filter((r) => r.status === 'paid').map((r) => r.order_no)
          const payments = rows.flatMap((r) => Array<string>(Number(r.payments)).fill(r.order_no))
          const unpaidWithPayment = rows.filter((r) => Number(r.payments) > 0 && r.status !== 'paid').length
          const verdict = compare(outcomes, payments.map(indexOf), '1 payment')
          const paidCount = compare(outcomes, paid.map(indexOf), 'paid')
          const agree = verdict.ok && paidCount.ok && unpaidWithPayment === 0
          return {
            ok: agree,
            detail: `${verdict.detail}; ${paid.length} orders paid` + (unpaidWithPayment > 0 ? `; ${unpaidWithPayment} payments of unpaid orders` : '') +
              (paidCount.ok ? '' : ` (${paidCount.detail})`),
          }
        },
      }
    }

    case 'verification': {
      const orders = ids.map((i): Prepared => ({ order: `${tag}-${i}`, user: `bench-${tag}-${i}`, amount: GOODS.single_pric }))
      await insertOrders(store, orders, 'paid')
      return {
        bodies: orders.map((o) => JSON.stringify({ user_id: o.user, item: GOODS.item, item_id: GOODS.item_id, order: o.order })),
        check: async (outcomes) => {
          const rows = await store.db.selectFrom('orders').select(['order_no', 'verify_count'])
            .where('order_no', 'like', `${tag}-%`).where('verify_count', '>', 0).execute()
          // Each order's count, as as many occurrences of its index.
          return compare(outcomes, rows.flatMap((r) => Array<number>(Number(r.verify_count)).fill(indexOf(r.order_no))), '1 verification counted')
        },
      }
    }
  }
}

const indexOf = (name: string) => Number(name.slice(name.lastIndexOf('-') + 1))

/**
 * Every request answered 2xx is in the database exactly once; no request answered otherwise, and none
 * never sent, is in it at all. A request sent but not answered (the generator stopped while it was in
 * flight) may be either: it is counted, not judged.
 */
function compare (outcomes: Outcomes, stored: number[], what: string): { ok: boolean, detail: string } {
  const times = new Map<number, number>()
  for (const i of stored) times.set(i, (times.get(i) ?? 0) + 1)
  const answered = new Set<number>()
  const problems: string[] = []
  let missing = 0
  let twice = 0
  for (const i of outcomes.ok) {
    answered.add(i)
    const n = times.get(i) ?? 0
    if (n === 0) missing++
    else if (n > 1) twice++
  }
  let refusedButStored = 0
  for (const [i] of outcomes.failed) {
    answered.add(i)
    if (times.has(i)) refusedButStored++
  }
  const sent = new Set(outcomes.sent)
  let unanswered = 0
  let unansweredStored = 0
  for (const i of sent) {
    if (answered.has(i)) continue
    unanswered++
    const n = times.get(i) ?? 0
    if (n > 0) unansweredStored++
    if (n > 1) twice++
  }
  let neverSent = 0
  for (const i of times.keys()) if (!sent.has(i)) neverSent++
  if (missing > 0) problems.push(`${missing} 2xx without ${what}`)
  if (twice > 0) problems.push(`${twice} with more than ${what}`)
  if (refusedButStored > 0) problems.push(`${refusedButStored} non-2xx with ${what}`)
  if (neverSent > 0) problems.push(`${neverSent} never sent with ${what}`)
  const detail = `${outcomes.ok.length} 2xx, each with ${what}` +
    (outcomes.failed.length > 0 ? `, ${outcomes.failed.length} non-2xx` : '') +
    (unanswered > 0 ? `, ${unanswered} sent but unanswered when the load stopped (${unansweredStored} of them applied)` : '')
  return problems.length === 0 ? { ok: true, detail } : { ok: false, detail: `${problems.join(', ')}; ${detail}` }
}

/** The orders as gamepay stores a new order (unpaid) or one paid by a callback (paid), inserted in batches. */
async function insertOrders (store: Store, orders: Prepared[], status: 'unpaid' | 'paid') {
  const now = Date.now()
  const rows = orders.map((o, i): OrdersTable => ({
    order_no: o.order,
    user_id: o.user,
    goods_id: Number(GOODS.item_id),
    item: GOODS.item,
    price_fen: PRICE_FEN,
    amount_num: 1,
    amount_fen: PRICE_FEN,
    server_flag: '',
    description: null,
    game_role_id: null,
    game_role_name: null,
    game_role_grade: null,
    status,
    open_key: status === 'unpaid' ? `bench:${o.order}` : null,
    created_at: now,
    expire_at: now + 1800_000,
    updated_at: now,
    paid_at: status === 'paid' ? now : null,
    gyyx_order_no: status === 'paid' ? `P${o.order}-${i}` : null,
    paid_fen: status === 'paid' ? PRICE_FEN : null,
    late_payment: 0,
    verify_count: 0,
    first_verified_at: null,
    first_verify_trace_id: null,
  }))
  await store.db.transaction().execute(async (trx) => {
    for (let i = 0; i < rows.length; i += 1000) await trx.insertInto('orders').values(rows.slice(i, i + 1000)).execute()
  })
}
