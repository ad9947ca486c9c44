// The wire shapes of the five routes, field names (and the API's typos) exactly as they travel.

/** A failure state; new states may appear, so any string is possible. */
export type State =
  | 'INVALID_PARAMS' | 'GOODS_NOT_FOUND' | 'GOODS_UNAVAILABLE' | 'ITEM_MISMATCH' | 'PRICE_MISMATCH'
  | 'ORDER_NOT_FOUND' | 'ORDER_ALREADY_PAID' | 'ORDER_NOT_PAID' | 'SIGN_INVALID' | 'SIGN_TYPE_UNSUPPORTED'
  | 'AMOUNT_MISMATCH' | 'CALLBACK_FORBIDDEN' | 'UNAUTHORIZED' | 'RATE_LIMITED' | 'NOT_FOUND'
  | 'METHOD_NOT_ALLOWED' | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'SERVICE_UNAVAILABLE' | 'INTERNAL_ERROR'
  | (string & {})

/** Every answer of the five routes, success or failure. */
export interface Envelope<T = unknown> {
  result: 'success' | 'fail'
  state: State | ''
  trace_id: string
  message?: string
  data?: T
}

export interface Goods {
  id: number
  item: string
  /** The current unit price in yuan. */
  single_pric: number
  on_sale: boolean
}

export interface CreateOrderInput {
  user_id: string
  /** The goods' name; must match the goods when item_id is given. */
  item: string
  /** The goods id, a positive integer (as a string or a number). */
  item_id?: string | number
  /** The goods' current unit price in yuan, to the fen. */
  single_pric: number
  /** Quantity, 1-999 (default 1). */
  amount_num?: number
  server_flag?: string
  description?: string
  game_role_id?: string
  game_role_name?: string
  game_role_grade?: string
}

export interface CreatedOrder {
  order: string
  user_id: string
  item: string
  item_id: number
  single_pric: number
  amount_num: number
  /** The order amount in yuan: single_pric × amount_num. */
  rmb_yuan: number
  status: 'unpaid'
  created_at: string
  expire_at: string
  /** True when the user's open unpaid order for the same goods, price, quantity and server_flag came back. */
  reused: boolean
}

export interface CancelOrderInput {
  user_id: string
  order: string
}

export interface CancelledOrder {
  order: string
  /** "expired" for an order whose time ran out before it was cancelled. */
  status: 'cancelled' | 'expired'
}

export interface VerifyInput {
  user_id: string
  item: string
  item_id?: string | number
  /** Without it, the user's most recently paid order for the goods is found. */
  order?: string
}

export interface PaidOrder {
  order: string
  user_id: string
  item: string
  item_id: number
  single_pric: number
  amount_num: number
  rmb_yuan: number
  status: 'paid'
  /** The payment platform's order number. */
  gyyx_order_no: string
  paid_at: string
  /** paid_at as "YYYY-MM-DD HH:mm:ss" in Asia/Shanghai. */
  purchase_time: string
  /** Successful verifications of this order, this one included. */
  verify_count: number
  first_verified_at: string | null
}

/** A payment platform's callback: the named parameters, any extra ones, and the signature. */
export interface CallbackParams {
  game_order_no: string
  gyyx_order_no: string
  result: string
  rmb_yuan: number | string
  result_message?: string
  server_flag?: string
  common_param?: string
  timestamp?: string | number
  sign?: string
  signType?: string
  [name: string]: string | number | boolean | null | undefined
}

/** The data of an order.paid notification. */
export interface OrderPaid {
  order: string
  user_id: string
  item: string
  item_id: number
  amount_num: number
  rmb_yuan: number
  gyyx_order_no: string
  status: 'paid'
  paid_at: string
  server_flag: string
  /** Paid after the order was cancelled or had expired: the order is paid all the same. */
  late_payment: boolean
  [field: string]: unknown
}

interface EventBase {
  /** Unique, and the same on every retry of the event: receivers deduplicate by it (delivery is at least once). */
  event_id: string
  created_at: string
}

/** An order became paid: deliver the goods (once per order; late_payment says it came after cancel or expiry). */
export interface OrderPaidEvent extends EventBase {
  type: 'order.paid'
  data: OrderPaid
}

/** Sent by `gamepay notify test` to check an endpoint: answer 2xx, deliver nothing. */
export interface TestEvent extends EventBase {
  type: 'test'
  data: { message: string }
}

/** What gamepay POSTs to NOTIFY_URL; switch on `type`, and answer 2xx to types you do not know. */
export type GamepayEvent = OrderPaidEvent | TestEvent
