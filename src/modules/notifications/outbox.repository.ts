import type { Executor, NotificationAttemptsTable, NotificationEventsTable } from '../../db/database.ts'
import { toInt, toIntOrNull } from '../../db/values.ts'
import type { NewEvent } from './notification-event.ts'

export type EventStatus = NotificationEventsTable['status']
export type AttemptTrigger = NotificationAttemptsTable['trigger']

export interface OutboxEvent {
  eventId: string
  orderNo: string
  type: string
  serverFlag: string
  payload: string
  status: EventStatus
  attempts: number
  nextAttemptAt: number
  leaseOwner: string | null
  leaseUntil: number
  createdAt: number
  deliveredAt: number | null
  failedAt: number | null
}

export interface Attempt {
  eventId: string
  attempt: number
  trigger: AttemptTrigger
  url: string
  startedAt: number
  latencyMs: number | null
  httpStatus: number | null
  error: string | null
  responseHead: string
}

const eventColumns = ['event_id', 'order_no', 'type', 'server_flag', 'payload', 'status', 'attempts', 'next_attempt_at',
  'lease_owner', 'lease_until', 'created_at', 'delivered_at', 'failed_at'] as const
type EventRow = Pick<NotificationEventsTable, typeof eventColumns[number]>

const toEvent = (r: EventRow): OutboxEvent => ({
  eventId: r.event_id,
  orderNo: r.order_no,
  type: r.type,
  serverFlag: r.server_flag,
  payload: r.payload,
  status: r.status,
  attempts: toInt(r.attempts),
  nextAttemptAt: toInt(r.next_attempt_at),
  leaseOwner: r.lease_owner,
  leaseUntil: toInt(r.lease_until),
  createdAt: toInt(r.created_at),
  deliveredAt: toIntOrNull(r.delivered_at),
  failedAt: toIntOrNull(r.failed_at),
})

type AttemptRow = Omit<NotificationAttemptsTable, 'id'>

const toAttempt = (r: AttemptRow): Attempt => ({
  eventId: r.event_id,
  attempt: toInt(r.attempt),
  trigger: r.trigger,
  url: r.url,
  startedAt: toInt(r.started_at),
  latencyMs: toIntOrNull(r.latency_ms),
  httpStatus: toIntOrNull(r.http_status),
  error: r.error,
  responseHead: r.response_head,
})

/** A new pending event, due at once. */
export async function insertEvent (db: Executor, e: NewEvent): Promise<void> {
  await db.insertInto('notification_events').values({
    event_id: e.eventId,
    order_no: e.orderNo,
    type: e.type,
    server_flag: e.serverFlag,
    payload: e.payload,
    status: 'pending',
    attempts: 0,
    next_attempt_at: e.createdAt,
    lease_owner: null,
    lease_until: 0,
    created_at: e.createdAt,
  }).execute()
}

/**
 * Pending events due by now, oldest first. With row locks the rows stay locked until the
 * transaction ends and other claimers skip them; SQLite's immediate transaction admits one claimer.
 */
export async function findDueEvents (db: Executor, now: number, limit: number, rowLocks: boolean): Promise<OutboxEvent[]> {
  let query = db.selectFrom('notification_events').select(eventColumns)
    .where('status', '=', 'pending').where('next_attempt_at', '<=', now)
    .orderBy('next_attempt_at').orderBy('id').limit(limit)
  if (rowLocks) query = query.forUpdate().skipLocked()
  return (await query.execute()).map(toEvent)
}

/** An event by its id, or else the newest event of an order. */
export async function findEvent (db: Executor, ref: string, lock: boolean): Promise<OutboxEvent | undefined> {
  let query = db.selectFrom('notification_events').select(eventColumns)
    .where((eb) => eb.or([eb('event_id', '=', ref), eb('order_no', '=', ref)]))
    .orderBy('id', 'desc').limit(1)
  if (lock) query = query.forUpdate()
  const row = await query.executeTakeFirst()
  return row && toEvent(row)
}

export interface Lease { owner: string, until: number }

/**
 * Takes one event (a resend, whatever its status) for one attempt, on the exact row that was read:
 * the attempt count and lease in the WHERE make a second claimant of the same attempt update nothing.
 * A pending event is next due when the lease ends, so an attempt whose instance died is made again.
 */
