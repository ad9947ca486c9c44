import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { toIso } from '../../../db/values.ts'
import { fenToYuan } from '../../../domain/money.ts'
import { invalidField } from '../../../errors.ts'
import { ok } from '../../../plugins/envelope.ts'
import { Iso, responses, Text, Yuan } from '../../envelope.schemas.ts'
import { shanghaiTime } from '../../orders/order-view.ts'
import { actorOf, render, type ConsoleDeps } from '../console.plugin.ts'
import { ANOMALY_KINDS, type AnomalyItem, type AnomalyKind, type Show } from './anomalies.repository.ts'
import { createAnomaliesService, isAnomalyKind, MAX_PER_KIND, NOTE_MAX, REFUND_NO_MAX, toYuanText } from './anomalies.service.ts'
import './messages.ts'

const api = { tags: ['admin'], security: [{ bearer: [] }] }
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

const Kind = Type.Enum([...ANOMALY_KINDS], { description: 'what needs a person' })
const Resolved = Type.Enum(['false', 'true', 'all'], { description: 'false (default): unresolved only; true: resolved only; all: both' })

const ItemData = Type.Object({
  kind: Type.String(),
  ref: Type.String({ description: 'callback id, payment id, event_id, or <ip>@<hour start ISO>' }),
  at: Iso,
  order_no: Nullable(Type.String()),
  gyyx_order_no: Nullable(Type.String()),
  amount: Nullable(Yuan),
  order_amount: Nullable(Yuan),
  source_ip: Nullable(Type.String()),
  trace_id: Nullable(Type.String()),
  payment_id: Nullable(Type.Integer()),
  refundable: Type.Boolean({ description: 'a duplicate or late payment without a refund recorded yet' }),
  refund: Nullable(Type.Object({ refund_no: Type.String(), amount: Yuan, refunded_at: Iso })),
  count: Nullable(Type.Integer({ description: 'bad signatures in the hour, or attempts at the notification' })),
  resolved: Nullable(Type.Object({ note: Type.String(), by: Type.String(), at: Iso })),
})

const ListQuery = Type.Object({
  kind: Type.Optional(Kind),
  resolved: Type.Optional(Resolved),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PER_KIND, default: MAX_PER_KIND, description: 'items of each kind at most' })),
})

const ResolveBody = Type.Object({
  kind: Kind,
  ref: Text({ minLength: 1, maxLength: 255 }),
  note: Text({ minLength: 1, maxLength: NOTE_MAX }),
})
const ResolveData = Type.Object({ kind: Type.String(), ref: Type.String(), note: Type.String(), resolved_by: Type.String(), resolved_at: Iso, target: Type.String() })

const PaymentParams = Type.Object({ id: Type.String({ description: 'payment id', examples: ['12'] }) })
const RefundBody = Type.Object({
  refund_no: Text({ minLength: 1, maxLength: REFUND_NO_MAX, description: "the platform's refund number" }),
  amount: Type.Union([Type.Number(), Type.String()], { description: 'yuan above 0, at most two decimals, at most the payment', examples: [30, '6.48'] }),
  refunded_at: Text({ maxLength: 64, description: 'ISO 8601, or YYYY-MM-DD HH:mm read as Asia/Shanghai', examples: ['2025-03-01T16:30:00+08:00', '2025-03-01 16:30'] }),
})
const RefundData = Type.Object({
  payment_id: Type.Integer(),
  order_no: Type.String(),
  refund_no: Type.String(),
  amount: Yuan,
  refunded_at: Iso,
  resolved: Type.Boolean({ description: "whether this also resolved the payment's anomaly" }),
})

const EventParams = Type.Object({ event_id: Text({ minLength: 1, maxLength: 64 }) })
const ResendData = Type.Object({
  event_id: Type.String(),
  order_no: Type.String(),
  attempt: Type.Integer(),
  delivered: Type.Boolean({ description: 'the endpoint answered 2xx' }),
  http_status: Nullable(Type.Integer()),
  error: Nullable(Type.String()),
  status: Type.String({ description: 'the event status now: pending, delivered or failed' }),
})

