// `gamepay seed`: fills the configured database with a history of orders, made inside the database
// by INSERT … SELECT over a number series (no row crosses the network), half a million orders at a
// time, with the tables' non-unique indexes dropped meanwhile and built once at the end. Order n
// (1 … N, oldest first) is a pure function of n and the time of seeding, the same on SQLite,
// PostgreSQL and MariaDB. What it makes, in the service's own shapes:
//   - orders spread evenly over the last --days days: ~60 % paid, ~15 % cancelled, the rest
//     expired, except those still within their TTL, which are unpaid (as the expiry sweep leaves them);
//   - order_events: the creation of every order and one event per status change;
//   - payments: one applied payment per paid order;
//   - callbacks: one per payment, plus ~1 % anomalies (a second payment of a paid order, recorded
//     as a duplicate payment to refund, or a wrong amount on an unpaid one);
//   - with NOTIFY_URL configured, the order.paid event of every paid order, delivered at the first attempt.
// Seeded order numbers are `<prefix>-<12 digits>` with a prefix other than ORDER_PREFIX, so they
// can't meet a number the service hands out; a second seed (--force) numbers on after the first.
import { setImmediate as nextTurn } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { sql, type Kysely } from 'kysely'
import type { Store } from '../db/connect.ts'
import type { DB } from '../db/database.ts'
import type { DialectName } from '../db/dialect.ts'
import { toInt } from '../db/values.ts'
import { fenToYuan } from '../domain/money.ts'
import { configReader, type CliEnv } from './cli-env.ts'
import { CliError } from './cli-error.ts'

const DAY_MS = 86_400_000
/** Orders per chunk: one progress line (on MySQL, one transaction). */
const CHUNK = 500_000
const SERVER_FLAGS = 20
/**
 * n·k mod this prime gives each pseudo-random attribute, k a large multiplier of its own (a
 * Lehmer generator's step from seed n), so neighbouring orders differ and attributes do not move
 * together. n·k stays below 2^63 for every n seeded.
 */
const PRIME = 2_147_483_647
const K = {
  jitter: 1_414_213_562,
  goods: 1_732_050_807,
  status: 1_618_033_988,
  anomaly: 1_234_567_891,
  quantity: 1_098_765_431,
  user: 2_003_006_009,
  flag: 1_357_924_681,
  delay: 1_122_334_455,
}
/** Order numbers count from here, so every seeded number has 12 digits and they sort as numbers. */
const FIRST_NUMBER = 100_000_000_000
const MAX_ORDERS = 100_000_000
/** SQLite's busy wait and the servers' statement limits: a chunk's statement takes minutes on a big database. */
export const SEED_STATEMENT_TIMEOUT_MS = 3_600_000

export interface SeedOptions {
  orders: number
  /** Distinct user ids; default one per 20 orders. */
  users?: number
  /** The orders are spread over this many days before now; default 90. */
  days?: number
  /** Order number prefix; must differ from ORDER_PREFIX. Default `seed`. */
  prefix?: string
  /** ORDER_TTL_SECONDS in ms: when unpaid orders expire. Default 30 min. */
  orderTtlMs?: number
  /** Where the order.paid events were delivered; null or absent: no events (no NOTIFY_URL). */
  notifyUrl?: string | null
  /** Seed although the database has orders. */
  force?: boolean
  now?: number
  /** Told a line after every chunk and at each step after. */
  progress?: (line: string) => void
  /** Stops the seeding after the chunk in hand (Ctrl-C). */
  signal?: AbortSignal
}

export interface SeedResult extends Counts {
  firstOrderNo: string
  lastOrderNo: string
  /** From the start to the last index built. */
  seedMs: number
  indexMs: number
  analyzeMs: number
}

/** The database has orders and --force was not given, or has no goods to order. */
export class SeedRefused extends Error {}

/** Stopped by the signal after `done` orders. */
export class SeedStopped extends Error {
  readonly done: number
  constructor (done: number) {
    super(`stopped after ${done} orders`)
    this.done = done
  }
}

interface GoodsRow { id: number, item: string, priceFen: number }

