import { sql } from 'kysely'
import type { CallbacksTable, Executor, OrdersTable } from '../../db/database.ts'
import { PAY_ORDER_PROCEDURE } from '../../db/migrations/007_mysql_pay_order.ts'
import { toInt } from '../../db/values.ts'
import { compiledOnce } from '../orders/compiled-once.ts'
import { appendEvent, findOrder, onKeyedRow, type Order } from '../orders/orders.repository.ts'

export type CallbackRecord = Omit<CallbacksTable, 'id'>

const callbackRow = (r: CallbackRecord): CallbackRecord => ({
  received_at: r.received_at,
  source_ip: r.source_ip,
  trace_id: r.trace_id,
  game_order_no: r.game_order_no,
  gyyx_order_no: r.gyyx_order_no,
  params: r.params,
  sign_type: r.sign_type,
  signature: r.signature,
  outcome: r.outcome,
  anomaly: r.anomaly,
})

const insertCallbackRow = compiledOnce((db, p: CallbackRecord) => db.insertInto('callbacks').values(callbackRow(p)))

/** The append-only log of every callback received, accepted or not. */
export async function insertCallback (db: Executor, record: CallbackRecord): Promise<void> {
  await insertCallbackRow(db, record)
}

const selectPaymentOrderNo = compiledOnce((db, p: { gyyxOrderNo: string }) =>
  db.selectFrom('payments').select('order_no').where('gyyx_order_no', '=', p.gyyxOrderNo))

export async function findPaymentOrderNo (db: Executor, gyyxOrderNo: string): Promise<string | undefined> {
  return (await selectPaymentOrderNo(db, { gyyxOrderNo })).rows[0]?.order_no
}

export interface PaymentRecord {
  gyyxOrderNo: string
  orderNo: string
  amountFen: number
  kind: 'applied' | 'late' | 'duplicate'
  result: string
  resultMessage: string
  serverFlag: string
  commonParam: string
  platformTimestamp: string
  traceId: string
  now: number
  /** The operator who applied it from reconciliation; null for a platform callback. */
  appliedBy: string | null
}

/** One row per platform order number (unique key): a concurrent twin fails here and reruns. */
export async function insertPayment (db: Executor, p: PaymentRecord): Promise<void> {
  await insertPaymentRow(db, p)
}

const paymentRow = (p: PaymentRecord) => ({
  gyyx_order_no: p.gyyxOrderNo,
  order_no: p.orderNo,
  amount_fen: p.amountFen,
  kind: p.kind,
  result: p.result,
  result_message: p.resultMessage,
  server_flag: p.serverFlag,
  common_param: p.commonParam,
  platform_timestamp: p.platformTimestamp,
  trace_id: p.traceId,
  created_at: p.now,
  applied_by: p.appliedBy,
})

const insertPaymentRow = compiledOnce((db, p: PaymentRecord) => db.insertInto('payments').values(paymentRow(p)))

/** What the `order.paid` event of a payment applied at once tells about the order. */
export type PaidFields = Pick<Order, 'orderNo' | 'userId' | 'item' | 'goodsId' | 'amountNum' | 'amountFen' | 'serverFlag'>

const paidColumns = ['order_no', 'user_id', 'item', 'goods_id', 'amount_num', 'amount_fen', 'server_flag'] as const

/**
 * A success callback's common case: pays the order while it is unpaid and not yet expired, for
 * its amount, under a platform order number no payment has, together with the payment, the status
 * event and the callback's log row; then `paid` gets the order, for its `order.paid` event. False
 * when any of that does not hold: nothing was written, and the general way (the callback's
 * transaction) decides the outcome. A concurrent twin fails the payments key.
 *
 * - 'statement' (PostgreSQL): one statement, the conditional UPDATE … RETURNING feeding the
 *   inserts through CTEs, so no BEGIN or COMMIT unless `paid` writes too.
 * - 'procedure' (MySQL, with no `paid`): one CALL of the procedure of migration 007, which runs
 *   its own transaction.
 * - 'transaction' (MySQL with `paid`): the same writes one by one in the caller's transaction, and
 *   the order read for `paid`, which writes in that transaction too.
 */
export type PayHow = 'statement' | 'procedure' | 'transaction'

