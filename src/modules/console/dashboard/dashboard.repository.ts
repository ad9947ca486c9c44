import { sql, type ExpressionBuilder, type SelectQueryBuilder } from 'kysely'
import type { DB, Executor } from '../../../db/database.ts'
import { toInt } from '../../../db/values.ts'

export const DAY_MS = 86_400_000
// Operators count days in Asia/Shanghai, which has kept UTC+8 with no daylight saving since 1991.
const SHANGHAI_OFFSET_MS = 8 * 3_600_000
export const DASHBOARD_DAYS = 30

export interface DayFigures {
  /** The calendar day in Shanghai, YYYY-MM-DD. */
  day: string
  /** Its first millisecond (epoch ms). */
  start: number
  /** Orders created that day. */
  created: number
  /** Of those, the ones paid by now. */
  createdPaid: number
  /** createdPaid / created; null on a day with no orders. */
  conversion: number | null
  /** Orders paid that day (paid_at in the day), whenever they were created. */
  paid: number
  /** The sum of paid_fen of the orders paid that day. */
  revenueFen: number
}

export interface Dashboard {
  today: DayFigures
  /** The last 30 days, oldest first; the last one is today. */
  days: DayFigures[]
  /** Callbacks received, by outcome. */
  callbacks: { today: Record<string, number>, days: Record<string, number> }
}

const mod = (a: number, b: number) => ((a % b) + b) % b

/** The first millisecond of the Shanghai calendar day holding `ms`. */
export const shanghaiDayStart = (ms: number): number => ms - mod(ms + SHANGHAI_OFFSET_MS, DAY_MS)

const shanghaiDate = (dayStart: number) => new Date(dayStart + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10)

type Count = number | bigint | string
const count = (n: Count | null | undefined) => (n === null || n === undefined ? 0 : toInt(n))

/**
 * One statement of one range query per day, `select <day> as i, … where column in [day, day + 1)`:
 * each is a count over one index range, which every database answers from the index alone
 * (a GROUP BY on a day expression sorts or hashes every row instead, several times slower).
 */
function perDay<O> (starts: number[], query: (from: number, to: number) => SelectQueryBuilder<DB, 'orders', O>) {
  const [first, ...rest] = starts.map((from, i) => query(from, from + DAY_MS).select(sql.lit(i).as('i')))
  return rest.reduce((union, q) => union.unionAll(q), first)
}

/**
 * Today and the 29 days before it: orders created (orders_created), created and paid by now
 * (orders_status_created), paid with their revenue (orders_paid_fen), callbacks by outcome
 * (callbacks_received_outcome); every one read from an index alone.
 */
export async function dashboard (db: Executor, now: number): Promise<Dashboard> {
  const today = shanghaiDayStart(now)
  const start = today - (DASHBOARD_DAYS - 1) * DAY_MS
  const end = today + DAY_MS

  const starts = Array.from({ length: DASHBOARD_DAYS }, (_, i) => start + i * DAY_MS)
  const countAll = (eb: ExpressionBuilder<DB, 'orders'>) => eb.fn.countAll<Count>().as('n')
  const [created, createdPaid, paid, callbacks] = await Promise.all([
    perDay(starts, (from, to) => db.selectFrom('orders').select(countAll)
      .where('created_at', '>=', from).where('created_at', '<', to)).execute(),
    perDay(starts, (from, to) => db.selectFrom('orders').select(countAll)
      .where('status', '=', 'paid').where('created_at', '>=', from).where('created_at', '<', to)).execute(),
    perDay(starts, (from, to) => db.selectFrom('orders').select([countAll, (eb) => eb.fn.sum<Count | null>('paid_fen').as('fen')])
      .where('paid_at', '>=', from).where('paid_at', '<', to)).execute(),
    db.selectFrom('callbacks')
      .select(['outcome', (eb) => eb.fn.countAll<Count>().as('n'),
        (eb) => eb.fn.sum<Count | null>(eb.case().when('received_at', '>=', today).then(1).else(0).end()).as('today')])
      .where('received_at', '>=', start).where('received_at', '<', end)
      .groupBy('outcome').execute(),
  ])

  const byDay = <R extends { i: Count }>(rows: R[]) => new Map(rows.map((r) => [toInt(r.i), r]))
  const createdBy = byDay(created)
  const createdPaidBy = byDay(createdPaid)
  const paidBy = byDay(paid)
  const days = Array.from({ length: DASHBOARD_DAYS }, (_, i): DayFigures => {
    const dayStart = starts[i]
    const made = count(createdBy.get(i)?.n)
    const madePaid = count(createdPaidBy.get(i)?.n)
    const p = paidBy.get(i)
    return {
      day: shanghaiDate(dayStart),
      start: dayStart,
      created: made,
      createdPaid: madePaid,
      conversion: made === 0 ? null : madePaid / made,
      paid: count(p?.n),
      revenueFen: count(p?.fen),
    }
  })

  const outcomes = { today: {} as Record<string, number>, days: {} as Record<string, number> }
  for (const r of callbacks) {
    outcomes.days[r.outcome] = count(r.n)
    const n = count(r.today)
    if (n > 0) outcomes.today[r.outcome] = n
  }
  return { today: days[days.length - 1], days, callbacks: outcomes }
}
