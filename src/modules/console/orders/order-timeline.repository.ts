import type { Executor, OrdersTable } from '../../../db/database.ts'
import { toInt, toIntOrNull } from '../../../db/values.ts'
import type { EventStatus } from '../../notifications/outbox.repository.ts'
import { toOrder, type Order } from '../../orders/orders.repository.ts'

/** Every column of the order, as typed values. */
export interface OrderRecord extends Order {
  description: string | null
  gameRoleId: string | null
  gameRoleName: string | null
  gameRoleGrade: string | null
  openKey: string | null
  updatedAt: number
  firstVerifyTraceId: string | null
}

interface Entry { at: number, traceId: string | null }

export interface CreatedEntry extends Entry { kind: 'created', status: string, actor: string, reason: string }
export interface StatusEntry extends Entry { kind: 'status', from: string, to: string, actor: string, reason: string }
export interface CallbackEntry extends Entry {
  kind: 'callback'
  callbackId: number
  sourceIp: string
  signType: string | null
  /** valid | invalid | missing | not_checked */
  signature: string
  outcome: string
  anomaly: boolean
  gyyxOrderNo: string | null
  /** The parameters as received (cut to 2 KiB when the signature was not verified). */
  params: string
}
export interface Refund { refundNo: string, amountFen: number, refundedAt: number, recordedBy: string }
export interface PaymentEntry extends Entry {
  kind: 'payment'
  paymentId: number
  paymentKind: 'applied' | 'late' | 'duplicate'
  amountFen: number
  gyyxOrderNo: string
  /** The operator who applied it by hand; null for a platform callback. */
  appliedBy: string | null
  refund: Refund | null
}
export interface RefundEntry extends Entry, Refund { kind: 'refund', paymentId: number, recordedAt: number }
export interface VerificationEntry extends Entry { kind: 'verification', verifyCount: number }
export interface NotificationAttemptSummary {
  attempt: number
  trigger: string
  url: string
  startedAt: number
  httpStatus: number | null
  error: string | null
  latencyMs: number | null
}
export interface NotificationEntry extends Entry {
  kind: 'notification'
  eventId: string
  type: string
  status: EventStatus
  attempts: number
  deliveredAt: number | null
  failedAt: number | null
  attemptLog: NotificationAttemptSummary[]
}
export interface ResolutionEntry extends Entry {
  kind: 'resolution'
  /** What was resolved: 'callback' or 'payment', and its id. */
  resolved: 'callback' | 'payment'
  ref: string
  note: string
  resolvedBy: string
}
export interface AuditEntry extends Entry {
  kind: 'audit'
  operator: string
  action: string
  sourceIp: string
  /** The stored JSON, parsed (the text itself when it is not JSON). */
  before: unknown
  after: unknown
}

export type TimelineEntry = CreatedEntry | StatusEntry | CallbackEntry | PaymentEntry | RefundEntry | VerificationEntry
  | NotificationEntry | ResolutionEntry | AuditEntry

export interface OrderTimeline {
  order: OrderRecord
  /** Oldest first. */
  entries: TimelineEntry[]
}

// Within one millisecond, the order things happen in: a paying callback is logged, the order
// changes status, the payment and its notification are written, all in one transaction.
const RANK: Record<TimelineEntry['kind'], number> = {
  created: 0, callback: 1, status: 2, payment: 3, notification: 4, verification: 5, refund: 6, resolution: 7, audit: 8,
}

// As stored: an unpaid order past expireAt stays 'unpaid' until the sweep expires it.
const toOrderRecord = (r: OrdersTable): OrderRecord => ({
  ...toOrder(r),
  description: r.description,
  gameRoleId: r.game_role_id,
  gameRoleName: r.game_role_name,
  gameRoleGrade: r.game_role_grade,
  openKey: r.open_key,
  updatedAt: toInt(r.updated_at),
  firstVerifyTraceId: r.first_verify_trace_id,
})