const SHOW: Record<string, Show> = { false: 'unresolved', true: 'resolved', all: 'all' }
const DONE = new Set(['resolved', 'refunded', 'resent', 'resend_failed'])

const refundable = (i: AnomalyItem) => i.paymentId !== null && i.refund === null

const itemData = (i: AnomalyItem) => ({
  kind: i.kind,
  ref: i.ref,
  at: toIso(i.at),
  order_no: i.orderNo,
  gyyx_order_no: i.gyyxOrderNo,
  amount: i.amountFen === null ? null : fenToYuan(i.amountFen),
  order_amount: i.orderAmountFen === null ? null : fenToYuan(i.orderAmountFen),
  source_ip: i.sourceIp,
  trace_id: i.traceId,
  payment_id: i.paymentId,
  refundable: refundable(i),
  refund: i.refund && { refund_no: i.refund.refundNo, amount: fenToYuan(i.refund.amountFen), refunded_at: toIso(i.refund.refundedAt) },
  count: i.count,
  resolved: i.resolution && { note: i.resolution.note, by: i.resolution.by, at: toIso(i.resolution.at) },
})

// What the page shows: yuan with two decimals, Asia/Shanghai time beside the ISO one.
const itemRow = (i: AnomalyItem) => ({
  kind: i.kind,
  ref: i.ref,
  atIso: toIso(i.at),
  at: shanghaiTime(i.at),
  orderNo: i.orderNo,
  gyyxOrderNo: i.gyyxOrderNo ?? '',
  amount: i.amountFen === null ? '' : toYuanText(i.amountFen),
  orderAmount: i.orderAmountFen === null ? '' : toYuanText(i.orderAmountFen),
  sourceIp: i.sourceIp ?? '',
  traceId: i.traceId ?? '',
  paymentId: i.paymentId,
  refundable: refundable(i),
  refund: i.refund && { refundNo: i.refund.refundNo, amount: toYuanText(i.refund.amountFen), at: shanghaiTime(i.refund.refundedAt) },
  count: i.count,
  resolution: i.resolution && { note: i.resolution.note, by: i.resolution.by, at: shanghaiTime(i.resolution.at) },
})

const formOf = (req: FastifyRequest) => (req.body ?? {}) as Record<string, unknown>
const field = (form: Record<string, unknown>, name: string) => typeof form[name] === 'string' ? form[name] : ''

function paymentIdOf (value: string): number {
  if (!/^[1-9]\d{0,14}$/.test(value)) throw invalidField('id', '须为正整数', 'must be a positive integer')
  return Number(value)
}

