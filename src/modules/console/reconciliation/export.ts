import { stringify } from 'csv-stringify/sync'
import type { Store } from '../../../db/connect.ts'
import { shanghaiTime } from '../../orders/order-view.ts'
import { yuanText } from '../display.ts'
import { paidOrdersBetween, type PaidOrderRow } from './reconciliation.repository.ts'

export const EXPORT_COLUMNS = ['order_no', 'user_id', 'item', 'amount_yuan', 'paid_yuan', 'gyyx_order_no', 'server_flag', 'paid_at', 'late_payment']

const CSV_OPTIONS = {
  record_delimiter: 'windows',
  // user_id and item come from the game client: a cell starting with = + - @ would run as a formula in Excel.
  escape_formulas: true,
} as const

const cells = (o: PaidOrderRow): string[] => [
  o.orderNo,
  o.userId,
  o.item,
  yuanText(o.amountFen),
  o.paidFen === null ? '' : yuanText(o.paidFen),
  o.gyyxOrderNo ?? '',
  o.serverFlag,
  shanghaiTime(o.paidAt),
  o.latePayment ? 'true' : 'false',
]

/**
 * The orders paid in [from, to) as CSV, one chunk per page of orders, ordered by paid_at: UTF-8
 * with a byte order mark (without it Excel reads Chinese as the system's ANSI code page), a
 * header row, amounts in yuan and times as YYYY-MM-DD HH:mm:ss in Asia/Shanghai.
 */
export async function * exportPaidOrdersCsv (store: Store, from: number, to: number, opts: { pageSize?: number } = {}): AsyncGenerator<string> {
  yield '\uFEFF' + stringify([EXPORT_COLUMNS], CSV_OPTIONS)
  for await (const page of paidOrdersBetween(store.db, from, to, opts)) {
    yield stringify(page.map(cells), CSV_OPTIONS)
  }
}
