import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { fenToYuan } from '../../domain/money.ts'
import { invalidField } from '../../errors.ts'
import { ok } from '../../plugins/envelope.ts'
import type { AppContext } from '../../context.ts'
import { goodsSchema } from './goods.schemas.ts'
import { getGoods, normalizeGoodsId } from './goods.service.ts'

export const goodsRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get('/api/pay/goods', { schema: goodsSchema }, async (req) => {
    const id = normalizeGoodsId(req.query.id)
    if (id === null) throw invalidField('id', '须为正整数', 'must be a positive integer')
    const goods = await getGoods(ctx.store.db, id)
    return ok(req, { id: goods.id, item: goods.item, single_pric: fenToYuan(goods.priceFen), on_sale: goods.onSale })
  })
}
