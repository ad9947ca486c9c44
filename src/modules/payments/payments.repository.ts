import type { CallbacksTable, Executor } from '../../db/database.ts'

export type CallbackRecord = Omit<CallbacksTable, 'id'>

/** The append-only log of every callback received, accepted or not. */
export async function insertCallback (db: Executor, record: CallbackRecord): Promise<void> {
  await db.insertInto('callbacks').values(record).execute()
}

export async function findPaymentOrderNo (db: Executor, gyyxOrderNo: string): Promise<string | undefined> {
  const row = await db.selectFrom('payments').select('order_no').where('gyyx_order_no', '=', gyyxOrderNo).executeTakeFirst()
  return row?.order_no
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
  await db.insertInto('payments').values({
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
  }).execute()
}