function parseJson (text: string | null): unknown {
  if (text === null) return null
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/**
 * Everything that happened to one order, oldest first; undefined when there is no such order.
 * Only reads, each table through its order-number index: looking does not count as a verification.
 */
export async function orderTimeline (db: Executor, orderNo: string): Promise<OrderTimeline | undefined> {
  const row = await db.selectFrom('orders').selectAll().where('order_no', '=', orderNo).executeTakeFirst()
  if (!row) return undefined
  const order = toOrderRecord(row)

  const [events, callbacks, payments, refunds, notifications, audit] = await Promise.all([
    db.selectFrom('order_events').selectAll().where('order_no', '=', orderNo).orderBy('id').execute(),
    db.selectFrom('callbacks').selectAll().where('game_order_no', '=', orderNo).orderBy('id').execute(),
    db.selectFrom('payments').selectAll().where('order_no', '=', orderNo).orderBy('id').execute(),
    db.selectFrom('refunds').selectAll().where('order_no', '=', orderNo).orderBy('id').execute(),
    db.selectFrom('notification_events').selectAll().where('order_no', '=', orderNo).orderBy('id').execute(),
    db.selectFrom('audit_log').selectAll().where('target', '=', orderNo).orderBy('id').execute(),
  ])
  // Resolutions name an anomaly by kind and id: this order's callbacks and payments.
  const refs = [
    { kind: 'callback', ids: callbacks.map((c) => String(c.id)) },
    { kind: 'payment', ids: payments.map((p) => String(p.id)) },
  ].filter((r) => r.ids.length > 0)
  const [attempts, resolutions] = await Promise.all([
    notifications.length === 0
      ? []
      : db.selectFrom('notification_attempts').selectAll()
        .where('event_id', 'in', notifications.map((n) => n.event_id)).orderBy('attempt').orderBy('id').execute(),
    refs.length === 0
      ? []
      : db.selectFrom('anomaly_resolutions').selectAll()
        .where((eb) => eb.or(refs.map((r) => eb.and([eb('kind', '=', r.kind), eb('ref', 'in', r.ids)])))).orderBy('id').execute(),
  ])

  const entries: (TimelineEntry & { seq: number })[] = []
  const add = (e: TimelineEntry, seq: number | bigint | string) => entries.push({ ...e, seq: toInt(seq) })

  for (const e of events) {
    const base = { at: toInt(e.created_at), traceId: e.trace_id, actor: e.actor, reason: e.reason }
    if (e.from_status === null) add({ ...base, kind: 'created', status: e.to_status }, e.id)
    else add({ ...base, kind: 'status', from: e.from_status, to: e.to_status }, e.id)
  }
  for (const c of callbacks) {
    add({
      kind: 'callback',
      at: toInt(c.received_at),
      traceId: c.trace_id,
      callbackId: toInt(c.id),
      sourceIp: c.source_ip,
      signType: c.sign_type,
      signature: c.signature,
      outcome: c.outcome,
      anomaly: toInt(c.anomaly) === 1,
      gyyxOrderNo: c.gyyx_order_no,
      params: c.params,
    }, c.id)
  }
  const refundOf = new Map(refunds.map((r) => [toInt(r.payment_id), r]))
  for (const p of payments) {
    const r = refundOf.get(toInt(p.id))
    add({
      kind: 'payment',
      at: toInt(p.created_at),
      traceId: p.trace_id,
      paymentId: toInt(p.id),
      paymentKind: p.kind as PaymentEntry['paymentKind'],
      amountFen: toInt(p.amount_fen),
      gyyxOrderNo: p.gyyx_order_no,
      appliedBy: p.applied_by,
      refund: r ? { refundNo: r.refund_no, amountFen: toInt(r.amount_fen), refundedAt: toInt(r.refunded_at), recordedBy: r.recorded_by } : null,
    }, p.id)
  }
  for (const r of refunds) {
    add({
      kind: 'refund',
      at: toInt(r.refunded_at),
      traceId: r.trace_id,
      paymentId: toInt(r.payment_id),
      refundNo: r.refund_no,
      amountFen: toInt(r.amount_fen),
      refundedAt: toInt(r.refunded_at),
      recordedBy: r.recorded_by,
      recordedAt: toInt(r.recorded_at),
    }, r.id)
  }
  if (order.firstVerifiedAt !== null) {
    add({ kind: 'verification', at: order.firstVerifiedAt, traceId: order.firstVerifyTraceId, verifyCount: order.verifyCount }, 0)
  }
  for (const n of notifications) {
    add({
      kind: 'notification',
      at: toInt(n.created_at),
      traceId: n.event_id,
      eventId: n.event_id,
      type: n.type,
      status: n.status,
      attempts: toInt(n.attempts),
      deliveredAt: toIntOrNull(n.delivered_at),
      failedAt: toIntOrNull(n.failed_at),
      attemptLog: attempts.filter((a) => a.event_id === n.event_id).map((a) => ({
        attempt: toInt(a.attempt),
        trigger: a.trigger,
        url: a.url,
        startedAt: toInt(a.started_at),
        httpStatus: toIntOrNull(a.http_status),
        error: a.error,
        latencyMs: toIntOrNull(a.latency_ms),
      })),
    }, n.id)
  }
  for (const r of resolutions) {
    add({
      kind: 'resolution',
      at: toInt(r.resolved_at),
      traceId: null,
      resolved: r.kind as ResolutionEntry['resolved'],
      ref: r.ref,
      note: r.note,
      resolvedBy: r.resolved_by,
    }, r.id)
  }
  for (const a of audit) {
    add({
      kind: 'audit',
      at: toInt(a.at),
      traceId: a.trace_id,
      operator: a.operator,
      action: a.action,
      sourceIp: a.source_ip,
      before: parseJson(a.before_value),
      after: parseJson(a.after_value),
    }, a.id)
  }

  entries.sort((a, b) => a.at - b.at || RANK[a.kind] - RANK[b.kind] || a.seq - b.seq)
  return { order, entries: entries.map(({ seq, ...e }) => e as TimelineEntry) }
}

export interface OrderAtAGlance {
  paid: boolean
  paidAt: number | null
  /** The game server's notice of the payment: delivered, still being tried, given up, or never made. */
  notified: 'delivered' | 'pending' | 'failed' | 'none'
  verified: boolean
  verifyCount: number
  firstVerifiedAt: number | null
}

/** The few facts an operator looks for first, from a timeline already read. */
export function orderAtAGlance (timeline: OrderTimeline): OrderAtAGlance {
  const { order } = timeline
  const notices = timeline.entries.filter((e): e is NotificationEntry => e.kind === 'notification')
  const notified = notices.some((n) => n.status === 'delivered')
    ? 'delivered'
    : notices.some((n) => n.status === 'pending') ? 'pending' : notices.length > 0 ? 'failed' : 'none'
  return {
    paid: order.status === 'paid',
    paidAt: order.paidAt,
    notified,
    verified: order.verifyCount > 0,
    verifyCount: order.verifyCount,
    firstVerifiedAt: order.firstVerifiedAt,
  }
}
