import { RaceLost } from '../../db/connect.ts'
import type { Executor, OrdersTable } from '../../db/database.ts'
import { toInt, toIntOrNull } from '../../db/values.ts'
import { transition, type OrderEvent, type OrderStatus } from '../../domain/order-state.ts'

export interface Order {
  orderNo: string
  userId: string
  goodsId: number
  item: string
  priceFen: number
  amountNum: number
  amountFen: number
  serverFlag: string
  status: OrderStatus
  createdAt: number
  expireAt: number
  paidAt: number | null
  gyyxOrderNo: string | null
  paidFen: number | null
  latePayment: boolean
  verifyCount: number
  firstVerifiedAt: number | null
}

export type NewOrder = Pick<Order, 'orderNo' | 'userId' | 'goodsId' | 'item' | 'priceFen' | 'amountNum' | 'amountFen' | 'serverFlag' | 'createdAt' | 'expireAt'> & {
  openKey: string
  /** Stored with the order, never read back by the API. */
  details: Pick<OrdersTable, 'description' | 'game_role_id' | 'game_role_name' | 'game_role_grade'>
}

export type OrderRow = Pick<OrdersTable, 'order_no' | 'user_id' | 'goods_id' | 'item' | 'price_fen' | 'amount_num' | 'amount_fen' | 'server_flag' | 'status' | 'created_at' | 'expire_at' | 'paid_at' | 'gyyx_order_no' | 'paid_fen' | 'late_payment' | 'verify_count' | 'first_verified_at'>

/** The columns an Order is read from. */
export const orderColumns = ['order_no', 'user_id', 'goods_id', 'item', 'price_fen', 'amount_num', 'amount_fen', 'server_flag', 'status',
  'created_at', 'expire_at', 'paid_at', 'gyyx_order_no', 'paid_fen', 'late_payment', 'verify_count', 'first_verified_at'] as const

export const toOrder = (r: OrderRow): Order => ({
  orderNo: r.order_no,
  userId: r.user_id,
  goodsId: toInt(r.goods_id),
  item: r.item,
  priceFen: toInt(r.price_fen),
  amountNum: toInt(r.amount_num),
  amountFen: toInt(r.amount_fen),
  serverFlag: r.server_flag,
  status: r.status as OrderStatus,
  createdAt: toInt(r.created_at),
  expireAt: toInt(r.expire_at),
  paidAt: toIntOrNull(r.paid_at),
  gyyxOrderNo: r.gyyx_order_no,
  paidFen: toIntOrNull(r.paid_fen),
  latePayment: toInt(r.late_payment) === 1,
  verifyCount: toInt(r.verify_count),
  firstVerifiedAt: toIntOrNull(r.first_verified_at),
})

/** With lock, the row stays locked until the transaction ends (where the database has row locks). */
export async function findOrder (db: Executor, orderNo: string, lock: boolean): Promise<Order | undefined> {
  let query = db.selectFrom('orders').select(orderColumns).where('order_no', '=', orderNo)
  if (lock) query = query.forUpdate()
  const row = await query.executeTakeFirst()
  return row && toOrder(row)
}

export async function findOrderByOpenKey (db: Executor, openKey: string, lock: boolean): Promise<Order | undefined> {
  let query = db.selectFrom('orders').select(orderColumns).where('open_key', '=', openKey)
  if (lock) query = query.forUpdate()
  const row = await query.executeTakeFirst()
  return row && toOrder(row)
}

export async function findLatestPaidOrder (db: Executor, userId: string, goodsId: number): Promise<Order | undefined> {
  const row = await db.selectFrom('orders').select(orderColumns)
    .where('user_id', '=', userId).where('goods_id', '=', goodsId).where('status', '=', 'paid')
    .orderBy('paid_at', 'desc').orderBy('order_no', 'desc').limit(1)
    .executeTakeFirst()
  return row && toOrder(row)
}

export interface EventContext { actor: 'user' | 'platform' | 'system' | 'operator', reason: string, traceId: string | null, now: number }

export async function appendEvent (db: Executor, orderNo: string, from: OrderStatus | null, to: OrderStatus, ctx: EventContext): Promise<void> {
  await db.insertInto('order_events').values({
    order_no: orderNo, from_status: from, to_status: to, actor: ctx.actor, reason: ctx.reason, trace_id: ctx.traceId, created_at: ctx.now,
  }).execute()
}

