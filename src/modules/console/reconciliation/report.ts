import type { Store } from '../../../db/connect.ts'
import { paymentsBetween, paymentsByPlatformNumbers, type PaymentRow } from './reconciliation.repository.ts'
import type { StatementRow } from './statement.ts'

export interface Reconciliation {
  /** The platform took the money, gamepay has no payment: a lost callback. */
  missingInGamepay: StatementRow[]
  /** gamepay has a payment the statement does not list. */
  missingOnPlatform: PaymentRow[]
  /** The same platform order number with another amount. */
  amountDifferences: { statement: StatementRow, ours: PaymentRow }[]
  /** The same platform order number paying another game order (a row may also differ in amount). */
  orderDifferences: { statement: StatementRow, ours: PaymentRow }[]
  /** Rows equal on both sides: number, amount and game order. */
  matched: number
}

export interface ReconciliationReport extends Reconciliation {
  /** The window [from, to) of gamepay's payments compared; null for an empty statement without one. */
  window: { from: number, to: number } | null
}

/** Matches the statement against gamepay's payments by platform order number. */
export function reconcile (statement: readonly StatementRow[], ours: readonly PaymentRow[]): Reconciliation {
  const byNumber = new Map(ours.map((p) => [p.gyyxOrderNo, p]))
  const listed = new Set<string>()
  const result: Reconciliation = { missingInGamepay: [], missingOnPlatform: [], amountDifferences: [], orderDifferences: [], matched: 0 }
  for (const row of statement) {
    listed.add(row.gyyxOrderNo)
    const payment = byNumber.get(row.gyyxOrderNo)
    if (payment === undefined) {
      result.missingInGamepay.push(row)
      continue
    }
    const sameAmount = payment.amountFen === row.amountFen
    const sameOrder = payment.orderNo === row.orderNo
    if (!sameAmount) result.amountDifferences.push({ statement: row, ours: payment })
    if (!sameOrder) result.orderDifferences.push({ statement: row, ours: payment })
    if (sameAmount && sameOrder) result.matched++
  }
  result.missingOnPlatform = ours.filter((p) => !listed.has(p.gyyxOrderNo))
  return result
}

/**
 * The statement against gamepay's payments recorded in the window: from/to when given, else the
 * statement's own span, from its first payment to its last. No margin either side: a daily
 * statement is compared with that day alone, so the payments of the days around it are not
 * reported as missing on the platform. Statement rows outside the window (a callback that came
 * late) are still found by their numbers.
 */
export async function buildReport (store: Store, statement: readonly StatementRow[], opts: { from?: number, to?: number } = {}): Promise<ReconciliationReport> {
  let window: ReconciliationReport['window'] = null
  if (statement.length > 0) {
    let min = Infinity
    let max = -Infinity
    for (const row of statement) {
      if (row.paidAt < min) min = row.paidAt
      if (row.paidAt > max) max = row.paidAt
    }
    window = { from: opts.from ?? min, to: opts.to ?? max + 1 }
  } else if (opts.from !== undefined && opts.to !== undefined) {
    window = { from: opts.from, to: opts.to }
  }
  const inWindow = window === null ? [] : await paymentsBetween(store.db, window.from, window.to)
  const listed = await paymentsByPlatformNumbers(store.db, statement.map((row) => row.gyyxOrderNo))
  const ours = new Map<string, PaymentRow>()
  for (const p of [...inWindow, ...listed]) ours.set(p.gyyxOrderNo, p)
  return { window, ...reconcile(statement, [...ours.values()].sort((a, b) => a.createdAt - b.createdAt)) }
}
