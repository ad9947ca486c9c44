import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { toIso } from '../../../db/values.ts'
import { fenToYuan } from '../../../domain/money.ts'
import { AppError, invalidField } from '../../../errors.ts'
import { ok } from '../../../plugins/envelope.ts'
import { Iso, responses, Yuan } from '../../envelope.schemas.ts'
import { actorOf, render, type ConsoleDeps } from '../console.plugin.ts'
import { timeText, yuanText } from '../display.ts'
import { findGoodsRecord, listGoods, listPriceHistory, type GoodsRecord, type PriceHistoryEntry } from './goods-admin.repository.ts'
import { createGoodsAdmin, goodsIdOf, goodsName, goodsPrice, type GoodsChange } from './goods-admin.service.ts'
import './messages.ts'

const GoodsData = Type.Object({
  id: Type.Integer(),
  item: Type.String({ description: 'the name players order by' }),
  price: Yuan,
  on_sale: Type.Boolean(),
  created_at: Iso,
  updated_at: Iso,
})

const PriceChangeData = Type.Object({
  id: Type.Integer(),
  goods_id: Type.Integer(),
  old_price: Type.Union([Yuan, Type.Null()], { description: 'null: the price the goods were created with' }),
  new_price: Yuan,
  changed_by: Type.String({ description: "the operator, or 'import' for a catalog import" }),
  changed_at: Iso,
  trace_id: Type.Union([Type.String(), Type.Null()]),
})

const IdParams = Type.Object({ id: Type.String({ description: 'goods id', examples: ['2'] }) })
const Price = Type.Union([Type.Number(), Type.String()], { description: 'yuan above 0, at most two decimals', examples: [30, '6.48'] })

const CreateBody = Type.Object({
  id: Type.Optional(Type.Integer({ minimum: 1, maximum: 999_999_999_999_999, description: 'omitted: the next free id' })),
  item: Type.String({ description: 'unique name, 1-255 characters' }),
  price: Price,
  on_sale: Type.Optional(Type.Boolean({ default: true })),
}, { additionalProperties: false })

const ChangeBody = Type.Object({
  item: Type.Optional(Type.String()),
  price: Type.Optional(Price),
  on_sale: Type.Optional(Type.Boolean()),
}, { additionalProperties: false })

const HistoryQuery = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })) })

const DONE = new Set(['created', 'updated', 'unchanged', 'off-sale', 'on-sale'])
const api = { tags: ['admin'], security: [{ bearer: [] }] }

const goodsData = (g: GoodsRecord) => ({
  id: g.id, item: g.item, price: fenToYuan(g.priceFen), on_sale: g.onSale, created_at: toIso(g.createdAt), updated_at: toIso(g.updatedAt),
})

const historyData = (h: PriceHistoryEntry) => ({
  id: h.id,
  goods_id: h.goodsId,
  old_price: h.oldPriceFen === null ? null : fenToYuan(h.oldPriceFen),
  new_price: fenToYuan(h.newPriceFen),
  changed_by: h.changedBy,
  changed_at: toIso(h.changedAt),
  trace_id: h.traceId,
})

// What the pages show: yuan with two decimals and Shanghai time.
const goodsRow = (g: GoodsRecord) => ({
  id: g.id,
  item: g.item,
  price: yuanText(g.priceFen),
  onSale: g.onSale,
  created: timeText(g.createdAt),
  createdIso: toIso(g.createdAt),
  updated: timeText(g.updatedAt),
  updatedIso: toIso(g.updatedAt),
})

const historyRow = (h: PriceHistoryEntry) => ({
  old: h.oldPriceFen === null ? null : yuanText(h.oldPriceFen),
  new: yuanText(h.newPriceFen),
  by: h.changedBy,
  at: timeText(h.changedAt),
  atIso: toIso(h.changedAt),
  trace: h.traceId ?? '',
})

const formOf = (req: FastifyRequest) => (req.body ?? {}) as Record<string, unknown>
const doneOf = (req: FastifyRequest) => {
  const done = (req.query as { done?: unknown }).done
  return typeof done === 'string' && DONE.has(done) ? done : null
}
const canChange = (req: FastifyRequest) => req.operator?.role === 'admin'