export async function payUnpaidOrder (db: Executor, how: PayHow, p: PaymentRecord, log: CallbackRecord,
  paid?: (order: PaidFields) => Promise<void>): Promise<boolean> {
  const values = [p, log]
  if (how === 'statement') {
    const [row] = (await payAndRecord(db, values)).rows
    if (row && paid) await paid(toPaidFields(row))
    return row !== undefined
  }
  if (how === 'procedure') {
    // A CALL answers its result set, then the call's own status.
    const { rows } = await callPayOrder(db, values)
    return (rows[0] as unknown as Array<{ paid: number }>)[0]?.paid === 1
  }

  const result = await payOrder(db, values)
  if (Number(result.numAffectedRows) !== 1) return false
  await insertPayment(db, p)
  await appendEvent(db, p.orderNo, 'unpaid', 'paid', { actor: 'platform', reason: 'callback', traceId: p.traceId, now: p.now })
  await insertCallback(db, log)
  if (paid) await paid(await findOrder(db, p.orderNo, false) as Order)
  return true
}

type PaymentValues = PaymentRecord & CallbackRecord

const payUnpaid = (db: Executor, p: PaymentValues) => db.updateTable('orders')
  .set({ status: 'paid', paid_at: p.now, gyyx_order_no: p.gyyxOrderNo, paid_fen: p.amountFen, late_payment: 0, open_key: null, updated_at: p.now })
  .where('order_no', '=', p.orderNo)
  .where((eb) => onKeyedRow(eb.and([eb('status', '=', 'unpaid'), eb('expire_at', '>', p.now), eb('amount_fen', '=', p.amountFen)])))
  .where(({ not, exists, selectFrom, lit }) => not(exists(selectFrom('payments').select(lit(1).as('paid')).where('gyyx_order_no', '=', p.gyyxOrderNo))))

const payOrder = compiledOnce(payUnpaid)

// The payment's status event, at the payment's time and with its trace.
const paidEvent = (p: PaymentValues) =>
  ({ from_status: 'unpaid', to_status: 'paid', actor: 'platform', reason: 'callback', trace_id: p.traceId, created_at: p.now })

const payAndRecord = compiledOnce((db, p: PaymentValues) => {
  const payment = paymentRow(p)
  const event = paidEvent(p)
  const log = callbackRow(p)
  return db
    .with('u', () => payUnpaid(db, p).returning(paidColumns))
    .with('p', (qb) => qb.insertInto('payments').columns(['order_no', ...keys(payment)])
      .expression(qb.selectFrom('u').select(({ val }) => ['u.order_no', ...keys(payment).map((k) => val(payment[k]).as(k))])))
    .with('e', (qb) => qb.insertInto('order_events').columns(['order_no', ...keys(event)])
      .expression(qb.selectFrom('u').select(({ val }) => ['u.order_no', ...keys(event).map((k) => val(event[k]).as(k))])))
    .with('c', (qb) => qb.insertInto('callbacks').columns(keys(log))
      .expression(qb.selectFrom('u').select(({ val }) => keys(log).map((k) => val(log[k]).as(k)))))
    .selectFrom('u').select(paidColumns)
})

// A raw query compiles only against a database: compiledOnce is handed what compiles it.
const callPayOrder = compiledOnce((db, p: PaymentValues) => ({
  compile: () => sql<unknown>`call ${sql.raw(PAY_ORDER_PROCEDURE)}(
    ${p.orderNo}, ${p.gyyxOrderNo}, ${p.amountFen}, ${p.now}, ${p.result}, ${p.resultMessage}, ${p.serverFlag},
    ${p.commonParam}, ${p.platformTimestamp}, ${p.traceId}, ${p.source_ip}, ${p.game_order_no}, ${p.gyyx_order_no},
    ${p.params}, ${p.sign_type}, ${p.signature})`.compile(db),
}))

/** The columns of a row object (order_no aside: the CTEs take it from the paid row). */
const keys = <T extends object>(row: T) => Object.keys(row).filter((k) => k !== 'order_no') as Exclude<keyof T & string, 'order_no'>[]

const toPaidFields = (r: Pick<OrdersTable, typeof paidColumns[number]>): PaidFields => ({
  orderNo: r.order_no,
  userId: r.user_id,
  item: r.item,
  goodsId: toInt(r.goods_id),
  amountNum: toInt(r.amount_num),
  amountFen: toInt(r.amount_fen),
  serverFlag: r.server_flag,
})
