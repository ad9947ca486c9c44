import type { Executor } from '../../../db/database.ts'

export interface SandboxAnswer {
  action: string
  gyyxOrderNo: string
  result: string
  state: string
  message: string
}

/** What the callback sent by one sandbox request answered, as its audit entry recorded it. */
export async function findSandboxAnswer (db: Executor, orderNo: string, traceId: string): Promise<SandboxAnswer | undefined> {
  const row = await db.selectFrom('audit_log').select(['action', 'after_value'])
    .where('target', '=', orderNo)
    .where('trace_id', '=', traceId)
    .where('action', 'in', ['sandbox.pay', 'sandbox.fail'])
    .orderBy('id', 'desc')
    .executeTakeFirst()
  if (!row?.after_value) return undefined
  const after = JSON.parse(row.after_value) as Record<string, unknown>
  const text = (v: unknown) => typeof v === 'string' ? v : ''
  return { action: row.action, gyyxOrderNo: text(after.gyyx_order_no), result: text(after.result), state: text(after.state), message: text(after.message) }
}