/** The SQL that differs between the three databases. */
interface Flavor {
  /** A derived table `s` with one column n: lo … hi. */
  series: (lo: number, hi: number) => string
  div: (a: string, b: number) => string
  /** `YYYY-MM-DDTHH:MM:SS.mmmZ` of epoch milliseconds (as toIso writes it). */
  iso: (ms: string) => string
  quote: (name: string) => string
  /** A statement to run before each chunk's inserts. */
  beforeChunk?: (lo: number, hi: number) => string
}

async function flavorOf (db: Kysely<DB>, dialect: DialectName): Promise<Flavor> {
  const pad3 = (x: string) => dialect === 'sqlite' ? `substr('00' || (${x}), -3)` : `lpad(${dialect === 'postgres' ? `cast(${x} as text)` : x}, 3, '0')`
  const seconds = (ms: string) => {
    if (dialect === 'sqlite') return `strftime('%Y-%m-%dT%H:%M:%S', (${ms}) / 1000, 'unixepoch')`
    if (dialect === 'postgres') return `to_char(to_timestamp((${ms}) / 1000) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')`
    // From the epoch by date arithmetic, so the session's time zone plays no part.
    return `date_format(date_add('1970-01-01 00:00:00', interval ((${ms}) div 1000) second), '%Y-%m-%dT%H:%i:%s')`
  }
  let series: Flavor['series']
  let beforeChunk: Flavor['beforeChunk']
  if (dialect === 'postgres') {
    series = (lo, hi) => `(select cast(s as bigint) as n from generate_series(${lo}, ${hi}) as s) as s`
  } else if (dialect === 'sqlite') {
    series = (lo, hi) => `(with recursive s(n) as (select ${lo} union all select n + 1 from s where n < ${hi}) select n from s) as s`
  } else {
    // MariaDB's SEQUENCE engine makes seq_1_to_N tables on the fly; MySQL has a recursive CTE, limited by a session variable.
    const { rows } = await sql<{ n: unknown }>`select count(*) as n from information_schema.ENGINES
      where ENGINE = 'SEQUENCE' and SUPPORT in ('YES', 'DEFAULT')`.execute(db)
    if (Number(rows[0]?.n) > 0) {
      series = (lo, hi) => `(select seq as n from seq_${lo}_to_${hi}) as s`
    } else {
      series = (lo, hi) => `(with recursive s(n) as (select ${lo} union all select n + 1 from s where n < ${hi}) select n from s) as s`
      beforeChunk = (lo, hi) => `set session cte_max_recursion_depth = ${hi - lo + 2}`
    }
  }
  return {
    series,
    div: (a, b) => dialect === 'mysql' ? `(${a}) div ${b}` : `(${a}) / ${b}`,
    iso: (ms) => `concat(${seconds(ms)}, '.', ${pad3(`(${ms}) % 1000`)}, 'Z')`,
    quote: (name) => dialect === 'mysql' ? `\`${name}\`` : `"${name}"`,
    beforeChunk,
  }
}

interface Plan {
  /** Seeded order n is number base + n. */
  base: number
  total: number
  users: number
  start: number
  step: number
  jitter: number
  now: number
  ttlMs: number
  prefix: string
  goods: GoodsRow[]
  notifyUrl: string | null
}

/**
 * The orders lo … hi as a derived table `o`, every column the inserts need. Pseudo-random
 * attributes are (n · k) mod a prime, one multiplier k each; the same integer arithmetic,
 * CASE and concat() mean the same on all three databases.
 */
