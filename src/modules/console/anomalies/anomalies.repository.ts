import { sql, type RawBuilder } from 'kysely'
import type { Executor } from '../../../db/database.ts'
import { toInt, toIntOrNull } from '../../../db/values.ts'
import { parseYuan } from '../../../domain/money.ts'

/** What needs a person; each kind names its items by `ref` in anomaly_resolutions. */
export const ANOMALY_KINDS = [
  'amount_mismatch', // ref: callback id
  'duplicate_payment', // ref: payment id
  'late_payment', // ref: payment id
  'gyyx_conflict', // ref: callback id
  'notification_failed', // ref: event_id
  'signature_burst', // ref: `<ip>@<hour start ISO>`
] as const
export type AnomalyKind = typeof ANOMALY_KINDS[number]

/** Which items to list: those not yet resolved, only the resolved ones, or both. */
export type Show = 'unresolved' | 'resolved' | 'all'

export interface Resolution {
  note: string
  by: string
  at: number
}

export interface Refund {
  refundNo: string
  amountFen: number
  refundedAt: number
}

export interface AnomalyItem {
  kind: AnomalyKind
  ref: string
  at: number
  orderNo: string | null
  gyyxOrderNo: string | null
  /** What arrived or was paid: the callback's or payment's amount. */
  amountFen: number | null
  orderAmountFen: number | null
  sourceIp: string | null
  traceId: string | null
  /** Duplicate and late payments only. */
  paymentId: number | null
  refund: Refund | null
  /** Bad signatures in the hour, or attempts made at a notification. */
  count: number | null
  resolution: Resolution | null
}

const HOUR_MS = 3_600_000
/** A burst: at least this many bad signatures from one address within one clock hour. */
export const BURST_MIN = 10
export const BURST_DAYS = 7
// Groups read before the resolved ones are set aside: 7 days of hours from a few dozen addresses.
const BURST_SCAN = 5000

const PAYMENT_KIND = { duplicate_payment: 'duplicate', late_payment: 'late' } as const
const CALLBACK_OUTCOME = { amount_mismatch: 'amount_mismatch', gyyx_conflict: 'gyyx_conflict' } as const

/** The kind of anomaly a payment of this kind is, if any. */
export const paymentAnomalyKind = (kind: string): AnomalyKind | null =>
  kind === 'duplicate' ? 'duplicate_payment' : kind === 'late' ? 'late_payment' : null

// The ref of an id-named item, as the anomaly_resolutions.ref it is stored under (concat() is in all three databases).
const idText = (column: string): RawBuilder<string> => sql<string>`concat(${sql.ref(column)})`

type Resolved = { note: string | null, resolved_by: string | null, resolved_at: number | bigint | string | null }
const resolutionOf = (r: Resolved): Resolution | null =>
  r.note === null || r.resolved_by === null || r.resolved_at === null ? null : { note: r.note, by: r.resolved_by, at: toInt(r.resolved_at) }

/** The amount a logged callback claimed, from its stored parameters. */
function claimedFen (params: string): number | null {
  try {
    return parseYuan((JSON.parse(params) as Record<string, unknown>).rmb_yuan, { allowString: true })
  } catch {
    return null
  }
}

/** Amount mismatches and platform numbers reused for another order, newest first (through callbacks_anomaly). */
async function callbackAnomalies (db: Executor, kind: 'amount_mismatch' | 'gyyx_conflict', show: Show, limit: number): Promise<AnomalyItem[]> {
  let q = db.selectFrom('callbacks as c')
    .leftJoin('orders as o', 'o.order_no', 'c.game_order_no')
    .leftJoin('anomaly_resolutions as r', (join) => join.on('r.kind', '=', kind).on('r.ref', '=', idText('c.id')))
    .select(['c.id', 'c.received_at', 'c.game_order_no', 'c.gyyx_order_no', 'c.params', 'c.source_ip', 'c.trace_id',
      'o.amount_fen as order_amount_fen', 'r.note', 'r.resolved_by', 'r.resolved_at'])
    .where('c.anomaly', '=', 1)
    .where('c.outcome', '=', CALLBACK_OUTCOME[kind])
  if (show !== 'all') q = q.where('r.id', show === 'resolved' ? 'is not' : 'is', null)
  const rows = await q.orderBy('c.id', 'desc').limit(limit).execute()
  return rows.map((r) => ({
    kind,
    ref: String(r.id),
    at: toInt(r.received_at),
    orderNo: r.game_order_no,
    gyyxOrderNo: r.gyyx_order_no,
    amountFen: claimedFen(r.params),
    orderAmountFen: toIntOrNull(r.order_amount_fen),
    sourceIp: r.source_ip,
    traceId: r.trace_id,
    paymentId: null,
    refund: null,
    count: null,
    resolution: resolutionOf(r),
  }))
}

