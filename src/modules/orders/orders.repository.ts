import { sql, type Expression, type SqlBool } from 'kysely'
import { RaceLost } from '../../db/connect.ts'
import { CREATE_ORDER_PROCEDURE } from '../../db/migrations/006_mysql_create_order.ts'
import type { Executor, OrdersTable } from '../../db/database.ts'
import { toInt, toIntOrNull } from '../../db/values.ts'
import { transition, type OrderEvent, type OrderStatus } from '../../domain/order-state.ts'
import { merge } from '../../merge.ts'
import { compiledOnce } from './compiled-once.ts'

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

/**
 * Conditions on the one row its key finds, as a filter no index can serve. Without statistics (a
 * new database filling fast, before autovacuum's first ANALYZE) PostgreSQL's planner may rate
 * `status = $n` on a status index as cheap as the key, and then scans every order of that status.
 */
export const onKeyedRow = (condition: Expression<SqlBool>) => sql<SqlBool>`(${condition}) is true`

const selectOrder = compiledOnce((db, p: { orderNo: string }, shape) => {
  const query = db.selectFrom('orders').select(orderColumns).where('order_no', '=', p.orderNo)
  return shape === 'lock' ? query.forUpdate() : query
})

/** With lock, the row stays locked until the transaction ends (where the database has row locks). */
export async function findOrder (db: Executor, orderNo: string, lock: boolean): Promise<Order | undefined> {
  const { rows } = await selectOrder(db, { orderNo }, lock ? 'lock' : 'read')
  return rows[0] && toOrder(rows[0])
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

const insertEvent = compiledOnce((db, p: { orderNo: string, from: OrderStatus | null, to: OrderStatus } & EventContext) =>
  db.insertInto('order_events').values({
    order_no: p.orderNo, from_status: p.from, to_status: p.to, actor: p.actor, reason: p.reason, trace_id: p.traceId, created_at: p.now,
  }))

export async function appendEvent (db: Executor, orderNo: string, from: OrderStatus | null, to: OrderStatus, ctx: EventContext): Promise<void> {
  await insertEvent(db, { orderNo, from, to, ...ctx })
}

/** The stored row of a new unpaid order. */
const newOrderRow = (o: NewOrder) => ({
  order_no: o.orderNo,
  user_id: o.userId,
  goods_id: o.goodsId,
  item: o.item,
  price_fen: o.priceFen,
  amount_num: o.amountNum,
  amount_fen: o.amountFen,
  server_flag: o.serverFlag,
  description: o.details.description,
  game_role_id: o.details.game_role_id,
  game_role_name: o.details.game_role_name,
  game_role_grade: o.details.game_role_grade,
  status: 'unpaid',
  open_key: o.openKey,
  created_at: o.createdAt,
  expire_at: o.expireAt,
  updated_at: o.createdAt,
  late_payment: 0,
  verify_count: 0,
})
type NewOrderRow = ReturnType<typeof newOrderRow>
const newOrderColumns = ['order_no', 'user_id', 'goods_id', 'item', 'price_fen', 'amount_num', 'amount_fen', 'server_flag', 'description',
  'game_role_id', 'game_role_name', 'game_role_grade', 'status', 'open_key', 'created_at', 'expire_at', 'updated_at', 'late_payment',
  'verify_count'] as const satisfies readonly (keyof NewOrderRow)[]

/** The order a new order row stands for. */
export function newOrder (o: NewOrder): Order {
  return {
    orderNo: o.orderNo,
    userId: o.userId,
    goodsId: o.goodsId,
    item: o.item,
    priceFen: o.priceFen,
    amountNum: o.amountNum,
    amountFen: o.amountFen,
    serverFlag: o.serverFlag,
    createdAt: o.createdAt,
    expireAt: o.expireAt,
    status: 'unpaid',
    paidAt: null,
    gyyxOrderNo: null,
    paidFen: null,
    latePayment: false,
    verifyCount: 0,
    firstVerifiedAt: null,
  }
}

/** Inserts an unpaid order with its creation event; returns the order as it now stands. */
export async function insertOrder (db: Executor, o: NewOrder, ctx: EventContext): Promise<Order> {
  await db.insertInto('orders').values(newOrderRow(o)).execute()
  await appendEvent(db, o.orderNo, null, 'unpaid', ctx)
  return newOrder(o)
}

/** An Idempotency-Key's first response, stored with the order it created. */
export interface KeyedResponse { key: string, response: string }

/** How a database writes a new order with its event and key in one round trip. */
export type OneRoundTrip = 'statement' | 'procedure'

/**
 * Create-order's common case: inserts the order with its creation event (and its Idempotency-Key's
 * response) while the goods still have the order's name and price on sale, no order holds its open
 * key and the key is new. False when any of that fails: nothing was written, and the general way
 * (createOrder's transaction) tells which rule answers. A concurrent twin fails a unique key.
 *
 * One round trip, with no BEGIN or COMMIT of the caller's: on PostgreSQL one statement, its inserts
 * chained by CTEs; on MySQL, which has no writing CTEs, one CALL of the procedure of migration 006.
 */
export async function insertOrderIfNew (db: Executor, how: OneRoundTrip, o: NewOrder, ctx: EventContext,
  keyed: KeyedResponse | null): Promise<boolean> {
  const values = [newOrderRow(o), ctx, { key: keyed?.key ?? null, response: keyed?.response ?? null }]
  if (how === 'statement') return (await insertNewOrder(db, values)).rows.length === 1
  const { rows } = await callCreateOrder(db, values)
  // A CALL answers its result set, then the call's own status.
  return (rows[0] as unknown as Array<{ created: number }>)[0]?.created === 1
}

type NewOrderValues = NewOrderRow & EventContext & { key: string | null, response: string | null }

const insertNewOrder = compiledOnce((db, p: NewOrderValues) => {
  // One row of the new order's values while the goods read as ordered (the stored price, read in
  // this statement) and the key is unused; none otherwise.
  const gated = db.selectFrom('goods')
    .where('id', '=', p.goods_id).where('item', '=', p.item).where('price_fen', '=', p.price_fen).where('on_sale', '=', 1)
    .where(({ not, exists, selectFrom, lit }) => not(exists(selectFrom('idempotency_keys').select(lit(1).as('used'))
      .where('user_id', '=', p.user_id).where('idem_key', '=', p.key))))
    .select(({ val }) => newOrderColumns.map((c) => val(p[c]).as(c)))
  return db
    .with('o', (qb) => qb.insertInto('orders').columns(newOrderColumns).expression(gated)
      .onConflict((oc) => oc.column('open_key').doNothing()).returning('order_no'))
    .with('e', (qb) => qb.insertInto('order_events').columns(['order_no', 'from_status', 'to_status', 'actor', 'reason', 'trace_id', 'created_at'])
      .expression(qb.selectFrom('o').select(({ val }) => ['o.order_no', val(null).as('from_status'), val('unpaid').as('to_status'),
        val(p.actor).as('actor'), val(p.reason).as('reason'), val(p.traceId).as('trace_id'), val(p.now).as('created_at')])))
    .with('k', (qb) => qb.insertInto('idempotency_keys').columns(['user_id', 'idem_key', 'order_no', 'response', 'created_at'])
      .expression(qb.selectFrom('o')
        .select(({ val }) => [val(p.user_id).as('user_id'), val(p.key).as('idem_key'), 'o.order_no', val(p.response).as('response'), val(p.now).as('created_at')])
        .where(({ cast, val }) => cast(val(p.key), 'text'), 'is not', null)))
    .selectFrom('o').select('order_no')
})

// A raw query compiles only against a database: compiledOnce is handed what compiles it.
const callCreateOrder = compiledOnce((db, p: NewOrderValues) => ({
  compile: () => sql<unknown>`call ${sql.raw(CREATE_ORDER_PROCEDURE)}(
    ${p.order_no}, ${p.user_id}, ${p.goods_id}, ${p.item}, ${p.price_fen}, ${p.amount_num}, ${p.amount_fen}, ${p.server_flag},
    ${p.description}, ${p.game_role_id}, ${p.game_role_name}, ${p.game_role_grade}, ${p.open_key}, ${p.now}, ${p.expire_at},
    ${p.actor}, ${p.reason}, ${p.traceId}, ${p.key}, ${p.response})`.compile(db),
}))

/** What a payment writes on the order besides its status. */
type PaymentPatch = Pick<OrdersTable, 'paid_at' | 'gyyx_order_no' | 'paid_fen' | 'late_payment'>

// Two shapes: a plain change of status, and a payment's, which writes the payment's columns too.
const updateStatus = compiledOnce((db, p: { orderNo: string, from: OrderStatus, to: OrderStatus, now: number } & PaymentPatch, shape) => {
  const change = { status: p.to, open_key: null, updated_at: p.now }
  return db.updateTable('orders')
    .set(shape === 'pay' ? merge(change, { paid_at: p.paid_at, gyyx_order_no: p.gyyx_order_no, paid_fen: p.paid_fen, late_payment: p.late_payment }) : change)
    .where('order_no', '=', p.orderNo)
    .where((eb) => onKeyedRow(eb('status', '=', p.from)))
})

/**
 * The one way an order changes status: a conditional update from the status the caller read,
 * plus its history event. A row that changed meanwhile throws RaceLost and the transaction reruns.
 */
export async function applyTransition (db: Executor, order: Order, event: OrderEvent, ctx: EventContext, patch?: PaymentPatch): Promise<OrderStatus> {
  const next = transition(order.status, event)
  if (!next) throw new Error(`no transition ${order.status} --${event}-->`)
  const change = { orderNo: order.orderNo, from: order.status, to: next.to, now: ctx.now }
  const result = await updateStatus(db, patch ? [change, patch] : [change], patch ? 'pay' : '')
  if (Number(result.numAffectedRows) !== 1) throw new RaceLost(`order ${order.orderNo} changed during ${event}`)
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

export interface VerificationQuery {
  /** The order named by the request; absent: the user's latest paid order of the goods. */
  orderNo?: string
  userId: string
  item: string
  goodsId: number | null
}

/**
 * Verification's common case: counts a verification of the paid order the request names rightly
 * (or of the user's latest paid order of the goods) and returns it as counted. Undefined when there
 * is none: nothing was counted, and the general way (verify's transaction) tells which rule answers.
 *
 * PostgreSQL: one UPDATE … RETURNING. MySQL has no UPDATE … RETURNING: LAST_INSERT_ID(expr) hands
 * the new count back in the UPDATE's own answer, so each of several concurrent verifications still
 * sees its own count, and the rest of the order, which no longer changes once paid, is read after.
 */
export async function countVerification (db: Executor, oneStatement: boolean, q: VerificationQuery, now: number,
  traceId: string): Promise<Order | undefined> {
  const named = q.orderNo !== undefined
  const byId = q.goodsId !== null
  const values = [q, { now, traceId }]
  if (oneStatement) {
    const { rows } = await countReturning(db, values, shapeOf({ named, byId, latest: !named }))
    return rows[0] && toOrder(rows[0])
  }
  const orderNo = q.orderNo ?? ((await latestPaid(db, values, shapeOf({ byId }))).rows[0])?.order_no
  if (orderNo === undefined) return undefined
  const counted = await countReportingCount(db, [{ orderNo }, ...values], shapeOf({ named, byId }))
  if (Number(counted.numAffectedRows) !== 1) return undefined
  const order = await findOrder(db, orderNo, false)
  // The order read here is this call's own: its count is set in place.
  if (order) order.verifyCount = Number(counted.insertId)
  return order
}

type VerificationValues = VerificationQuery & { now: number, traceId: string }

/** A query's shape as the names of the options it has on. */
const shapeOf = (options: Record<string, boolean>) => Object.keys(options).filter((k) => options[k]).join(' ')

const latestPaidQuery = (db: Executor, p: VerificationValues, byId: boolean) => db.selectFrom('orders').select('order_no')
  .where('user_id', '=', p.userId).where('status', '=', 'paid')
  .where('goods_id', '=', (eb) => eb.selectFrom('goods').select('id').where('item', '=', p.item)
    .$if(byId, (goods) => goods.where('id', '=', p.goodsId as number)))
  .orderBy('paid_at', 'desc').orderBy('order_no', 'desc').limit(1)

const latestPaid = compiledOnce((db, p: VerificationValues, shape) => latestPaidQuery(db, p, shape.includes('byId')))

function verificationUpdate (db: Executor, p: VerificationValues, shape: string, verifyCount: Expression<number>) {
  const named = shape.includes('named')
  return db.updateTable('orders')
    .set((eb) => ({
      verify_count: verifyCount,
      first_verified_at: eb.fn.coalesce('first_verified_at', eb.val(p.now)),
      first_verify_trace_id: eb.fn.coalesce('first_verify_trace_id', eb.val(p.traceId)),
    }))
    .where('order_no', '=', shape.includes('latest') ? latestPaidQuery(db, p, shape.includes('byId')) : p.orderNo as string)
    .where((eb) => onKeyedRow(eb.and([
      eb('status', '=', 'paid'),
      eb('user_id', '=', p.userId),
      // The order the request names must be for its goods; the latest paid one was chosen by them.
      ...(named ? [eb('item', '=', p.item)] : []),
      ...(named && shape.includes('byId') ? [eb('goods_id', '=', p.goodsId as number)] : []),
    ])))
}

const countReturning = compiledOnce((db, p: VerificationValues, shape) =>
  verificationUpdate(db, p, shape, sql<number>`verify_count + 1`).returning(orderColumns))

// LAST_INSERT_ID(expr) sets the value the server reports back with the UPDATE's own answer.
const countReportingCount = compiledOnce((db, p: VerificationValues, shape) =>
  verificationUpdate(db, p, shape, sql<number>`last_insert_id(verify_count + 1)`))

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
