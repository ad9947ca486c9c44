// What each ceiling route asks of the database: the one statement (or transaction) a request of
// that kind cannot do without. One implementation per driver, each as plain as the driver allows.

/** The columns of a new unpaid order, as gamepay's create-order stores them. */
export interface NewOrder {
  orderNo: string
  userId: string
  goodsId: number
  item: string
  priceFen: number
  amountNum: number
  amountFen: number
  serverFlag: string
  openKey: string
  createdAt: number
  expireAt: number
}

/** A success callback's payment, as gamepay's callback stores it. */
export interface Payment {
  orderNo: string
  gyyxOrderNo: string
  amountFen: number
  result: string
  resultMessage: string
  serverFlag: string
  commonParam: string
  platformTimestamp: string
  traceId: string
  now: number
}

/** The paid order a verification answers with, after its count went up. */
export interface PaidRow {
  order_no: string
  user_id: string
  goods_id: number | string
  item: string
  price_fen: number | string
  amount_num: number | string
  amount_fen: number | string
  gyyx_order_no: string | null
  paid_at: number | string | null
  verify_count: number | string
  first_verified_at: number | string | null
}

export interface CeilingStore {
  /** One INSERT. */
  insertOrder: (o: NewOrder) => Promise<void>
  /** BEGIN; UPDATE the unpaid order with this amount to paid; INSERT the payment; COMMIT. False: no such unpaid order. */
  pay: (p: Payment) => Promise<boolean>
  /** One UPDATE of the paid order's count (then its row where the UPDATE cannot return it). */
  verify: (orderNo: string, userId: string, item: string, now: number, traceId: string) => Promise<PaidRow | undefined>
  close: () => Promise<void>
}

export const INSERT_ORDER_COLUMNS = ['order_no', 'user_id', 'goods_id', 'item', 'price_fen', 'amount_num', 'amount_fen', 'server_flag',
  'status', 'open_key', 'created_at', 'expire_at', 'updated_at', 'late_payment', 'verify_count'] as const

/** The values of INSERT_ORDER_COLUMNS, in order. */
export const insertOrderValues = (o: NewOrder) => [o.orderNo, o.userId, o.goodsId, o.item, o.priceFen, o.amountNum, o.amountFen, o.serverFlag,
  'unpaid', o.openKey, o.createdAt, o.expireAt, o.createdAt, 0, 0]

export const PAYMENT_COLUMNS = ['gyyx_order_no', 'order_no', 'amount_fen', 'kind', 'result', 'result_message', 'server_flag', 'common_param',
  'platform_timestamp', 'trace_id', 'created_at'] as const

export const paymentValues = (p: Payment) => [p.gyyxOrderNo, p.orderNo, p.amountFen, 'applied', p.result, p.resultMessage, p.serverFlag,
  p.commonParam, p.platformTimestamp, p.traceId, p.now]

/** The UPDATE's SET and WHERE values: now, gyyx_order_no, paid_fen; order_no, amount_fen. */
export const payValues = (p: Payment) => [p.now, p.now, p.gyyxOrderNo, p.amountFen, p.orderNo, p.amountFen]

export const PAID_COLUMNS = 'order_no, user_id, goods_id, item, price_fen, amount_num, amount_fen, gyyx_order_no, paid_at, verify_count, first_verified_at'

/** `$1, $2, …` (PostgreSQL) or `?, ?, …`. */
export const placeholders = (n: number, numbered: boolean) =>
  Array.from({ length: n }, (_, i) => numbered ? `$${i + 1}` : '?').join(', ')

/** SQL with `?` placeholders turned into PostgreSQL's `$n`. */
export function numbered (text: string): string {
  let n = 0
  return text.replace(/\?/g, () => `$${++n}`)
}

export const INSERT_ORDER_SQL = `insert into orders (${INSERT_ORDER_COLUMNS.join(', ')}) values (${placeholders(INSERT_ORDER_COLUMNS.length, false)})`
// The amount is checked by the statement itself: an order of another amount is not paid.
export const PAY_SQL = "update orders set status = 'paid', open_key = null, updated_at = ?, paid_at = ?, gyyx_order_no = ?, paid_fen = ?, late_payment = 0 " +
  "where order_no = ? and status = 'unpaid' and amount_fen = ?"
export const INSERT_PAYMENT_SQL = `insert into payments (${PAYMENT_COLUMNS.join(', ')}) values (${placeholders(PAYMENT_COLUMNS.length, false)})`
export const VERIFY_SQL = 'update orders set verify_count = verify_count + 1, first_verified_at = coalesce(first_verified_at, ?), ' +
  "first_verify_trace_id = coalesce(first_verify_trace_id, ?) where order_no = ? and user_id = ? and item = ? and status = 'paid'"