/** Inserts an unpaid order with its creation event; returns the order as it now stands. */
export async function insertOrder (db: Executor, o: NewOrder, ctx: EventContext): Promise<Order> {
  await db.insertInto('orders').values({
    order_no: o.orderNo,
    user_id: o.userId,
    goods_id: o.goodsId,
    item: o.item,
    price_fen: o.priceFen,
    amount_num: o.amountNum,
    amount_fen: o.amountFen,
    server_flag: o.serverFlag,
    ...o.details,
    status: 'unpaid',
    open_key: o.openKey,
    created_at: o.createdAt,
    expire_at: o.expireAt,
    updated_at: o.createdAt,
    late_payment: 0,
    verify_count: 0,
  }).execute()
  await appendEvent(db, o.orderNo, null, 'unpaid', ctx)
  const { openKey, details, ...order } = o
  return { ...order, status: 'unpaid', paidAt: null, gyyxOrderNo: null, paidFen: null, latePayment: false, verifyCount: 0, firstVerifiedAt: null }
}

type PaymentPatch = Partial<Pick<OrdersTable, 'paid_at' | 'gyyx_order_no' | 'paid_fen' | 'late_payment'>>

/**
 * The one way an order changes status: a conditional update from the status the caller read,
 * plus its history event. A row that changed meanwhile throws RaceLost and the transaction reruns.
 */
export async function applyTransition (db: Executor, order: Order, event: OrderEvent, ctx: EventContext, patch: PaymentPatch = {}): Promise<OrderStatus> {
  const next = transition(order.status, event)
  if (!next) throw new Error(`no transition ${order.status} --${event}-->`)
  const result = await db.updateTable('orders')
    .set({ ...patch, status: next.to, open_key: null, updated_at: ctx.now })
    .where('order_no', '=', order.orderNo)
    .where('status', '=', order.status)
    .executeTakeFirst()
  if (Number(result.numUpdatedRows) !== 1) throw new RaceLost(`order ${order.orderNo} changed during ${event}`)
  await appendEvent(db, order.orderNo, order.status, next.to, ctx)
  return next.to
}

/** Counts a successful verification; returns false when the order is not (or no longer) paid. */
export async function recordVerification (db: Executor, orderNo: string, now: number, traceId: string): Promise<boolean> {
  const result = await db.updateTable('orders')
    .set((eb) => ({
      verify_count: eb('verify_count', '+', 1),
      first_verified_at: eb.fn.coalesce('first_verified_at', eb.val(now)),
      first_verify_trace_id: eb.fn.coalesce('first_verify_trace_id', eb.val(traceId)),
    }))
    .where('order_no', '=', orderNo).where('status', '=', 'paid')
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/** Unpaid orders past their expiry, locked and skipped by other instances' sweeps where possible. */
export async function findDueOrders (db: Executor, now: number, limit: number, rowLocks: boolean): Promise<Order[]> {
  let query = db.selectFrom('orders').select(orderColumns)
    .where('status', '=', 'unpaid').where('expire_at', '<=', now)
    .orderBy('expire_at').limit(limit)
  if (rowLocks) query = query.forUpdate().skipLocked()
  return (await query.execute()).map(toOrder)
}

export async function findIdempotentResponse (db: Executor, userId: string, key: string, since: number): Promise<string | undefined> {
  const row = await db.selectFrom('idempotency_keys').select('response')
    .where('user_id', '=', userId).where('idem_key', '=', key).where('created_at', '>', since)
    .executeTakeFirst()
  return row?.response
}

/** Stores a key's first response; an expired row under the same key makes way first. */
export async function saveIdempotentResponse (db: Executor, userId: string, key: string, orderNo: string, response: string, now: number, since: number) {
  await db.deleteFrom('idempotency_keys')
    .where('user_id', '=', userId).where('idem_key', '=', key).where('created_at', '<=', since)
    .execute()
  await db.insertInto('idempotency_keys').values({ user_id: userId, idem_key: key, order_no: orderNo, response, created_at: now }).execute()
}
