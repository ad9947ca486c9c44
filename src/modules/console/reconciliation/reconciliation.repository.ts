import type { Executor } from '../../../db/database.ts'
import { toInt, toIntOrNull } from '../../../db/values.ts'

export interface PaymentRow {
  gyyxOrderNo: string
  orderNo: string
  amountFen: number
  createdAt: number
  /** applied | late | duplicate (recorded, not applied: money to refund). */
  kind: string
  /** The operator who applied it from reconciliation; null for a platform callback. */
  appliedBy: string | null
}

export interface PaidOrderRow {
  orderNo: string
  userId: string
  item: string
  amountFen: number
  paidFen: number | null
  gyyxOrderNo: string | null
  serverFlag: string
  paidAt: number
  latePayment: boolean
}

const paymentColumns = ['gyyx_order_no', 'order_no', 'amount_fen', 'created_at', 'kind', 'applied_by'] as const

const toPayment = (r: { gyyx_order_no: string, order_no: string, amount_fen: number | bigint | string, created_at: number | bigint | string, kind: string, applied_by: string | null }): PaymentRow => ({
  gyyxOrderNo: r.gyyx_order_no,
  orderNo: r.order_no,
  amountFen: toInt(r.amount_fen),
  createdAt: toInt(r.created_at),
  kind: r.kind,
  appliedBy: r.applied_by,
})

/** The payments that reached an order (applied, or late to a cancelled or expired one) recorded in [from, to). */
export async function paymentsBetween (db: Executor, from: number, to: number): Promise<PaymentRow[]> {
  const rows = await db.selectFrom('payments').select(paymentColumns)
    .where('kind', 'in', ['applied', 'late'])
    .where('created_at', '>=', from).where('created_at', '<', to)
    .orderBy('created_at').orderBy('id')
    .execute()
  return rows.map(toPayment)
}

// Long IN lists slow every database down, and SQLite caps the number of bound parameters.
const IN_LIST_SIZE = 500

/**
 * The payments with these platform order numbers, whenever recorded and of any kind: a statement
 * row outside the window still finds its payment, and a duplicate (recorded to be refunded) is
 * not mistaken for a lost one.
 */
export async function paymentsByPlatformNumbers (db: Executor, numbers: readonly string[]): Promise<PaymentRow[]> {
  const unique = [...new Set(numbers)]
  const found: PaymentRow[] = []
  for (let i = 0; i < unique.length; i += IN_LIST_SIZE) {
    const rows = await db.selectFrom('payments').select(paymentColumns)
      .where('gyyx_order_no', 'in', unique.slice(i, i + IN_LIST_SIZE))
      .execute()
    found.push(...rows.map(toPayment))
  }
  return found
}

/**
 * The orders paid in [from, to) by paid_at, then order_no, one page at a time: the keyset
 * (paid_at, order_no) picks up after the last row, so a large export is never held whole.
 */
export async function * paidOrdersBetween (db: Executor, from: number, to: number, opts: { pageSize?: number } = {}): AsyncGenerator<PaidOrderRow[]> {
  const pageSize = opts.pageSize ?? 1000
  let after: { paidAt: number, orderNo: string } | null = null
  for (;;) {
    let query = db.selectFrom('orders')
      .select(['order_no', 'user_id', 'item', 'amount_fen', 'paid_fen', 'gyyx_order_no', 'server_flag', 'paid_at', 'late_payment'])
      .where('paid_at', '>=', from).where('paid_at', '<', to)
    if (after !== null) {
      const { paidAt, orderNo } = after
      // Spelled out rather than a row-value comparison: the same plain SQL on every database.
      query = query.where((eb) => eb.or([
        eb('paid_at', '>', paidAt),
        eb.and([eb('paid_at', '=', paidAt), eb('order_no', '>', orderNo)]),
      ]))
    }
    const rows = await query.orderBy('paid_at').orderBy('order_no').limit(pageSize).execute()
    if (rows.length === 0) return
    const page = rows.map((r): PaidOrderRow => ({
      orderNo: r.order_no,
      userId: r.user_id,
      item: r.item,
      amountFen: toInt(r.amount_fen),
      paidFen: toIntOrNull(r.paid_fen),
      gyyxOrderNo: r.gyyx_order_no,
      serverFlag: r.server_flag,
      paidAt: toInt(r.paid_at as number | bigint | string),
      latePayment: toInt(r.late_payment) === 1,
    }))
    yield page
    if (rows.length < pageSize) return
    const last = page[page.length - 1]
    after = { paidAt: last.paidAt, orderNo: last.orderNo }
  }
}