function source (plan: Plan, f: Flavor, lit: (s: string) => string, lo: number, hi: number): string {
  const r = (k: number) => `((n * ${k}) % ${PRIME})`
  const byGoods = (value: (g: GoodsRow) => string) => `case g ${plan.goods.map((g, i) => `when ${i} then ${value(g)}`).join(' ')} end`
  // The yuan of an amount as the API writes it (JSON number), by goods and quantity.
  const yuan = (extraFen: number) =>
    `case q when 1 then ${byGoods((g) => lit(String(fenToYuan(g.priceFen + extraFen))))} else ${byGoods((g) => lit(String(fenToYuan(2 * g.priceFen + extraFen))))} end`
  // Paid (or cancelled) a few seconds to two minutes after creation, always before the order expires.
  const payAfterMs = Math.min(3_000, Math.floor(plan.ttlMs / 4))
  const payWithinMs = Math.max(1, Math.min(120_000, Math.floor(plan.ttlMs / 2)))
  const number = (letter: string) => `concat('${plan.prefix}-${letter}', ${FIRST_NUMBER} + m)`
  const base = `select n, ${plan.base} + n as m,
      ${plan.start} + (n - 1) * ${plan.step} + ${r(K.jitter)} % ${plan.jitter} as created_at,
      ${r(K.goods)} % ${plan.goods.length} as g,
      ${r(K.status)} % 100 as p,
      ${r(K.anomaly)} % 100 as a,
      case when ${r(K.quantity)} % 20 = 0 then 2 else 1 end as q,
      ${r(K.user)} % ${plan.users} as u,
      ${r(K.flag)} % ${SERVER_FLAGS} + 1 as f,
      ${r(K.delay)} % ${payWithinMs} as d
    from ${f.series(lo, hi)}`
  const timed = `select b.*, created_at + ${plan.ttlMs} as expire_at, created_at + ${payAfterMs} + d as pay_at,
      created_at + ${Math.floor(payAfterMs / 2)} + d as cancel_at,
      ${byGoods((g) => String(g.id))} as goods_id, ${byGoods((g) => lit(g.item))} as item,
      ${byGoods((g) => lit(JSON.stringify(g.item)))} as item_json, ${byGoods((g) => String(g.priceFen))} as price
    from (${base}) as b`
  return `(select t.*,
      concat('${plan.prefix}-', ${FIRST_NUMBER} + m) as order_no,
      concat('${plan.prefix}-u', u) as user_id,
      concat('s', f) as server_flag,
      price * q as amount_fen,
      ${yuan(0)} as yuan,
      ${yuan(100)} as wrong_yuan,
      ${number('P')} as gyyx,
      ${number('D')} as gyyx_twice,
      ${number('M')} as gyyx_wrong,
      case when p < 60 and pay_at <= ${plan.now} then 'paid'
        when p >= 60 and p < 75 and cancel_at <= ${plan.now} then 'cancelled'
        when created_at + ${plan.ttlMs} <= ${plan.now} then 'expired'
        else 'unpaid' end as status
    from (${timed}) as t) as o`
}