/** Duplicate payments (money to refund) and late ones, newest first (through payments_kind). */
async function paymentAnomalies (db: Executor, kind: 'duplicate_payment' | 'late_payment', show: Show, limit: number): Promise<AnomalyItem[]> {
  let q = db.selectFrom('payments as p')
    .leftJoin('orders as o', 'o.order_no', 'p.order_no')
    .leftJoin('refunds as f', 'f.payment_id', 'p.id')
    .leftJoin('anomaly_resolutions as r', (join) => join.on('r.kind', '=', kind).on('r.ref', '=', idText('p.id')))
    .select(['p.id', 'p.created_at', 'p.order_no', 'p.gyyx_order_no', 'p.amount_fen', 'p.trace_id',
      'o.amount_fen as order_amount_fen', 'f.refund_no', 'f.amount_fen as refund_fen', 'f.refunded_at',
      'r.note', 'r.resolved_by', 'r.resolved_at'])
    // The callback that made the payment, found among the order's callbacks (callbacks_game_order).
    .select((eb) => eb.selectFrom('callbacks as c').select('c.source_ip')
      .whereRef('c.game_order_no', '=', 'p.order_no').whereRef('c.trace_id', '=', 'p.trace_id')
      .limit(1).as('source_ip'))
    .where('p.kind', '=', PAYMENT_KIND[kind])
  if (show !== 'all') q = q.where('r.id', show === 'resolved' ? 'is not' : 'is', null)
  const rows = await q.orderBy('p.created_at', 'desc').orderBy('p.id', 'desc').limit(limit).execute()
  return rows.map((r) => ({
    kind,
    ref: String(r.id),
    at: toInt(r.created_at),
    orderNo: r.order_no,
    gyyxOrderNo: r.gyyx_order_no,
    amountFen: toInt(r.amount_fen),
    orderAmountFen: toIntOrNull(r.order_amount_fen),
    sourceIp: r.source_ip ?? null,
    traceId: r.trace_id,
    paymentId: toInt(r.id),
    refund: r.refund_no === null || r.refund_fen === null || r.refunded_at === null
      ? null
      : { refundNo: r.refund_no, amountFen: toInt(r.refund_fen), refundedAt: toInt(r.refunded_at) },
    count: null,
    resolution: resolutionOf(r),
  }))
}

/** Notifications whose retry schedule ended without a 2xx answer (through notification_events_due). */
async function failedNotifications (db: Executor, show: Show, limit: number): Promise<AnomalyItem[]> {
  let q = db.selectFrom('notification_events as e')
    .leftJoin('orders as o', 'o.order_no', 'e.order_no')
    .leftJoin('anomaly_resolutions as r', (join) => join.on('r.kind', '=', 'notification_failed').onRef('r.ref', '=', 'e.event_id'))
    .select(['e.event_id', 'e.order_no', 'e.attempts', 'e.next_attempt_at', 'e.failed_at',
      'o.gyyx_order_no', 'o.amount_fen as order_amount_fen', 'o.paid_fen', 'r.note', 'r.resolved_by', 'r.resolved_at'])
    .where('e.status', '=', 'failed')
  if (show !== 'all') q = q.where('r.id', show === 'resolved' ? 'is not' : 'is', null)
  // The index's order: a failed event's last scheduled attempt, just before it failed.
  const rows = await q.orderBy('e.next_attempt_at', 'desc').limit(limit).execute()
  return rows.map((r) => ({
    kind: 'notification_failed',
    ref: r.event_id,
    at: toInt(r.failed_at ?? r.next_attempt_at),
    orderNo: r.order_no,
    gyyxOrderNo: r.gyyx_order_no,
    amountFen: toIntOrNull(r.paid_fen),
    orderAmountFen: toIntOrNull(r.order_amount_fen),
    sourceIp: null,
    traceId: null,
    paymentId: null,
    refund: null,
    count: toInt(r.attempts),
    resolution: resolutionOf(r),
  }))
}

