import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ok } from '../../plugins/envelope.ts'
import type { AppContext } from '../../context.ts'
import { cancelOrderSchema, createOrderSchema, verifySchema } from './orders.schemas.ts'

export const ordersRoutes: FastifyPluginAsyncTypebox<{ ctx: AppContext }> = async (app, { ctx }) => {
  app.post('/api/pay/create-order', { schema: createOrderSchema }, async (req) => {
    const key = req.headers['idempotency-key'] ?? null
    return ok(req, await ctx.orders.createOrder(req.body, req.id, key))
  })

  app.post('/api/pay/cancel-order', { schema: cancelOrderSchema }, async (req) =>
    ok(req, await ctx.orders.cancelOrder(req.body.user_id, req.body.order, req.id)))

  app.post('/api/pay/verification', { schema: verifySchema }, async (req) =>
    ok(req, await ctx.orders.verify(req.body, req.id)))
}