/** The chunk's INSERT … SELECT statements, in order. */
function inserts (plan: Plan, f: Flavor, lit: (s: string) => string, lo: number, hi: number): Insert[] {
  const o = source(plan, f, lit, lo, hi)
  const changedAt = 'case status when \'paid\' then pay_at when \'cancelled\' then cancel_at when \'expired\' then expire_at else created_at end'
  const callbackParams = (gyyx: string, yuan: string, at: string) => `concat('{"game_order_no":"', order_no, '","gyyx_order_no":"', ${gyyx},
    '","result":"success","result_message":"","rmb_yuan":', ${yuan}, ',"server_flag":"', server_flag, '","common_param":"","timestamp":"',
    ${f.div(at, 1000)}, '","signType":"MD5","sign":"00000000000000000000000000000000"}')`
  const callbackColumns = 'received_at, source_ip, trace_id, game_order_no, gyyx_order_no, params, sign_type, signature, outcome, anomaly'
  const statements: Insert[] = [
    {
      table: 'orders',
      text: `insert into orders (order_no, user_id, goods_id, item, price_fen, amount_num, amount_fen, server_flag, description,
        game_role_id, game_role_name, game_role_grade, status, open_key, created_at, expire_at, updated_at, paid_at, gyyx_order_no,
        paid_fen, late_payment, verify_count, first_verified_at, first_verify_trace_id)
      select order_no, user_id, goods_id, item, price, q, amount_fen, server_flag, null,
        concat('role-', u), null, null, status, case when status = 'unpaid' then concat('seed:', order_no) end,
        created_at, expire_at, ${changedAt},
        case when status = 'paid' then pay_at end, case when status = 'paid' then gyyx end, case when status = 'paid' then amount_fen end,
        0,
        case when status <> 'paid' or n % 20 = 0 then 0 when n % 7 = 0 then 2 else 1 end,
        case when status = 'paid' and n % 20 <> 0 then pay_at + 800 + n % 4000 end,
        case when status = 'paid' and n % 20 <> 0 then concat('seed-v-', m) end
      from ${o}`,
    },
    {
      table: 'orderEvents',
      text: `insert into order_events (order_no, from_status, to_status, actor, reason, trace_id, created_at)
      select order_no, null, 'unpaid', 'user', 'create', concat('seed-c-', m), created_at from ${o}`,
    },
    {
      table: 'orderEvents',
      text: `insert into order_events (order_no, from_status, to_status, actor, reason, trace_id, created_at)
      select order_no, 'unpaid', status,
        case status when 'paid' then 'platform' when 'cancelled' then 'user' else 'system' end,
        case status when 'paid' then 'callback' when 'cancelled' then 'cancel' else 'ttl' end,
        case status when 'paid' then concat('seed-p-', m) when 'cancelled' then concat('seed-x-', m) end,
        ${changedAt}
      from ${o} where status <> 'unpaid'`,
    },
    {
      table: 'payments',
      also: 'paid',
      text: `insert into payments (gyyx_order_no, order_no, amount_fen, kind, result, result_message, server_flag, common_param,
        platform_timestamp, trace_id, created_at, applied_by)
      select gyyx, order_no, amount_fen, 'applied', 'success', '', server_flag, '', concat('', ${f.div('pay_at', 1000)}),
        concat('seed-p-', m), pay_at, null
      from ${o} where status = 'paid'`,
    },
    {
      table: 'payments',
      text: `insert into payments (gyyx_order_no, order_no, amount_fen, kind, result, result_message, server_flag, common_param,
        platform_timestamp, trace_id, created_at, applied_by)
      select gyyx_twice, order_no, amount_fen, 'duplicate', 'success', '', server_flag, '', concat('', ${f.div('pay_at + 60000', 1000)}),
        concat('seed-d-', m), pay_at + 60000, null
      from ${o} where status = 'paid' and a = 0`,
    },
    {
      table: 'callbacks',
      text: `insert into callbacks (${callbackColumns})
      select pay_at, '203.0.113.7', concat('seed-p-', m), order_no, gyyx, ${callbackParams('gyyx', 'yuan', 'pay_at')}, 'MD5', 'valid', 'paid', 0
      from ${o} where status = 'paid'`,
    },
    {
      // The anomalies: a paid order paid again under another platform number, or a wrong amount.
      table: 'callbacks',
      also: 'anomalies',
      text: `insert into callbacks (${callbackColumns})
      select case when status = 'paid' then pay_at + 60000 else created_at + 1000 + d end,
        '203.0.113.7',
        case when status = 'paid' then concat('seed-d-', m) else concat('seed-m-', m) end,
        order_no,
        case when status = 'paid' then gyyx_twice else gyyx_wrong end,
        case when status = 'paid' then ${callbackParams('gyyx_twice', 'yuan', 'pay_at + 60000')}
          else ${callbackParams('gyyx_wrong', 'wrong_yuan', 'created_at + 1000 + d')} end,
        'MD5', 'valid',
        case when status = 'paid' then 'duplicate_payment' else 'amount_mismatch' end,
        1
      from ${o} where a = 0`,
    },
  ]
  if (plan.notifyUrl !== null) {
    const eventId = `concat('evt_${plan.prefix}_', ${FIRST_NUMBER} + m)`
    const paidAt = f.iso('pay_at')
    const payload = `concat('{"event_id":"', ${eventId}, '","type":"order.paid","created_at":"', ${paidAt},
      '","data":{"order":"', order_no, '","user_id":"', user_id, '","item":', item_json, ',"item_id":', goods_id,
      ',"amount_num":', q, ',"rmb_yuan":', yuan, ',"gyyx_order_no":"', gyyx, '","status":"paid","paid_at":"', ${paidAt},
      '","server_flag":"', server_flag, '","late_payment":false}}')`
    statements.push({
      table: 'notificationEvents',
      text: `insert into notification_events (event_id, order_no, type, server_flag, payload, status, attempts, next_attempt_at,
        lease_owner, lease_until, created_at, delivered_at, failed_at)
      select ${eventId}, order_no, 'order.paid', server_flag, ${payload}, 'delivered', 1, pay_at + 30000,
        null, pay_at + 30000, pay_at, pay_at + 20 + n % 300, null
      from ${o} where status = 'paid'`,
    }, {
      table: 'notificationAttempts',
      text: `insert into notification_attempts (event_id, attempt, ${f.quote('trigger')}, url, started_at, latency_ms, http_status, error, response_head)
      select ${eventId}, 1, 'schedule', ${lit(plan.notifyUrl)}, pay_at + 5, 15 + n % 300, 200, null, 'ok'
      from ${o} where status = 'paid'`,
    })
  }
  return statements
}

