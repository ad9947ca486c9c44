import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { toIso } from '../../../db/values.ts'
import type { OrderStatus } from '../../../domain/order-state.ts'
import { AppError, invalidField } from '../../../errors.ts'
import { ok } from '../../../plugins/envelope.ts'
import { responses } from '../../envelope.schemas.ts'
import { render, type ConsoleDeps } from '../console.plugin.ts'
import { DAY_MS, shanghaiDay, timeText, yuanText } from '../display.ts'
import { DEFAULT_LIMIT, searchOrders, type OrderFilter, type OrderSummary } from './order-search.repository.ts'
import { orderAtAGlance, orderTimeline } from './order-timeline.repository.ts'
import './messages.ts'

const STATUSES: OrderStatus[] = ['unpaid', 'paid', 'cancelled', 'expired']
const text = (maxLength: number) => Type.Optional(Type.String({ maxLength }))

// The console's form sends every field, empty when unused: an empty value means "any".
const SearchQuery = Type.Object({
  order_no: text(64),
  user_id: text(64),
  gyyx_order_no: text(128),
  status: text(16),
  goods_id: text(20),
  server_flag: text(255),
  from: Type.Optional(Type.String({ maxLength: 10, description: 'created on or after this Shanghai day, YYYY-MM-DD' })),
  to: Type.Optional(Type.String({ maxLength: 10, description: 'created on or before this Shanghai day, YYYY-MM-DD' })),
  has_anomaly: Type.Optional(Type.String({ maxLength: 5, description: '1 or true: only orders with an anomalous callback' })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200 })),
  after: text(200),
  lang: text(2),
})
type Search = { [K in keyof typeof SearchQuery.properties]?: K extends 'limit' ? number : string }

function toFilter (q: Search): OrderFilter {
  const given = (v: string | undefined) => v === undefined || v.trim() === '' ? undefined : v.trim()
  const filter: OrderFilter = {
    orderNo: given(q.order_no),
    userId: given(q.user_id),
    gyyxOrderNo: given(q.gyyx_order_no),
    serverFlag: given(q.server_flag),
  }
  const status = given(q.status)
  if (status !== undefined) {
    if (!(STATUSES as string[]).includes(status)) throw invalidField('status', '须为 unpaid、paid、cancelled 或 expired', 'must be unpaid, paid, cancelled or expired')
    filter.status = status as OrderStatus
  }
  const goods = given(q.goods_id)
  if (goods !== undefined) {
    if (!/^[1-9]\d{0,15}$/.test(goods)) throw invalidField('goods_id', '须为正整数', 'must be a positive integer')
    filter.goodsId = Number(goods)
  }
  const from = given(q.from)
  const to = given(q.to)
  if (from !== undefined) filter.from = shanghaiDay(from, 'from')
  if (to !== undefined) filter.to = shanghaiDay(to, 'to') + DAY_MS
  if (['1', 'true', 'on'].includes(q.has_anomaly ?? '')) filter.hasAnomaly = true
  return filter
}

const summaryJson = (o: OrderSummary) => ({
  order_no: o.orderNo,
  user_id: o.userId,
  goods_id: o.goodsId,
  item: o.item,
  amount: yuanText(o.amountFen),
  server_flag: o.serverFlag,
  status: o.status,
  created_at: toIso(o.createdAt),
  paid_at: o.paidAt === null ? null : toIso(o.paidAt),
  gyyx_order_no: o.gyyxOrderNo,
  late_payment: o.latePayment,
  verify_count: o.verifyCount,
  anomaly: o.anomaly,
})

const OrderRow = Type.Object({
  order_no: Type.String(),
  user_id: Type.String(),
  goods_id: Type.Integer(),
  item: Type.String(),
  amount: Type.String({ description: 'yuan, two decimals' }),
  server_flag: Type.String(),
  status: Type.String(),
  created_at: Type.String(),
  paid_at: Type.Union([Type.String(), Type.Null()]),
  gyyx_order_no: Type.Union([Type.String(), Type.Null()]),
  late_payment: Type.Boolean(),
  verify_count: Type.Integer(),
  anomaly: Type.Boolean(),
})

export async function ordersRoutes (app: FastifyInstance, { ctx }: ConsoleDeps) {
  const db = ctx.store.db
  const search = (q: Search) => searchOrders(db, toFilter(q), { limit: q.limit ?? DEFAULT_LIMIT, after: q.after || undefined }, ctx.clock())

  async function timeline (orderNo: string) {
    const found = await orderTimeline(db, orderNo)
    if (!found) throw new AppError('ORDER_NOT_FOUND', `order_no=${orderNo}`)
    return { ...found, glance: orderAtAGlance(found) }
  }

  app.get('/api/admin/orders', {
    schema: {
      tags: ['admin'],
      summary: 'Search orders, newest first (pass `next` as `after` for the following page)',
      security: [{ bearer: [] }],
      querystring: SearchQuery,
      response: responses(Type.Object({ orders: Type.Array(OrderRow), next: Type.Union([Type.String(), Type.Null()]) })),
    },
  }, async (req) => {
    const page = await search(req.query as Search)
    return ok(req, { orders: page.rows.map(summaryJson), next: page.next })
  })

  app.get('/api/admin/orders/:order_no', {
    schema: {
      tags: ['admin'],
      summary: 'An order, the answers at a glance and its whole timeline (reading it never counts as a verification)',
      security: [{ bearer: [] }],
      params: Type.Object({ order_no: Type.String({ maxLength: 64 }) }),
      response: responses(Type.Object({ order: Type.Unknown(), glance: Type.Unknown(), timeline: Type.Array(Type.Unknown()) })),
    },
  }, async (req) => {
    const t = await timeline((req.params as { order_no: string }).order_no)
    return ok(req, { order: t.order, glance: t.glance, timeline: t.entries })
  })

  app.get('/console/orders', { schema: { hide: true, querystring: SearchQuery } }, async (req, reply) => {
    const q = req.query as Search
    const page = await search(q)
    const goods = await db.selectFrom('goods').select(['id', 'item']).orderBy('id').execute()
    const next = page.next ? `/console/orders?${new URLSearchParams({ ...stringsOf(q), after: page.next })}` : null
    return render(reply, 'orders', {
      title: reply.locals!.t('orders.title'),
      q: stringsOf(q),
      statuses: STATUSES,
      goods: goods.map((g) => ({ id: String(g.id), item: g.item })),
      rows: page.rows.map((o) => ({ ...o, amount: yuanText(o.amountFen), created: timeText(o.createdAt), paid: timeText(o.paidAt) })),
      next,
    })
  })

  app.get('/console/orders/:order_no', {
    schema: { hide: true, params: Type.Object({ order_no: Type.String({ maxLength: 64 }) }), querystring: Type.Object({ done: text(32), lang: text(2) }) },
  }, async (req, reply) => {
    const t = await timeline((req.params as { order_no: string }).order_no)
    const tr = reply.locals!.t
    return render(reply, 'order', {
      title: tr('order.title', { order: t.order.orderNo }),
      order: t.order,
      glance: t.glance,
      entries: t.entries,
      done: (req.query as { done?: string }).done ?? '',
      yuan: yuanText,
      time: timeText,
    })
  })
}

/** The filters as given (for the form and the next page's link), without the cursor. */
function stringsOf (q: Search): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '' && k !== 'after' && k !== 'lang') out[k] = String(v)
  return out
}
