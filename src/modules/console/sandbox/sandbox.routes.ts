import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { toIso } from '../../../db/values.ts'
import { effectiveStatus } from '../../../domain/order-state.ts'
import { AppError, invalidField } from '../../../errors.ts'
import { ok } from '../../../plugins/envelope.ts'
import { responses } from '../../envelope.schemas.ts'
import { findOrder, type Order } from '../../orders/orders.repository.ts'
import { recordAudit } from '../audit.ts'
import { actorOf, render, type ConsoleDeps } from '../console.plugin.ts'
import { timeText, yuanText } from '../display.ts'
import { sandboxCallback, sandboxSignType, type SandboxOutcome } from './sandbox-callback.ts'
import { findSandboxAnswer } from './sandbox.repository.ts'
import './messages.ts'

const OrderParams = Type.Object({ order_no: Type.String({ maxLength: 64, description: 'our order number' }) })
const OutcomeBody = Type.Object({
  outcome: Type.Union([Type.Literal('pay'), Type.Literal('fail')], { description: 'pay: result success; fail: a failed payment attempt' }),
}, { additionalProperties: false })
const AnswerData = Type.Object({
  gyyx_order_no: Type.String({ description: 'the platform order number the sandbox made up' }),
  sign_type: Type.String(),
  result: Type.String({ description: "the callback route's answer: success or fail" }),
  state: Type.String(),
  message: Type.Optional(Type.String()),
  trace_id: Type.String({ description: "the callback request's trace id (its row in the callback log)" }),
})

const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/

const cannotSign = () => new AppError('CONFLICT', {
  zh: 'CALLBACK_SIGN_TYPES 只接受 RSA2，沙箱无法签名',
  en: 'CALLBACK_SIGN_TYPES accepts RSA2 alone: the sandbox cannot sign',
})

/**
 * The sandbox cashier (SANDBOX_CASHIER=on, never in production): plays the payment platform for
 * an order, sending its signed callback through the real callback route, so the signature check,
 * the effects and the notification outbox all run as for a real payment.
 */
export async function sandboxRoutes (app: FastifyInstance, { ctx }: ConsoleDeps) {
  if (!ctx.config.sandboxCashier) return
  const signType = sandboxSignType(ctx.config)

  async function orderOrThrow (orderNo: string): Promise<Order> {
    const order = await findOrder(ctx.store.db, orderNo, false)
    if (!order) throw new AppError('ORDER_NOT_FOUND', `order_no=${orderNo}`)
    return order
  }

  async function send (req: FastifyRequest, orderNo: string, outcome: SandboxOutcome, lang: string) {
    const order = await orderOrThrow(orderNo)
    if (!signType) throw cannotSign()
    const { gyyxOrderNo, form } = sandboxCallback(order, outcome, signType, ctx.config, ctx.clock())
    // From loopback, as the platform's own request would arrive; CALLBACK_ALLOW_IPS still applies.
    const res = await app.inject({
      method: 'POST',
      url: '/api/pay/callback',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': lang },
      payload: form,
      remoteAddress: '127.0.0.1',
    })
    const body = res.json() as { result: string, state: string, message?: string, trace_id: string }
    const answer = { gyyx_order_no: gyyxOrderNo, sign_type: signType, result: body.result, state: body.state, message: body.message, trace_id: body.trace_id }
    await ctx.store.transaction(async (trx) => {
      await recordAudit(trx, actorOf(req), {
        action: `sandbox.${outcome}`,
        target: orderNo,
        after: { gyyx_order_no: gyyxOrderNo, result: answer.result, state: answer.state, message: answer.message ?? '', callback_trace_id: answer.trace_id },
      }, ctx.clock())
    })
    return answer
  }

  app.post('/api/admin/sandbox/orders/:order_no', {
    schema: {
      tags: ['admin'],
      summary: "Send an order the platform's signed callback (sandbox cashier)",
      description: 'Answers what the callback route answered; the callback itself is in the callback log under data.trace_id.',
      security: [{ bearer: [] }],
      params: OrderParams,
      body: OutcomeBody,
      response: responses(AnswerData),
    },
  }, async (req) => {
    const { order_no: orderNo } = req.params as { order_no: string }
    const { outcome } = req.body as { outcome: SandboxOutcome }
    return ok(req, await send(req, orderNo, outcome, String(req.headers['accept-language'] ?? 'zh')))
  })

  app.get('/console/sandbox', { schema: { hide: true } }, async (req, reply) => {
    const orderNo = (req.query as { order_no?: unknown }).order_no
    if (typeof orderNo === 'string' && orderNo.trim() !== '') return reply.redirect(`/console/sandbox/${encodeURIComponent(orderNo.trim())}`, 303)
    return render(reply, 'sandbox', { title: reply.locals!.t('sandbox.title'), orderNo: '', order: null, notFound: false, ...pageFacts(req) })
  })

  app.get('/console/sandbox/:order_no', { schema: { hide: true, params: OrderParams } }, async (req, reply) => {
    const { order_no: orderNo } = req.params as { order_no: string }
    const order = await findOrder(ctx.store.db, orderNo, false)
    const done = (req.query as { done?: unknown }).done
    const answer = order && typeof done === 'string' && TRACE_ID.test(done) ? await findSandboxAnswer(ctx.store.db, orderNo, done) : undefined
    if (!order) reply.code(404)
    return render(reply, 'sandbox', {
      title: reply.locals!.t('sandbox.title'),
      orderNo,
      order: order ? orderView(order, ctx.clock()) : null,
      notFound: !order,
      answer: answer ?? null,
      ...pageFacts(req),
    })
  })

  app.post('/console/sandbox/:order_no', { schema: { hide: true, params: OrderParams } }, async (req, reply) => {
    const { order_no: orderNo } = req.params as { order_no: string }
    const outcome = (req.body as Record<string, unknown> | undefined)?.outcome
    if (outcome !== 'pay' && outcome !== 'fail') throw invalidField('outcome', '须为 pay 或 fail', 'must be pay or fail')
    await send(req, orderNo, outcome, reply.locals!.lang)
    return reply.redirect(`/console/sandbox/${encodeURIComponent(orderNo)}?done=${encodeURIComponent(req.id)}`, 303)
  })

  function pageFacts (req: FastifyRequest) {
    return { signType, canSend: signType !== null && req.operator?.role === 'admin', isAdmin: req.operator?.role === 'admin' }
  }
}

function orderView (order: Order, now: number) {
  return {
    orderNo: order.orderNo,
    item: order.item,
    goodsId: order.goodsId,
    amount: yuanText(order.amountFen),
    status: effectiveStatus(order.status, order.expireAt, now),
    serverFlag: order.serverFlag,
    expire: timeText(order.expireAt),
    expireIso: toIso(order.expireAt),
    paidAt: order.paidAt === null ? null : timeText(order.paidAt),
    paidAtIso: order.paidAt === null ? null : toIso(order.paidAt),
    gyyxOrderNo: order.gyyxOrderNo,
  }
}