/** The catalog: goods, their prices and price history, whether they are on sale. */
export async function goodsAdminRoutes (app: FastifyInstance, { ctx }: ConsoleDeps) {
  const admin = createGoodsAdmin({ store: ctx.store, clock: ctx.clock })

  async function goodsOrThrow (id: number): Promise<GoodsRecord> {
    const goods = await findGoodsRecord(ctx.store.db, id)
    if (!goods) throw new AppError('GOODS_NOT_FOUND', `id=${id}`)
    return goods
  }

  app.get('/api/admin/goods', {
    schema: { ...api, summary: 'All goods, on sale or not', response: responses(Type.Array(GoodsData)) },
  }, async (req) => ok(req, (await listGoods(ctx.store.db)).map(goodsData)))

  app.get('/api/admin/goods/:id', {
    schema: { ...api, summary: 'One goods', params: IdParams, response: responses(GoodsData) },
  }, async (req) => ok(req, goodsData(await goodsOrThrow(goodsIdOf((req.params as { id: string }).id)))))

  app.post('/api/admin/goods', {
    schema: { ...api, summary: 'Create goods (recorded in the price history and the audit log)', body: CreateBody, response: responses(GoodsData) },
  }, async (req) => {
    const body = req.body as { id?: number, item: string, price: unknown, on_sale?: boolean }
    const goods = await admin.create(actorOf(req), { id: body.id ?? null, item: goodsName(body.item), priceFen: goodsPrice(body.price), onSale: body.on_sale ?? true })
    return ok(req, goodsData(goods))
  })

  app.patch('/api/admin/goods/:id', {
    schema: {
      ...api,
      summary: 'Change the name, the price (existing orders keep theirs) or the sale state',
      params: IdParams,
      body: ChangeBody,
      response: responses(GoodsData),
    },
  }, async (req) => {
    const body = req.body as { item?: string, price?: unknown, on_sale?: boolean }
    const change: GoodsChange = {
      item: body.item === undefined ? undefined : goodsName(body.item),
      priceFen: body.price === undefined ? undefined : goodsPrice(body.price),
      onSale: body.on_sale,
    }
    const { goods } = await admin.change(actorOf(req), goodsIdOf((req.params as { id: string }).id), change)
    return ok(req, goodsData(goods))
  })

  app.get('/api/admin/goods/:id/price-history', {
    schema: { ...api, summary: "A goods' price changes, newest first", params: IdParams, querystring: HistoryQuery, response: responses(Type.Array(PriceChangeData)) },
  }, async (req) => {
    const goods = await goodsOrThrow(goodsIdOf((req.params as { id: string }).id))
    const { limit } = req.query as { limit?: number }
    return ok(req, (await listPriceHistory(ctx.store.db, goods.id, limit ?? 100)).map(historyData))
  })

  app.get('/console/goods', { schema: { hide: true } }, async (req, reply) => {
    const goods = (await listGoods(ctx.store.db)).map(goodsRow)
    return render(reply, 'goods', { title: reply.locals!.t('goods.title'), goods, done: doneOf(req), canChange: canChange(req) })
  })

  app.post('/console/goods', { schema: { hide: true } }, async (req, reply) => {
    const form = formOf(req)
    const rawId = typeof form.id === 'string' ? form.id.trim() : ''
    const id = rawId === '' ? null : goodsIdOrInvalid(rawId)
    const goods = await admin.create(actorOf(req), { id, item: goodsName(form.item), priceFen: goodsPrice(form.price), onSale: true })
    return reply.redirect(`/console/goods/${goods.id}?done=created`, 303)
  })

  app.get('/console/goods/:id', { schema: { hide: true } }, async (req, reply) => {
    const goods = await goodsOrThrow(goodsIdOf((req.params as { id: string }).id))
    const history = (await listPriceHistory(ctx.store.db, goods.id, 100)).map(historyRow)
    return render(reply, 'goods-detail', { title: goods.item, goods: goodsRow(goods), history, done: doneOf(req), canChange: canChange(req) })
  })

  app.post('/console/goods/:id', { schema: { hide: true } }, async (req, reply) => {
    const id = goodsIdOf((req.params as { id: string }).id)
    const form = formOf(req)
    const { changed } = await admin.change(actorOf(req), id, { item: goodsName(form.item), priceFen: goodsPrice(form.price) })
    return reply.redirect(`/console/goods/${id}?done=${changed ? 'updated' : 'unchanged'}`, 303)
  })

  app.post('/console/goods/:id/sale', { schema: { hide: true } }, async (req, reply) => {
    const id = goodsIdOf((req.params as { id: string }).id)
    const value = formOf(req).on_sale
    if (value !== 'true' && value !== 'false') throw invalidField('on_sale', '须为 true 或 false', 'must be true or false')
    const onSale = value === 'true'
    const { changed } = await admin.change(actorOf(req), id, { onSale })
    return reply.redirect(`/console/goods/${id}?done=${!changed ? 'unchanged' : onSale ? 'on-sale' : 'off-sale'}`, 303)
  })
}

function goodsIdOrInvalid (value: string): number {
  if (!/^[1-9]\d{0,14}$/.test(value)) throw invalidField('id', '须为正整数', 'must be a positive integer')
  return Number(value)
}