export const burstRef = (ip: string, hourStart: number) => `${ip}@${new Date(hourStart).toISOString()}`

/** `<ip>@<hour start ISO>` back into its parts; null unless the time is the start of an hour. */
export function parseBurstRef (ref: string): { ip: string, hourStart: number } | null {
  const at = ref.lastIndexOf('@')
  if (at <= 0) return null
  const hourStart = Date.parse(ref.slice(at + 1))
  if (!Number.isFinite(hourStart) || hourStart % HOUR_MS !== 0 || burstRef(ref.slice(0, at), hourStart) !== ref) return null
  return { ip: ref.slice(0, at), hourStart }
}

// Grouped by a literal expression, so the select and the GROUP BY read the same text (PostgreSQL matches them).
const hourOf = sql<number>`c.received_at - c.received_at % 3600000`

/** Addresses that sent at least BURST_MIN bad signatures within one hour, over the last BURST_DAYS (through callbacks_signature_received). */
async function signatureBursts (db: Executor, now: number, show: Show, limit: number): Promise<AnomalyItem[]> {
  const rows = await db.selectFrom('callbacks as c')
    .select((eb) => ['c.source_ip', hourOf.as('hour_start'), eb.fn.countAll<number | bigint | string>().as('n')])
    .where('c.signature', '=', 'invalid')
    .where('c.received_at', '>=', now - BURST_DAYS * 24 * HOUR_MS)
    .groupBy(['c.source_ip', hourOf])
    .having((eb) => eb(eb.fn.countAll(), '>=', BURST_MIN))
    .orderBy('hour_start', 'desc')
    .limit(BURST_SCAN)
    .execute()
  const items = rows.map((r): AnomalyItem => ({
    kind: 'signature_burst',
    ref: burstRef(r.source_ip, toInt(r.hour_start)),
    at: toInt(r.hour_start),
    orderNo: null,
    gyyxOrderNo: null,
    amountFen: null,
    orderAmountFen: null,
    sourceIp: r.source_ip,
    traceId: null,
    paymentId: null,
    refund: null,
    count: toInt(r.n),
    resolution: null,
  }))
  const resolutions = await resolutionsOf(db, 'signature_burst', items.map((i) => i.ref))
  for (const item of items) item.resolution = resolutions.get(item.ref) ?? null
  return items.filter((i) => show === 'all' || (show === 'resolved') === (i.resolution !== null)).slice(0, limit)
}

async function resolutionsOf (db: Executor, kind: AnomalyKind, refs: string[]): Promise<Map<string, Resolution>> {
  const found = new Map<string, Resolution>()
  // In slices: one IN list per few hundred refs keeps every database's parameter limit far away.
  for (let i = 0; i < refs.length; i += 500) {
    const rows = await db.selectFrom('anomaly_resolutions').select(['ref', 'note', 'resolved_by', 'resolved_at'])
      .where('kind', '=', kind).where('ref', 'in', refs.slice(i, i + 500)).execute()
    for (const r of rows) found.set(r.ref, { note: r.note, by: r.resolved_by, at: toInt(r.resolved_at) })
  }
  return found
}

/** The items of one kind, at most `limit`, newest first. */
export function listAnomalies (db: Executor, kind: AnomalyKind, opts: { show: Show, limit: number, now: number }): Promise<AnomalyItem[]> {
  switch (kind) {
    case 'amount_mismatch':
    case 'gyyx_conflict':
      return callbackAnomalies(db, kind, opts.show, opts.limit)
    case 'duplicate_payment':
    case 'late_payment':
      return paymentAnomalies(db, kind, opts.show, opts.limit)
    case 'notification_failed':
      return failedNotifications(db, opts.show, opts.limit)
    case 'signature_burst':
      return signatureBursts(db, opts.now, opts.show, opts.limit)
  }
}

