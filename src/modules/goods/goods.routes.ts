import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { invalidField } from '../../errors.ts'
import { ok } from '../../plugins/envelope.ts'
import type { AppContext } from '../../context.ts'
import { goodsSchema } from './goods.schemas.ts'
import { normalizeGoodsId } from './goods.service.ts'

export const goodsRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.get('/api/pay/goods', { schema: goodsSchema }, async (req) => {
    const id = normalizeGoodsId(req.query.id)
    if (id === null) throw invalidField('id', '须为正整数', 'must be a positive integer')
    // From the catalog cache: a price shown here may lag a change by the cache's bound, but
    // create-order checks the price against the stored row.
    return ok(req, await ctx.catalog.get(id))
  })
}
