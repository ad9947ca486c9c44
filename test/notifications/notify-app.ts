// An app whose notifications go to a test receiver: its own context options (a clock, the delivery
// loop, a log the test reads), on a fresh database or on a shared one.
import type { ContextOptions } from '../../src/context.ts'
import type { DialectName } from '../../src/db/dialect.ts'
import { toInt } from '../../src/db/values.ts'
import { createTestApp, type TestApp } from '../helper.ts'

export const NOTIFY_SECRET = 'notify-secret-of-16+chars'
export const T0 = Date.parse('2025-03-01T08:00:00.000Z')

export interface LogLine { level: 'info' | 'warn' | 'error', obj: any, msg: string }

export interface NotifyApp extends TestApp {
  logs: LogLine[]
}

/** A clock the test moves; every app given it sees the same time. */
export function testClock (start = T0) {
  let now = start
  return {
    now: () => now,
    advance (ms: number) { now += ms },
  }
}

export interface NotifyAppOptions {
  /** NOTIFY_URL; leave it out for none. */
  notifyUrl?: string
  env?: Record<string, string>
  clock?: () => number
  /** A database another app already uses. */
  url?: string
  deliverMs?: number
}

export async function notifyApp (dialect: DialectName, opts: NotifyAppOptions = {}): Promise<NotifyApp> {
  const env: Record<string, string> = {
    NOTIFY_SECRET,
    NOTIFY_RETRY_SECONDS: '15,60',
    NOTIFY_TIMEOUT_MS: '3000',
    ...(opts.notifyUrl ? { NOTIFY_URL: opts.notifyUrl } : {}),
    ...opts.env,
  }
  const logs: LogLine[] = []
  const line = (level: LogLine['level']) => (obj: unknown, msg?: string) => {
    logs.push(typeof obj === 'string' ? { level, obj: {}, msg: obj } : { level, obj, msg: msg ?? '' })
  }
  const log = { info: line('info'), warn: line('warn'), error: line('error') } as unknown as ContextOptions['log']
  const t = await createTestApp(dialect, { url: opts.url, env, clock: opts.clock, context: { deliverMs: opts.deliverMs, log } })
  return { ...t, logs }
}

/** The stored events of an order, numbers as numbers. */
export async function eventsOf (t: TestApp, orderNo: string) {
  const rows = await t.ctx.store.db.selectFrom('notification_events').selectAll().where('order_no', '=', orderNo).orderBy('id').execute()
  return rows.map((r) => ({
    ...r,
    attempts: toInt(r.attempts),
    next_attempt_at: toInt(r.next_attempt_at),
    lease_until: toInt(r.lease_until),
    created_at: toInt(r.created_at),
    delivered_at: r.delivered_at === null ? null : toInt(r.delivered_at),
    failed_at: r.failed_at === null ? null : toInt(r.failed_at),
  }))
}

export async function attemptRows (t: TestApp, eventId: string) {
  const rows = await t.ctx.store.db.selectFrom('notification_attempts').selectAll().where('event_id', '=', eventId).orderBy('attempt').execute()
  return rows.map((r) => ({
    attempt: toInt(r.attempt),
    trigger: r.trigger,
    url: r.url,
    started_at: toInt(r.started_at),
    latency_ms: r.latency_ms === null ? null : toInt(r.latency_ms),
    http_status: r.http_status === null ? null : toInt(r.http_status),
    error: r.error,
    response_head: r.response_head,
  }))
}

export async function countEvents (t: TestApp) {
  const rows = await t.ctx.store.db.selectFrom('notification_events').select('event_id').execute()
  return rows.length
}

/** The value of gamepay_notifications_total for one result. */
export async function notificationsCounted (t: TestApp, result: 'delivered' | 'retry' | 'failed'): Promise<number> {
  const metric = await t.ctx.metrics.notifications.get()
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0
}