interface Counts {
  orders: number
  orderEvents: number
  payments: number
  callbacks: number
  notificationEvents: number
  notificationAttempts: number
  paid: number
  anomalies: number
}

/** One statement, and what the rows it adds count as. */
interface Insert { table: keyof Counts, also?: keyof Counts, text: string }

/** The prefix's numbers already in the database: a new seed numbers on after the highest. */
async function numberedSoFar (db: Kysely<DB>, prefix: string): Promise<number> {
  const row = await db.selectFrom('orders').select((eb) => eb.fn.max('order_no').as('last'))
    .where('order_no', 'like', `${prefix}-%`).executeTakeFirst()
  const last = row?.last
  if (!last) return 0
  const digits = last.slice(prefix.length + 1)
  if (!/^\d{12}$/.test(digits)) throw new SeedRefused(`order ${last} has the prefix ${prefix} but not a seeded number; seed with another --prefix`)
  return Number(digits) - FIRST_NUMBER
}

const SEEDED_TABLES = ['orders', 'order_events', 'payments', 'callbacks', 'notification_events', 'notification_attempts']

interface SecondaryIndex { table: string, name: string, create: string }

/**
 * The seeded tables' non-unique indexes, as statements that create them again. They are dropped
 * while seeding and built once at the end: a sorted build of a whole index takes seconds, where
 * keeping ten indexes up to date row by row (user ids, statuses, flags land all over them) makes
 * a 10-million-order seed take hours once they outgrow the database's cache. Unique keys stay.
 */
async function secondaryIndexes (db: Kysely<any>, dialect: DialectName): Promise<SecondaryIndex[]> {
  if (dialect === 'postgres') {
    const { rows } = await sql<{ table: string, name: string, create: string }>`
      select t.relname as "table", i.relname as name, pg_get_indexdef(i.oid) as "create"
      from pg_index x join pg_class i on i.oid = x.indexrelid join pg_class t on t.oid = x.indrelid
        join pg_namespace ns on ns.oid = t.relnamespace
      where ns.nspname = current_schema() and t.relname in (${sql.join(SEEDED_TABLES)})
        and not x.indisunique and not x.indisprimary
      order by t.relname, i.relname`.execute(db)
    return rows
  }
  if (dialect === 'sqlite') {
    const { rows } = await sql<{ table: string, name: string, create: string }>`
      select tbl_name as "table", name, sql as "create" from sqlite_master
      where type = 'index' and sql is not null and upper(sql) not like 'CREATE UNIQUE%' and tbl_name in (${sql.join(SEEDED_TABLES)})
      order by tbl_name, name`.execute(db)
    return rows
  }
  const { rows } = await sql<{ table: string, name: string, column: string, part: number | null }>`
    select table_name as \`table\`, index_name as name, column_name as \`column\`, sub_part as part
    from information_schema.STATISTICS
    where table_schema = database() and non_unique = 1 and table_name in (${sql.join(SEEDED_TABLES)})
    order by table_name, index_name, seq_in_index`.execute(db)
  const byName = new Map<string, SecondaryIndex & { columns: string[] }>()
  for (const r of rows) {
    const key = `${r.table}.${r.name}`
    const index = byName.get(key) ?? { table: r.table, name: r.name, create: '', columns: [] }
    index.columns.push(`\`${r.column}\`${r.part ? `(${Number(r.part)})` : ''}`)
    byName.set(key, index)
  }
  return [...byName.values()].map(({ table, name, columns }) => ({ table, name, create: `alter table \`${table}\` add index \`${name}\` (${columns.join(', ')})` }))
}

async function dropIndexes (db: Kysely<any>, dialect: DialectName, indexes: SecondaryIndex[]) {
  for (const index of indexes) {
    const drop = dialect === 'mysql' ? `alter table \`${index.table}\` drop index \`${index.name}\`` : `drop index "${index.name}"`
    await sql.raw(drop).execute(db)
  }
}

