import { CompiledQuery, sql, type Expression, type ExpressionBuilder, type SqlBool } from 'kysely'
import type { DB, Executor } from '../../../db/database.ts'
import type { DialectName } from '../../../db/dialect.ts'
import { effectiveStatus, type OrderStatus } from '../../../domain/order-state.ts'
import { invalidField } from '../../../errors.ts'
import { orderColumns, toOrder, type Order } from '../../orders/orders.repository.ts'

export interface OrderFilter {
  orderNo?: string
  userId?: string
  gyyxOrderNo?: string
  /** As of `now`: an unpaid order past its expiry counts as expired, not unpaid. */
  status?: OrderStatus
  goodsId?: number
  serverFlag?: string
  /** Created at or after (epoch ms). */
  from?: number
  /** Created before (epoch ms). */
  to?: number
  /** true: orders with an anomalous callback; false: orders without one. */
  hasAnomaly?: boolean
}

export interface PageRequest {
  /** 50 unless given; at most 200. */
  limit?: number
  /** The `next` of the page before. */
  after?: string
}

/** An order as the search lists it: its status as of the search's `now`, and whether an anomalous callback names it. */
export interface OrderSummary extends Order {
  anomaly: boolean
}

export interface OrderPage {
  rows: OrderSummary[]
  /** The cursor of the following page; null on the last one. */
  next: string | null
}

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 200

interface Cursor { createdAt: number, orderNo: string }

export function encodeCursor (c: Cursor): string {
  return Buffer.from(JSON.stringify([c.createdAt, c.orderNo]), 'utf8').toString('base64url')
}

export function decodeCursor (text: string): Cursor {
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    value = null
  }
  if (!Array.isArray(value) || value.length !== 2 || !Number.isSafeInteger(value[0]) || typeof value[1] !== 'string') {
    throw invalidField('after', '不是有效的翻页位置', 'is not a valid page cursor')
  }
  return { createdAt: value[0], orderNo: value[1] }
}

const pageLimit = (limit: number | undefined) =>
  limit === undefined || !Number.isFinite(limit) ? DEFAULT_LIMIT : Math.min(MAX_LIMIT, Math.max(1, Math.trunc(limit)))

/** Which stored rows a status means as of now. */
type StoredStatus = { status: OrderStatus, expire?: 'passed' | 'ahead' }

function storedStatuses (status: OrderStatus | undefined): StoredStatus[] | null {
  switch (status) {
    case undefined: return null
    case 'unpaid': return [{ status: 'unpaid', expire: 'ahead' }]
    // Unpaid orders the sweep has not reached yet are expired too.
    case 'expired': return [{ status: 'expired' }, { status: 'unpaid', expire: 'passed' }]
    default: return [{ status }]
  }
}

/**
 * One index range, newest first: every filter is an equality or a created_at range ahead of the
 * keyset condition, so each database walks one of the (x, created_at) indexes backwards and stops
 * after `limit` rows, or goes straight to the key for an order or platform number.
 */
function branch (db: Executor, f: OrderFilter, stored: StoredStatus | null, cursor: Cursor | null, limit: number, now: number) {
  let q = db.selectFrom('orders').select(orderColumns)
  if (f.orderNo !== undefined) q = q.where('order_no', '=', f.orderNo)
  if (f.gyyxOrderNo !== undefined) q = q.where('gyyx_order_no', '=', f.gyyxOrderNo)
  if (f.userId !== undefined) q = q.where('user_id', '=', f.userId)
  if (f.goodsId !== undefined) q = q.where('goods_id', '=', f.goodsId)
  if (f.serverFlag !== undefined) q = q.where('server_flag', '=', f.serverFlag)
  if (stored) {
    q = q.where('status', '=', stored.status)
    if (stored.expire === 'passed') q = q.where('expire_at', '<=', now)
    if (stored.expire === 'ahead') q = q.where('expire_at', '>', now)
  }
  if (f.from !== undefined) q = q.where('created_at', '>=', f.from)
  if (f.to !== undefined) q = q.where('created_at', '<', f.to)
  if (f.hasAnomaly !== undefined) {
    q = q.where((eb) => eb(anomalyOf(eb), f.hasAnomaly ? 'is not' : 'is', null))
  }
  if (cursor) {
    // Written as a range on created_at plus a filter (not a row value), which every database can seek on.
    q = q.where('created_at', '<=', cursor.createdAt)
      .where((eb): Expression<SqlBool> => eb.or([eb('created_at', '<', cursor.createdAt), eb('order_no', '<', cursor.orderNo)]))
  }
  // Orders still payable are the few made within their time to pay, found through
  // orders_status_expire and then sorted; ordering by an expression keeps a planner from walking
  // (status, created_at) instead through every unpaid order the sweep has not expired yet.
  const ordered = stored?.expire === 'ahead' ? q.orderBy(sql`${sql.ref('created_at')} + 0`, 'desc') : q.orderBy('created_at', 'desc')
  return ordered.orderBy('order_no', 'desc').limit(limit)
}