/**
 * What an operator names when resolving: the item's order number (or, for a burst, its address),
 * or undefined when there is no such anomaly of that kind.
 */
export async function anomalyTarget (db: Executor, kind: AnomalyKind, ref: string): Promise<string | undefined> {
  if (kind === 'signature_burst') {
    const burst = parseBurstRef(ref)
    if (!burst) return undefined
    const row = await db.selectFrom('callbacks').select((eb) => eb.fn.countAll<number | bigint | string>().as('n'))
      .where('signature', '=', 'invalid')
      .where('received_at', '>=', burst.hourStart).where('received_at', '<', burst.hourStart + HOUR_MS)
      .where('source_ip', '=', burst.ip)
      .executeTakeFirst()
    return row && toInt(row.n) >= BURST_MIN ? burst.ip : undefined
  }
  if (kind === 'notification_failed') {
    const row = await db.selectFrom('notification_events').select('order_no').where('event_id', '=', ref).where('status', '=', 'failed').executeTakeFirst()
    return row?.order_no
  }
  if (!/^[1-9]\d{0,15}$/.test(ref)) return undefined
  if (kind === 'duplicate_payment' || kind === 'late_payment') {
    const row = await db.selectFrom('payments').select('order_no').where('id', '=', ref).where('kind', '=', PAYMENT_KIND[kind]).executeTakeFirst()
    return row?.order_no
  }
  const row = await db.selectFrom('callbacks').select(['id', 'game_order_no'])
    .where('id', '=', ref).where('outcome', '=', CALLBACK_OUTCOME[kind]).executeTakeFirst()
  return row && (row.game_order_no ?? `callback:${String(row.id)}`)
}

export async function findResolution (db: Executor, kind: AnomalyKind, ref: string): Promise<Resolution | undefined> {
  const row = await db.selectFrom('anomaly_resolutions').select(['note', 'resolved_by', 'resolved_at'])
    .where('kind', '=', kind).where('ref', '=', ref).executeTakeFirst()
  return row && { note: row.note, by: row.resolved_by, at: toInt(row.resolved_at) }
}

export async function insertResolution (db: Executor, r: { kind: AnomalyKind, ref: string, note: string, by: string, at: number }): Promise<void> {
  await db.insertInto('anomaly_resolutions').values({ kind: r.kind, ref: r.ref, note: r.note, resolved_by: r.by, resolved_at: r.at }).execute()
}

export interface Payment {
  id: number
  orderNo: string
  kind: string
  amountFen: number
}

/** A payment, locked for the rest of the transaction where the database has row locks. */
export async function findPayment (db: Executor, id: number, lock: boolean): Promise<Payment | undefined> {
  let q = db.selectFrom('payments').select(['id', 'order_no', 'kind', 'amount_fen']).where('id', '=', id)
  if (lock) q = q.forUpdate()
  const row = await q.executeTakeFirst()
  return row && { id: toInt(row.id), orderNo: row.order_no, kind: row.kind, amountFen: toInt(row.amount_fen) }
}

/** The refund recorded for the payment or under the platform's refund number, if any. */
export async function findRefund (db: Executor, paymentId: number, refundNo: string) {
  return db.selectFrom('refunds').select(['payment_id', 'refund_no'])
    .where((eb) => eb.or([eb('payment_id', '=', paymentId), eb('refund_no', '=', refundNo)]))
    .executeTakeFirst()
}

export async function insertRefund (db: Executor, r: {
  paymentId: number, orderNo: string, refundNo: string, amountFen: number, refundedAt: number, recordedBy: string, recordedAt: number, traceId: string
}): Promise<void> {
  await db.insertInto('refunds').values({
    payment_id: r.paymentId,
    order_no: r.orderNo,
    refund_no: r.refundNo,
    amount_fen: r.amountFen,
    refunded_at: r.refundedAt,
    recorded_by: r.recordedBy,
    recorded_at: r.recordedAt,
    trace_id: r.traceId,
  }).execute()
}

/** A notification event by its event_id. */
export async function findNotification (db: Executor, eventId: string) {
  return db.selectFrom('notification_events').select(['event_id', 'order_no', 'status']).where('event_id', '=', eventId).executeTakeFirst()
}