async function createIndexes (db: Kysely<any>, dialect: DialectName, indexes: SecondaryIndex[]) {
  if (dialect !== 'mysql') {
    for (const index of indexes) await sql.raw(index.create).execute(db)
    return
  }
  // One ALTER per table: InnoDB reads the table once for all its new indexes.
  for (const table of new Set(indexes.map((i) => i.table))) {
    const adds = indexes.filter((i) => i.table === table).map((i) => i.create.replace(/^alter table `[^`]+` /, ''))
    await sql.raw(`alter table \`${table}\` ${adds.join(', ')}`).execute(db)
  }
}

/**
 * Seeds the orders and everything that goes with them. The store should allow long statements
 * (SEED_STATEMENT_TIMEOUT_MS); the tables exist (migrations ran) and goods are on sale.
 *
 * On SQLite and PostgreSQL the whole seed is one transaction, index changes included: stopped or
 * failed, it leaves nothing behind. MySQL commits DDL at once, so there each chunk commits on its
 * own and the indexes are put back however the seeding ends (a killed process leaves them dropped).
 */
export async function seedOrders (store: Store, opts: SeedOptions): Promise<SeedResult> {
  const dialect = store.caps.name
  const prefix = opts.prefix ?? 'seed'
  if (!/^[A-Za-z0-9]{1,16}$/.test(prefix)) throw new RangeError('the prefix must be 1-16 letters or digits')
  if (!Number.isInteger(opts.orders) || opts.orders < 1 || opts.orders > MAX_ORDERS) throw new RangeError(`orders must be 1 to ${MAX_ORDERS}`)
  const now = opts.now ?? Date.now()
  const days = opts.days ?? 90
  const span = days * DAY_MS
  const step = Math.floor(span / opts.orders)
  if (step < 1) throw new RangeError(`${opts.orders} orders do not fit ${days} days one per millisecond`)
  const say = opts.progress ?? (() => {})

  const db = store.db
  const anyOrder = await db.selectFrom('orders').select('order_no').limit(1).executeTakeFirst()
  if (anyOrder && !opts.force) throw new SeedRefused('the database already has orders')
  const goods = (await db.selectFrom('goods').select(['id', 'item', 'price_fen']).where('on_sale', '=', 1).orderBy('id').execute())
    .map((g) => ({ id: toInt(g.id), item: g.item, priceFen: toInt(g.price_fen) }))
  if (goods.length === 0) throw new SeedRefused('no goods are on sale to order')

  const plan: Plan = {
    base: anyOrder ? await numberedSoFar(db, prefix) : 0,
    total: opts.orders,
    users: opts.users ?? Math.max(1, Math.ceil(opts.orders / 20)),
    start: now - span,
    step,
    // Orders stay in time order: each one's jitter is less than the step.
    jitter: Math.max(1, Math.min(1000, step)),
    now,
    ttlMs: opts.orderTtlMs ?? 1_800_000,
    prefix,
    goods,
    notifyUrl: opts.notifyUrl ?? null,
  }
  if (plan.base + plan.total >= FIRST_NUMBER * 9) throw new RangeError('the prefix has no room for that many more orders')
  const flavor = await flavorOf(db, dialect)
  const lit = (s: string) => sql.lit(s).compile(db).sql
  const counts: Counts = { orders: 0, orderEvents: 0, payments: 0, callbacks: 0, notificationEvents: 0, notificationAttempts: 0, paid: 0, anomalies: 0 }
  const atomic = dialect !== 'mysql'
  const started = performance.now()
  let indexMs = 0

  async function fill (conn: Kysely<DB>) {
    for (let lo = 1; lo <= plan.total; lo += CHUNK) {
      // SQLite runs each statement synchronously: let a signal (Ctrl-C) be heard between chunks.
      await nextTurn()
      if (opts.signal?.aborted) throw new SeedStopped(lo - 1)
      const hi = Math.min(plan.total, lo + CHUNK - 1)
      const before = flavor.beforeChunk?.(lo, hi)
      if (before) await sql.raw(before).execute(conn)
      const chunk = async (trx: Kysely<DB>) => {
        for (const { table, also, text } of inserts(plan, flavor, lit, lo, hi)) {
          const added = Number((await sql.raw(text).execute(trx)).numAffectedRows ?? 0)
          counts[table] += added
          if (also) counts[also] += added
        }
      }
      if (atomic) await chunk(conn)
      else await conn.transaction().execute(chunk)
      const elapsedMs = performance.now() - started
      const rate = hi / (elapsedMs / 1000)
      const left = hi < plan.total ? `, about ${duration(((plan.total - hi) / rate) * 1000)} left` : ''
      say(`  ${count(hi)} / ${count(plan.total)} orders (${Math.floor((hi / plan.total) * 100)} %) in ${duration(elapsedMs)}, ` +
        `${count(Math.round(rate))} orders/s${left}`)
    }
  }

  async function withoutIndexes (conn: Kysely<DB>) {
    const indexes = await secondaryIndexes(conn, dialect)
    await dropIndexes(conn, dialect, indexes)
    let filled = false
    try {
      await fill(conn)
      filled = true
    } finally {
      // On MySQL the indexes go back whatever happened; elsewhere a failure rolls their drop back.
      if (filled || !atomic) {
        say(`  building ${indexes.length} indexes`)
        const building = performance.now()
        await createIndexes(conn, dialect, indexes)
        indexMs = performance.now() - building
      }
    }
  }

  await db.connection().execute(async (conn) => {
    // Session settings for the bulk load, put back before the connection returns to the pool.
    const settings = {
      sqlite: [['pragma cache_size = -1000000', 'pragma cache_size = -2000']],
      // The one commit need not wait for the disk: a seed that is lost is done again, and no one was told "paid".
      postgres: [['set synchronous_commit = off', 'reset synchronous_commit'], ['set maintenance_work_mem = \'512MB\'', 'reset maintenance_work_mem']],
      mysql: [['set session unique_checks = 0', 'set session unique_checks = 1']],
    }[dialect]
    for (const [on] of settings) await sql.raw(on).execute(conn)
    try {
      if (atomic) await conn.transaction().execute(withoutIndexes)
      else await withoutIndexes(conn)
    } finally {
      for (const [, off] of settings) await sql.raw(off).execute(conn).catch(() => {})
    }
  })
  const seedMs = performance.now() - started

  // Fresh statistics, as a database that has been running a while has them.
  say(`  ${dialect === 'postgres' ? 'VACUUM ANALYZE' : 'ANALYZE'}`)
  const analyzing = performance.now()
  if (dialect === 'sqlite') {
    // Sampled: a full ANALYZE reads every index of every table.
    await sql`pragma analysis_limit = 1000`.execute(db)
    await sql`analyze`.execute(db)
  } else if (dialect === 'postgres') {
    // VACUUM too: the visibility map it writes lets index-only scans skip the table.
    await sql.raw(`vacuum (analyze) ${SEEDED_TABLES.join(', ')}`).execute(db)
  } else {
    await sql.raw(`analyze table ${SEEDED_TABLES.join(', ')}`).execute(db)
  }
  const number = (m: number) => `${prefix}-${FIRST_NUMBER + m}`
  return {
    ...counts,
    firstOrderNo: number(plan.base + 1),
    lastOrderNo: number(plan.base + plan.total),
    seedMs,
    indexMs,
    analyzeMs: performance.now() - analyzing,
  }
}

