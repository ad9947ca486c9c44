import { effectiveStatus, type OrderStatus } from './order-state.ts'

// The callback effects table (README: what a callback does), after the signature holds: rows top to bottom, first match wins.
export type CallbackOutcome =
  | 'order_not_found' // recorded; ORDER_NOT_FOUND
  | 'gyyx_conflict' // platform order already paid another of our orders: anomaly, nothing changes
  | 'amount_mismatch' // anomaly; AMOUNT_MISMATCH
  | 'payment_failed' // a failed payment attempt, order unchanged
  | 'paid' // unpaid → paid
  | 'already_applied' // the same platform order again: nothing new
  | 'duplicate_payment' // paid twice under different platform orders: money to refund
  | 'late_paid' // cancelled/expired → paid: the user's money is never lost

export interface CallbackFacts {
  order: { orderNo: string, status: OrderStatus, expireAt: number, amountFen: number } | undefined
  /** The order an earlier payment with the same platform order number went to. */
  paymentOrderNo: string | undefined
  amountFen: number
  success: boolean
  now: number
}

export function decideCallback (f: CallbackFacts): CallbackOutcome {
  if (!f.order) return 'order_not_found'
  if (f.paymentOrderNo !== undefined && f.paymentOrderNo !== f.order.orderNo) return 'gyyx_conflict'
  if (f.amountFen !== f.order.amountFen) return 'amount_mismatch'
  if (!f.success) return 'payment_failed'
  if (f.paymentOrderNo !== undefined) return 'already_applied'
  const status = effectiveStatus(f.order.status, f.order.expireAt, f.now)
  if (status === 'unpaid') return 'paid'
  if (status === 'paid') return 'duplicate_payment'
  return 'late_paid'
}

export const ANOMALIES: ReadonlySet<CallbackOutcome> = new Set(['gyyx_conflict', 'amount_mismatch', 'duplicate_payment', 'late_paid'])