// Probed per order through callbacks_anomaly(anomaly, game_order_no) while walking the orders newest
// first: with anomalies around 1 % a page costs some thousand probes, however many anomalies have
// piled up. A scalar subquery, not EXISTS: MariaDB turns EXISTS into a semi-join that reads every
// anomalous callback's order and sorts them all (0.4 s for 10,000 of them).
const anomalyOf = (eb: ExpressionBuilder<DB, 'orders'>) => eb.selectFrom('callbacks').select('callbacks.anomaly')
  .where('callbacks.anomaly', '=', 1).whereRef('callbacks.game_order_no', '=', 'orders.order_no').limit(1)

/** The search as one statement: a union of newest-first branches when a status means two kinds of stored row. */
function searchQuery (db: Executor, filter: OrderFilter, cursor: Cursor | null, limit: number, now: number) {
  const statuses = storedStatuses(filter.status)
  if (statuses === null || statuses.length === 1) return branch(db, filter, statuses?.[0] ?? null, cursor, limit, now)
  const [first, ...rest] = statuses.map((s) => branch(db, filter, s, cursor, limit, now))
  let union = db.selectFrom(first.as('b0')).selectAll()
  rest.forEach((b, i) => { union = union.unionAll(db.selectFrom(b.as(`b${i + 1}`)).selectAll()) })
  return db.selectFrom(union.as('merged')).selectAll().orderBy('created_at', 'desc').orderBy('order_no', 'desc').limit(limit)
}

/** Orders matching every filter given, newest first (created_at, then order number), one page at a time. */
export async function searchOrders (db: Executor, filter: OrderFilter, page: PageRequest, now: number): Promise<OrderPage> {
  const limit = pageLimit(page.limit)
  const cursor = page.after ? decodeCursor(page.after) : null
  // One row more than the page tells whether another page follows, with no count.
  const found = await searchQuery(db, filter, cursor, limit + 1, now).execute()
  const rows = found.slice(0, limit)
  const anomalous = await anomalousOrders(db, rows.map((r) => r.order_no))
  const summaries = rows.map((r): OrderSummary => {
    const order = toOrder(r)
    return { ...order, status: effectiveStatus(order.status, order.expireAt, now), anomaly: anomalous.has(order.orderNo) }
  })
  const last = summaries.at(-1)
  return { rows: summaries, next: found.length > limit && last ? encodeCursor(last) : null }
}

/** Which of these orders an anomalous callback names (through callbacks_anomaly). */
async function anomalousOrders (db: Executor, orderNos: string[]): Promise<Set<string>> {
  if (orderNos.length === 0) return new Set()
  const rows = await db.selectFrom('callbacks').select('game_order_no').distinct()
    .where('anomaly', '=', 1).where('game_order_no', 'in', orderNos).execute()
  return new Set(rows.map((r) => r.game_order_no).filter((n): n is string => n !== null))
}

/** The database's plan for a search, as text (for the bench and the index checks). */
export async function explainSearch (db: Executor, dialect: DialectName, filter: OrderFilter,
  opts: { page?: PageRequest, now?: number } = {}): Promise<string> {
  const limit = pageLimit(opts.page?.limit)
  const cursor = opts.page?.after ? decodeCursor(opts.page.after) : null
  const query = searchQuery(db, filter, cursor, limit + 1, opts.now ?? Date.now()).compile()
  const prefix = dialect === 'sqlite' ? 'explain query plan ' : 'explain '
  const { rows } = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(prefix + query.sql, [...query.parameters]))
  if (dialect === 'sqlite') return sqlitePlan(rows as unknown as SqlitePlanRow[])
  if (dialect === 'postgres') return rows.map((r) => String(r['QUERY PLAN'])).join('\n')
  return rows.map((r) => ['id', 'select_type', 'table', 'type', 'key', 'rows', 'Extra']
    .map((k) => `${k}=${r[k] === null ? '-' : String(r[k])}`).join(' ')).join('\n')
}

interface SqlitePlanRow { id: number | bigint, parent: number | bigint, detail: string }

/** SQLite's plan rows as the indented tree its shell prints. */
function sqlitePlan (rows: SqlitePlanRow[]): string {
  const depth = new Map<number, number>([[0, -1]])
  return rows.map((r) => {
    const d = (depth.get(Number(r.parent)) ?? -1) + 1
    depth.set(Number(r.id), d)
    return `${'  '.repeat(d)}${r.detail}`
  }).join('\n')
}