/** The anomaly queue, resolutions, refunds of duplicate and late payments, and resending failed notifications. */
export async function anomaliesRoutes (app: FastifyInstance, { ctx }: ConsoleDeps) {
  const anomalies = createAnomaliesService({ store: ctx.store, clock: ctx.clock, notifications: ctx.notifications })

  app.get('/api/admin/anomalies', {
    schema: { ...api, summary: 'What needs a person, newest first (unresolved unless resolved= says otherwise)', querystring: ListQuery, response: responses(Type.Array(ItemData)) },
  }, async (req) => {
    const q = req.query as { kind?: AnomalyKind, resolved?: string, limit?: number }
    const items = await anomalies.list({ kind: q.kind, show: SHOW[q.resolved ?? 'false'], limit: q.limit ?? MAX_PER_KIND })
    return ok(req, items.map(itemData))
  })

  app.post('/api/admin/anomalies/resolve', {
    schema: { ...api, summary: 'Resolve one item with a note (recorded in the audit log; orders and payments stay as they are)', body: ResolveBody, response: responses(ResolveData) },
  }, async (req) => {
    const r = await anomalies.resolve(actorOf(req), req.body as { kind: string, ref: string, note: string })
    return ok(req, { kind: r.kind, ref: r.ref, note: r.note, resolved_by: r.resolvedBy, resolved_at: toIso(r.resolvedAt), target: r.target })
  })

  app.post('/api/admin/payments/:id/refund', {
    schema: {
      ...api,
      summary: "Record the platform's refund of a duplicate or late payment (resolves its anomaly)",
      params: PaymentParams,
      body: RefundBody,
      response: responses(RefundData),
    },
  }, async (req) => {
    const body = req.body as { refund_no: string, amount: unknown, refunded_at: string }
    const id = paymentIdOf((req.params as { id: string }).id)
    const r = await anomalies.refund(actorOf(req), id, { refundNo: body.refund_no, amount: body.amount, refundedAt: body.refunded_at })
    return ok(req, { payment_id: r.paymentId, order_no: r.orderNo, refund_no: r.refundNo, amount: fenToYuan(r.amountFen), refunded_at: toIso(r.refundedAt), resolved: r.resolved })
  })

  app.post('/api/admin/notifications/:event_id/resend', {
    schema: { ...api, summary: 'Send a notification again now, as a new attempt of the same event', params: EventParams, response: responses(ResendData) },
  }, async (req) => {
    const report = await anomalies.resend(actorOf(req), (req.params as { event_id: string }).event_id)
    return ok(req, {
      event_id: report.eventId,
      order_no: report.orderNo,
      attempt: report.attempt,
      delivered: report.result.ok,
      http_status: report.result.httpStatus,
      error: report.result.error,
      status: report.status,
    })
  })

  app.get('/console/anomalies', { schema: { hide: true } }, async (req, reply) => {
    const q = req.query as Record<string, unknown>
    const kind = typeof q.kind === 'string' && q.kind !== '' ? q.kind : undefined
    if (kind !== undefined && !isAnomalyKind(kind)) throw invalidField('kind', `须为 ${ANOMALY_KINDS.join('、')} 之一`, `must be one of ${ANOMALY_KINDS.join(', ')}`)
    const resolved = typeof q.resolved === 'string' && q.resolved in SHOW ? q.resolved : 'false'
    const items = await anomalies.list({ kind, show: SHOW[resolved], limit: MAX_PER_KIND })
    const done = typeof q.done === 'string' && DONE.has(q.done) ? q.done : null
    return render(reply, 'anomalies', {
      title: reply.locals!.t('anomalies.title'),
      items: items.map(itemRow),
      kinds: ANOMALY_KINDS,
      kind: kind ?? '',
      resolved,
      done,
      limit: MAX_PER_KIND,
      canChange: req.operator?.role === 'admin',
    })
  })

  app.post('/console/anomalies/resolve', { schema: { hide: true } }, async (req, reply) => {
    const form = formOf(req)
    await anomalies.resolve(actorOf(req), { kind: field(form, 'kind'), ref: field(form, 'ref'), note: field(form, 'note') })
    return reply.redirect('/console/anomalies?done=resolved', 303)
  })

  app.post('/console/payments/:id/refund', { schema: { hide: true } }, async (req, reply) => {
    const form = formOf(req)
    const id = paymentIdOf((req.params as { id: string }).id)
    await anomalies.refund(actorOf(req), id, { refundNo: field(form, 'refund_no'), amount: field(form, 'amount'), refundedAt: field(form, 'refunded_at') })
    return reply.redirect('/console/anomalies?done=refunded', 303)
  })

  app.post('/console/notifications/:event_id/resend', { schema: { hide: true } }, async (req, reply) => {
    const report = await anomalies.resend(actorOf(req), (req.params as { event_id: string }).event_id)
    return reply.redirect(`/console/anomalies?done=${report.result.ok ? 'resent' : 'resend_failed'}`, 303)
  })
}