const duration = (ms: number) => {
  const s = Math.round(ms / 1000)
  return s < 60 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(s / 60)} min ${s % 60} s`
}
const count = (n: number) => n.toLocaleString('en-US')

export const SEED_OPTIONS = {
  orders: { type: 'string' },
  users: { type: 'string' },
  days: { type: 'string', default: '90' },
  prefix: { type: 'string', default: 'seed' },
  force: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

export const SEED_HELP = `gamepay seed --orders N [--users N] [--days 90] [--prefix seed] [--force]

Fills the configured database (DATABASE_URL, the environment then .env) with N orders of the
last --days days and what goes with them: ~60 % paid, each with its payment, callback and, with
NOTIFY_URL set, its delivered order.paid event; a creation event per order and an event per status
change; ~1 % anomalous callbacks. Made inside the database, 10 million orders take minutes. For load
tests and trying the console on a big database, never on one that takes real payments.

  --orders N         orders to make (1 to ${MAX_ORDERS})
  --users N          distinct user ids (default: one per 20 orders)
  --days N           the orders' time span, ending now (default 90)
  --prefix P         order number prefix (default seed): must differ from ORDER_PREFIX, so seeded
                     numbers never meet the ones the service hands out
  --force            seed although the database has orders (numbers go on after earlier seeds)
  -h, --help         this help`

const whole = (name: string, raw: string | undefined, min: number, max: number): number => {
  const n = Number(raw)
  if (raw === undefined || !/^\d+$/.test(raw) || n < min || n > max) {
    throw new CliError(`--${name} must be a whole number from ${min} to ${max}, got ${raw === undefined ? 'nothing' : `"${raw}"`}`, 'gamepay seed --help')
  }
  return n
}

export async function seedCommand (argv: string[], env: CliEnv) {
  const { values } = parseArgs({ args: argv, options: SEED_OPTIONS })
  if (values.help) {
    console.log(SEED_HELP)
    return
  }
  const orders = whole('orders', values.orders, 1, MAX_ORDERS)
  const users = values.users === undefined ? undefined : whole('users', values.users, 1, MAX_ORDERS)
  const days = whole('days', values.days, 1, 3650)
  const prefix = values.prefix
  // Seeding signs nothing: the callback secret's rules are not its business.
  const config = configReader(env, { withOwnKey: true, bypass: 'a configuration that loads' })()
  if (!/^[A-Za-z0-9]{1,16}$/.test(prefix)) throw new CliError(`--prefix must be 1-16 letters or digits, got "${prefix}"`)
  if (prefix === config.orderPrefix) {
    throw new CliError(`--prefix ${prefix} is ORDER_PREFIX: seeded numbers could meet the ones the service hands out`, 'pick another --prefix')
  }
  const { connect } = await import('../db/connect.ts')
  const { migrateToLatest } = await import('../db/migrate.ts')
  const { DEMO_CATALOG, importCatalog, readCatalogFile } = await import('../modules/goods/goods.service.ts')
  const store = connect(config.databaseUrl, { poolSize: 2, statementTimeoutMs: SEED_STATEMENT_TIMEOUT_MS })
  try {
    await migrateToLatest(store)
    // The catalog the service would start with.
    if (config.goodsSeed) await importCatalog(store, readCatalogFile(config.goodsSeed), Date.now())
    else if (!config.production) await importCatalog(store, DEMO_CATALOG, Date.now(), false)
    const notifyUrl = config.notify ? (config.notify.url ?? [...config.notify.urlsByFlag.values()][0] ?? null) : null
    console.log(`seeding ${count(orders)} orders of the last ${days} days into ${store.caps.name}, numbered ${prefix}-…` +
      `${notifyUrl ? ', with their order.paid events' : ''}`)
    // Ctrl-C stops after the chunk in hand, so the seed ends cleanly (on MySQL: its indexes put back).
    const stop = new AbortController()
    const interrupt = () => {
      console.log('  stopping after this chunk (Ctrl-C again to quit at once)')
      stop.abort()
      process.once('SIGINT', () => process.exit(130))
    }
    process.once('SIGINT', interrupt)
    let result: SeedResult
    try {
      result = await seedOrders(store, { orders, users, days, prefix, orderTtlMs: config.orderTtlSeconds * 1000, notifyUrl, force: values.force, progress: console.log, signal: stop.signal })
    } catch (err) {
      if (err instanceof SeedRefused) {
        throw new CliError(`refused: ${err.message}`, err.message.includes('already has orders')
          ? 'gamepay seed --force adds to them (seeded numbers never meet the service\'s)'
          : undefined)
      }
      if (err instanceof SeedStopped) {
        throw new CliError(store.caps.name === 'mysql' ? `${err.message}: those stay` : `${err.message}: nothing was kept`)
      }
      throw err
    } finally {
      process.removeListener('SIGINT', interrupt)
    }
    console.log(`seeded ${count(result.orders)} orders (${count(result.paid)} paid) in ${duration(result.seedMs)} ` +
      `(indexes ${duration(result.indexMs)}), then ${store.caps.name === 'postgres' ? 'VACUUM ANALYZE' : 'ANALYZE'} in ${duration(result.analyzeMs)}: ` +
      `${count(result.orderEvents)} order events, ${count(result.payments)} payments, ${count(result.callbacks)} callbacks ` +
      `(${count(result.anomalies)} anomalies), ${count(result.notificationEvents)} notification events; ` +
      `numbers ${result.firstOrderNo} … ${result.lastOrderNo}`)
  } finally {
    await store.close()
  }
}
