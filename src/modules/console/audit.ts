import type { Executor } from '../../db/database.ts'
import { toInt } from '../../db/values.ts'

/** Who acted, from where, under which trace: an operator's request, or the gamepay command. */
export interface Actor {
  operator: string
  sourceIp: string
  traceId: string
}

export interface AuditEntry {
  action: string
  target: string
  before?: unknown
  after?: unknown
}

const json = (value: unknown) => value === undefined ? null : JSON.stringify(value)

/**
 * Appends to the audit log, in the caller's transaction so the entry commits with the change it
 * records. The table refuses UPDATE and DELETE (database triggers): entries are only ever added.
 */
export async function recordAudit (db: Executor, actor: Actor, entry: AuditEntry, now: number): Promise<void> {
  await db.insertInto('audit_log').values({
    at: now,
    operator: actor.operator.slice(0, 64),
    action: entry.action,
    target: entry.target.slice(0, 255),
    source_ip: actor.sourceIp.slice(0, 64),
    trace_id: actor.traceId,
    before_value: json(entry.before),
    after_value: json(entry.after),
  }).execute()
}

export interface AuditRow {
  id: number
  at: number
  operator: string
  action: string
  target: string
  sourceIp: string
  traceId: string
  before: unknown
  after: unknown
}

const parse = (text: string | null) => text === null ? null : JSON.parse(text) as unknown

/** Newest first; `before` is an id to page back from. */
export async function listAudit (db: Executor, opts: { target?: string, limit: number, before?: number }): Promise<AuditRow[]> {
  let q = db.selectFrom('audit_log').selectAll()
  if (opts.target !== undefined) q = q.where('target', '=', opts.target)
  if (opts.before !== undefined) q = q.where('id', '<', opts.before)
  const rows = await q.orderBy('id', 'desc').limit(opts.limit).execute()
  return rows.map((r) => ({
    id: toInt(r.id),
    at: toInt(r.at),
    operator: r.operator,
    action: r.action,
    target: r.target,
    sourceIp: r.source_ip,
    traceId: r.trace_id,
    before: parse(r.before_value),
    after: parse(r.after_value),
  }))
}
