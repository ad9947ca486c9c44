import type { Generated, Kysely, Transaction } from 'kysely'

// Integers come back from the drivers as bigint (better-sqlite3 safe integers) or decimal
// strings (pg int8, mysql2 bigNumberStrings), never as a lossy JS number; see ./values.ts.
type DbInt = number | bigint | string
type Time = DbInt // epoch milliseconds, UTC

export interface GoodsTable {
  id: DbInt
  item: string
  price_fen: DbInt
  on_sale: DbInt
  created_at: Time
  updated_at: Time
}

export interface OrdersTable {
  order_no: string
  user_id: string
  goods_id: DbInt
  item: string
  price_fen: DbInt
  amount_num: DbInt
  amount_fen: DbInt
  server_flag: string
  description: string | null
  game_role_id: string | null
  game_role_name: string | null
  game_role_grade: string | null
  status: string
  // Set only while the order is unpaid: the unique key that makes "reuse the open order" race-free.
  open_key: string | null
  created_at: Time
  expire_at: Time
  updated_at: Time
  paid_at: Time | null
  gyyx_order_no: string | null
  paid_fen: DbInt | null
  late_payment: DbInt
  verify_count: DbInt
  first_verified_at: Time | null
  first_verify_trace_id: string | null
}

export interface OrderEventsTable {
  id: Generated<DbInt>
  order_no: string
  from_status: string | null
  to_status: string
  actor: string
  reason: string
  trace_id: string | null
  created_at: Time
}

export interface PaymentsTable {
  id: Generated<DbInt>
  gyyx_order_no: string
  order_no: string
  amount_fen: DbInt
  // applied | late (applied to a cancelled/expired order) | duplicate (not applied: refund it)
  kind: string
  result: string
  result_message: string
  server_flag: string
  common_param: string
  platform_timestamp: string
  trace_id: string
  created_at: Time
  /** The operator who applied it from reconciliation; null for a platform callback. */
  applied_by: string | null
}

export interface CallbacksTable {
  id: Generated<DbInt>
  received_at: Time
  source_ip: string
  trace_id: string
  game_order_no: string | null
  gyyx_order_no: string | null
  params: string
  sign_type: string | null
  signature: string
  outcome: string
  anomaly: DbInt
}

export interface IdempotencyKeysTable {
  user_id: string
  idem_key: string
  order_no: string
  response: string
  created_at: Time
}

export interface WorkerLeasesTable {
  worker_id: DbInt
  owner: string
  expires_at: Time
  heartbeat_at: Time
}

export interface NotificationEventsTable {
  id: Generated<DbInt>
  event_id: string
  order_no: string
  type: string
  server_flag: string
  // The exact JSON body sent, built once so every attempt sends the same bytes.
  payload: string
  status: 'pending' | 'delivered' | 'failed'
  attempts: DbInt
  next_attempt_at: Time
  lease_owner: string | null
  lease_until: Time
  created_at: Time
  delivered_at: Time | null
  failed_at: Time | null
}

export interface NotificationAttemptsTable {
  id: Generated<DbInt>
  event_id: string
  attempt: DbInt
  trigger: 'schedule' | 'resend'
  url: string
  started_at: Time
  latency_ms: DbInt | null
  http_status: DbInt | null
  error: string | null
  // The first 512 bytes of the answer's body.
  response_head: string
}

export interface OperatorsTable {
  id: Generated<DbInt>
  name: string
  role: 'admin' | 'viewer'
  password_hash: string
  failed_sign_ins: DbInt
  locked_until: Time
  created_at: Time
  updated_at: Time
  disabled_at: Time | null
}

export interface OperatorSessionsTable {
  /** SHA-256 (hex) of the cookie's value. */
  id: string
  operator_id: DbInt
  csrf_token: string
  source_ip: string
  created_at: Time
  expires_at: Time
}

export interface OperatorTokensTable {
  id: Generated<DbInt>
  operator_id: DbInt
  label: string
  /** SHA-256 (hex) of the token. */
  token_hash: string
  created_at: Time
  last_used_at: Time | null
  revoked_at: Time | null
}

export interface AuditLogTable {
  id: Generated<DbInt>
  at: Time
  operator: string
  action: string
  target: string
  source_ip: string
  trace_id: string
  /** JSON of the values before and after the action (null when there were none). */
  before_value: string | null
  after_value: string | null
}

export interface AnomalyResolutionsTable {
  id: Generated<DbInt>
  kind: string
  ref: string
  note: string
  resolved_by: string
  resolved_at: Time
}

export interface RefundsTable {
  id: Generated<DbInt>
  payment_id: DbInt
  order_no: string
  refund_no: string
  amount_fen: DbInt
  refunded_at: Time
  recorded_by: string
  recorded_at: Time
  trace_id: string
}

export interface GoodsPriceHistoryTable {
  id: Generated<DbInt>
  goods_id: DbInt
  old_price_fen: DbInt | null
  new_price_fen: DbInt
  changed_by: string
  changed_at: Time
  trace_id: string | null
}

export interface DB {
  goods: GoodsTable
  orders: OrdersTable
  order_events: OrderEventsTable
  payments: PaymentsTable
  callbacks: CallbacksTable
  idempotency_keys: IdempotencyKeysTable
  worker_leases: WorkerLeasesTable
  notification_events: NotificationEventsTable
  notification_attempts: NotificationAttemptsTable
  operators: OperatorsTable
  operator_sessions: OperatorSessionsTable
  operator_tokens: OperatorTokensTable
  audit_log: AuditLogTable
  anomaly_resolutions: AnomalyResolutionsTable
  refunds: RefundsTable
  goods_price_history: GoodsPriceHistoryTable
}

export type Db = Kysely<DB>
export type Executor = Kysely<DB> | Transaction<DB>