export async function takeEvent (db: Executor, e: OutboxEvent, lease: Lease, now: number): Promise<boolean> {
  const result = await db.updateTable('notification_events')
    .set({
      attempts: e.attempts + 1,
      lease_owner: lease.owner,
      lease_until: lease.until,
      ...(e.status === 'pending' ? { next_attempt_at: lease.until } : {}),
    })
    .where('event_id', '=', e.eventId).where('attempts', '=', e.attempts).where('lease_until', '<=', now)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

/**
 * Takes due events, read under their row locks (or SQLite's write lock), for one attempt each: the
 * count updated tells whether all of them were still due. Each is next due when its lease ends, so an
 * attempt whose instance died is made again.
 */
export async function takeDueEvents (db: Executor, events: OutboxEvent[], lease: Lease, now: number): Promise<number> {
  const result = await db.updateTable('notification_events')
    .set((eb) => ({
      attempts: eb('attempts', '+', 1), lease_owner: lease.owner, lease_until: lease.until, next_attempt_at: lease.until,
    }))
    .where('event_id', 'in', events.map((e) => e.eventId))
    .where('status', '=', 'pending').where('next_attempt_at', '<=', now)
    .executeTakeFirst()
  return Number(result.numUpdatedRows)
}

// What a claimed attempt's row says until its result is written: also what stays if the instance dies.
export const NO_RESULT = 'no result recorded: the instance making this attempt stopped or lost its lease'

/** The claimed attempts' rows, in one statement. */
export async function insertAttempts (db: Executor,
  attempts: Pick<Attempt, 'eventId' | 'attempt' | 'trigger' | 'url' | 'startedAt'>[]): Promise<void> {
  if (attempts.length === 0) return
  await db.insertInto('notification_attempts').values(attempts.map((a) => ({
    event_id: a.eventId,
    attempt: a.attempt,
    trigger: a.trigger,
    url: a.url.slice(0, 2048),
    started_at: a.startedAt,
    latency_ms: null,
    http_status: null,
    error: NO_RESULT,
    response_head: '',
  }))).execute()
}

export async function recordAttemptResult (db: Executor, eventId: string, attempt: number,
  r: Pick<Attempt, 'latencyMs' | 'httpStatus' | 'error' | 'responseHead'>): Promise<void> {
  await db.updateTable('notification_attempts')
    .set({ latency_ms: r.latencyMs, http_status: r.httpStatus, error: r.error, response_head: r.responseHead })
    .where('event_id', '=', eventId).where('attempt', '=', attempt)
    .execute()
}

/** How many scheduled attempts the event has had: its place in the retry schedule (resends are extra). */
export async function countScheduledAttempts (db: Executor, eventId: string): Promise<number> {
  const row = await db.selectFrom('notification_attempts').select((eb) => eb.fn.countAll().as('n'))
    .where('event_id', '=', eventId).where('trigger', '=', 'schedule')
    .executeTakeFirst()
  return toInt(row?.n as number | bigint | string ?? 0)
}

export type EventPatch = Partial<Pick<NotificationEventsTable, 'status' | 'next_attempt_at' | 'delivered_at' | 'failed_at'>>

/** Writes the attempt's consequence and gives the lease back; false when the lease was no longer ours. */
export async function releaseEvent (db: Executor, eventId: string, attempt: number, owner: string,
  patch: EventPatch): Promise<boolean> {
  const result = await db.updateTable('notification_events')
    .set({ ...patch, lease_owner: null, lease_until: 0 })
    .where('event_id', '=', eventId).where('attempts', '=', attempt).where('lease_owner', '=', owner)
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}

export interface EventSummary extends Omit<OutboxEvent, 'payload'> {
  last: Attempt | null
}

/** The newest events (or the failed ones only), each with its last attempt. */
export async function listEvents (db: Executor, opts: { failed: boolean, limit: number }): Promise<EventSummary[]> {
  let query = db.selectFrom('notification_events').select(eventColumns).orderBy('id', 'desc').limit(opts.limit)
  if (opts.failed) query = query.where('status', '=', 'failed')
  const events = (await query.execute()).map(toEvent)
  if (events.length === 0) return []
  const attempts = (await db.selectFrom('notification_attempts').selectAll()
    .where('event_id', 'in', events.map((e) => e.eventId)).orderBy('attempt').execute()).map(toAttempt)
  const last = new Map(attempts.map((a) => [a.eventId, a]))
  return events.map(({ payload, ...e }) => ({ ...e, last: last.get(e.eventId) ?? null }))
}

export async function attemptsOf (db: Executor, eventId: string): Promise<Attempt[]> {
  const rows = await db.selectFrom('notification_attempts').selectAll()
    .where('event_id', '=', eventId).orderBy('attempt').orderBy('id').execute()
  return rows.map(toAttempt)
}

/** Pending events whose next attempt is due, and the age of the oldest pending one (for /metrics). */
export async function outboxDepth (db: Executor, now: number): Promise<{ due: number, oldestAgeSeconds: number }> {
  const row = await db.selectFrom('notification_events')
    .where('status', '=', 'pending')
    .select((eb) => [
      eb.fn.sum<number | bigint | string | null>(eb.case().when('next_attempt_at', '<=', now).then(1).else(0).end()).as('due'),
      eb.fn.min('created_at').as('oldest'),
    ])
    .executeTakeFirst()
  const oldest = row?.oldest == null ? null : toInt(row.oldest)
  return {
    due: row?.due == null ? 0 : toInt(row.due),
    oldestAgeSeconds: oldest === null ? 0 : Math.max(0, (now - oldest) / 1000),
  }
}
