import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { AppContext } from '../../../context.ts'
import { toIso } from '../../../db/values.ts'
import { fenToYuan, parseYuan } from '../../../domain/money.ts'
import { AppError, invalidField, missing } from '../../../errors.ts'
import { languageOf, ok } from '../../../plugins/envelope.ts'
import { FailEnvelope, Iso, responses, Text, Yuan } from '../../envelope.schemas.ts'
import { findOrder } from '../../orders/orders.repository.ts'
import { shanghaiTime } from '../../orders/order-view.ts'
import { recordAudit, type Actor } from '../audit.ts'
import { actorOf, render, STATEMENT_BYTES, type ConsoleDeps } from '../console.plugin.ts'
import { parseShanghaiTime, yuanText } from '../display.ts'
import type { Lang } from '../i18n.ts'
import { exportPaidOrdersCsv } from './export.ts'
import type { PaymentRow } from './reconciliation.repository.ts'
import { buildReport, type ReconciliationReport } from './report.ts'
import { parseStatement, type ParsedStatement, type StatementRow } from './statement.ts'
import './messages.ts'

const api = { tags: ['admin'], security: [{ bearer: [] }] }
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

const DAY_MS = 86_400_000
const SHANGHAI_OFFSET_MS = 8 * 3_600_000 // no daylight saving in Asia/Shanghai since 1991
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
// A report is shown whole through the API; a page stops here, so a wrong file cannot make it unusable.
const ERRORS_SHOWN = 200
const ROWS_SHOWN = 1000
const NOTE_MAX = 1024
const CONTROL = /\p{Cc}/u

const Day = (description: string) => Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$', description, examples: ['2025-03-01'] })
const ExportQuery = Type.Object({
  from: Day('first day paid, Asia/Shanghai'),
  to: Day('last day paid, Asia/Shanghai, included'),
})
const ReportQuery = Type.Object({
  from: Type.Optional(Day('first day of gamepay\'s payments compared, Asia/Shanghai (default: the statement\'s first payment)')),
  to: Type.Optional(Day('last day compared, included (default: the statement\'s last payment)')),
})
// Documents the raw file; no `type`, since the parsed body is a Buffer, which a string schema would refuse.
const StatementFile = Type.Unsafe<Buffer>({ format: 'binary', description: 'the statement CSV file' })
const StatementBody = {
  content: {
    'text/csv': { schema: StatementFile },
    'application/octet-stream': { schema: StatementFile },
    'multipart/form-data': { schema: Type.Object({ statement: StatementFile }) },
  },
}
const ApplyBody = Type.Object({
  gyyx_order_no: Text({ minLength: 1, maxLength: 128, description: "the platform's order number, from the statement" }),
  order_no: Text({ minLength: 1, maxLength: 255, description: 'our order number, from the statement' }),
  amount: Type.Union([Type.Number(), Type.String()], { description: 'yuan, at most two decimals, as on the statement', examples: [30, '30.00'] }),
  paid_at: Text({ minLength: 1, maxLength: 64, description: 'when the platform took the payment: ISO 8601 with an offset, or YYYY-MM-DD HH:mm:ss in Asia/Shanghai', examples: ['2025-03-01T10:04:00+08:00'] }),
  note: Type.Optional(Text({ maxLength: NOTE_MAX, description: 'why, for the audit log and the callback log' })),
})
const ApplyData = Type.Object({
  outcome: Type.String({ description: 'paid, late_paid (the order had been cancelled or had expired) or duplicate_payment (the order was already paid: recorded to be refunded)' }),
  order_no: Type.String(),
})

const StatementRowData = Type.Object({ line: Type.Integer(), gyyx_order_no: Type.String(), order_no: Type.String(), amount: Yuan, paid_at: Iso })
const PaymentData = Type.Object({
  gyyx_order_no: Type.String(),
  order_no: Type.String(),
  amount: Yuan,
  recorded_at: Iso,
  kind: Type.String({ description: 'applied, late or duplicate' }),
  applied_by: Nullable(Type.String({ description: 'the operator who applied it from reconciliation' })),
})
const DifferenceData = Type.Object({ statement: StatementRowData, gamepay: PaymentData })
const ReportData = Type.Object({
  encoding: Type.String({ description: 'utf-8, utf-8-bom or gbk' }),
  window: Nullable(Type.Object({ from: Iso, to: Iso }, { description: "gamepay's payments recorded in [from, to) were compared" })),
  rows: Type.Integer({ description: 'statement rows read' }),
  error_count: Type.Integer(),
  errors: Type.Array(Type.Object({ line: Type.Integer(), message: Type.String() }), { description: `the rows not read, the first ${ERRORS_SHOWN}` }),
  missing_in_gamepay: Type.Array(StatementRowData, { description: 'paid on the platform, no payment in gamepay: lost callbacks' }),
  missing_on_platform: Type.Array(PaymentData, { description: 'payments in gamepay the statement does not list' }),
  amount_differences: Type.Array(DifferenceData),
  order_differences: Type.Array(DifferenceData),
  matched: Type.Integer(),
})

/** Epoch ms of 00:00 Asia/Shanghai of a YYYY-MM-DD day. */
function dayStart (field: string, value: string): number {
  const bad = () => invalidField(field, '须为 YYYY-MM-DD 格式的日期', 'must be a date YYYY-MM-DD')
  const m = DATE.exec(value)
  if (m === null) throw bad()
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const utc = Date.UTC(year, month - 1, day)
  // Date.UTC rolls 2025-02-30 over into March.
  const back = new Date(utc)
  if (year < 1970 || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) throw bad()
  return utc - SHANGHAI_OFFSET_MS
}

/** [from 00:00, the day after `to` 00:00) in Asia/Shanghai: the form's dates include both days. */
function daysWindow (from: string | undefined, to: string | undefined): { from?: number, to?: number } {
  const start = from ? dayStart('from', from) : undefined
  const end = to ? dayStart('to', to) + DAY_MS : undefined
  if (start !== undefined && end !== undefined && end <= start) throw invalidField('to', '不能早于 from', 'must not be before from')
  return { from: start, to: end }
}

const shanghaiDay = (ms: number) => shanghaiTime(ms).slice(0, 10)

const text = (value: unknown) => typeof value === 'string' ? value.trim() : ''

interface ManualApplyInput {
  gyyxOrderNo: string
  orderNo: string
  amountFen: number
  paidAt: number
  note: string
}

/** The apply form (or body) checked again: the statement it came from is not kept, so nothing is taken on trust. */
function readApply (body: Record<string, unknown>): ManualApplyInput {
  const id = (field: string, max: number) => {
    const value = text(body[field])
    if (value === '') throw missing(field)
    if (value.length > max) throw invalidField(field, `长度不能超过 ${max} 个字符`, `must have at most ${max} characters`)
    if (CONTROL.test(value)) throw invalidField(field, '不能含有控制字符', 'must not hold a control character')
    return value
  }
  const gyyxOrderNo = id('gyyx_order_no', 128)
  const orderNo = id('order_no', 255)
  const amount = typeof body.amount === 'number' ? body.amount : text(body.amount)
  if (amount === '') throw missing('amount')
  const amountFen = parseYuan(amount, { allowString: true })
  if (amountFen === null) throw invalidField('amount', '须为最多两位小数的正金额（元）', 'must be a positive amount in yuan with at most two decimals')
  const paidAtText = id('paid_at', 64)
  const paidAt = parseShanghaiTime(paidAtText)
  if (paidAt === null) {
    throw invalidField('paid_at', '须为带时区的 ISO 8601 时间，或北京时间 YYYY-MM-DD HH:mm:ss', 'must be ISO 8601 with an offset, or YYYY-MM-DD HH:mm:ss in Asia/Shanghai')
  }
  const note = text(body.note)
  if (note.length > NOTE_MAX) throw invalidField('note', `长度不能超过 ${NOTE_MAX} 个字符`, `must have at most ${NOTE_MAX} characters`)
  if (note.includes('\0')) throw invalidField('note', '不能含有 NUL 字符', 'must not contain a NUL character')
  return { gyyxOrderNo, orderNo, amountFen, paidAt, note }
}

/**
 * Applies a payment the statement lists and gamepay lacks, through the same transaction as a
 * platform callback, with the operator's audit entry in it. What a callback would refuse or
 * leave unchanged is refused here too.
 */
async function applyLostPayment (ctx: AppContext, actor: Actor, input: ManualApplyInput) {
  const outcome = await ctx.callbacks.applyManual({
    orderNo: input.orderNo,
    gyyxOrderNo: input.gyyxOrderNo,
    amountFen: input.amountFen,
    platformTime: toIso(input.paidAt),
    note: input.note,
    operator: actor.operator,
    sourceIp: actor.sourceIp,
    traceId: actor.traceId,
    audit: async (trx, result, now) => {
      // Read under the paying transaction's lock, before the order changes.
      const order = await findOrder(trx, input.orderNo, false)
      await recordAudit(trx, actor, {
        action: 'payment.manual-apply',
        target: input.orderNo,
        before: { status: order?.status ?? null },
        after: { outcome: result, gyyx_order_no: input.gyyxOrderNo, amount_fen: input.amountFen, note: input.note },
      }, now)
    },
  })
  const g = input.gyyxOrderNo
  switch (outcome) {
    case 'order_not_found': throw new AppError('ORDER_NOT_FOUND', `order_no=${input.orderNo}`)
    case 'amount_mismatch': throw new AppError('AMOUNT_MISMATCH', `amount=${yuanText(input.amountFen)}`)
    case 'gyyx_conflict': throw new AppError('CONFLICT', { zh: `gyyx_order_no ${g} 已是另一订单的付款`, en: `gyyx_order_no ${g} already paid another order` })
    case 'already_applied': throw new AppError('CONFLICT', { zh: `gyyx_order_no ${g} 已入账到该订单`, en: `gyyx_order_no ${g} is already applied to this order` })
  }
  return outcome
}

/** The statement's bytes: the uploaded file (a multipart field's Buffer) or the raw body. */
function statementBytes (value: unknown): Buffer {
  const bytes = Buffer.isBuffer(value) ? value : typeof value === 'string' ? Buffer.from(value) : null
  if (bytes === null || bytes.length === 0) throw invalidField('statement', '为必填项：请上传对账单 CSV 文件', 'is required: upload the statement CSV file')
  return bytes
}

interface Import {
  parsed: ParsedStatement
  report: ReconciliationReport
}

/** Reads and compares a statement; the only thing written is the audit entry saying so. */
async function importStatement (ctx: AppContext, actor: Actor, bytes: Buffer, window: { from?: number, to?: number }): Promise<Import> {
  const parsed = parseStatement(bytes)
  const report = await buildReport(ctx.store, parsed.rows, window)
  const now = ctx.clock()
  await ctx.store.transaction((trx) => recordAudit(trx, actor, {
    action: 'reconciliation.import',
    target: 'reconciliation',
    after: {
      sha256: createHash('sha256').update(bytes).digest('hex'),
      bytes: bytes.length,
      encoding: parsed.encoding,
      window: report.window && { from: toIso(report.window.from), to: toIso(report.window.to) },
      rows: parsed.rows.length,
      errors: parsed.errors.length,
      matched: report.matched,
      missing_in_gamepay: report.missingInGamepay.length,
      missing_on_platform: report.missingOnPlatform.length,
      amount_differences: report.amountDifferences.length,
      order_differences: report.orderDifferences.length,
    },
  }, now))
  return { parsed, report }
}

const rowData = (r: StatementRow) => ({ line: r.line, gyyx_order_no: r.gyyxOrderNo, order_no: r.orderNo, amount: fenToYuan(r.amountFen), paid_at: toIso(r.paidAt) })
const paymentData = (p: PaymentRow) => ({
  gyyx_order_no: p.gyyxOrderNo, order_no: p.orderNo, amount: fenToYuan(p.amountFen), recorded_at: toIso(p.createdAt), kind: p.kind, applied_by: p.appliedBy,
})
const differenceData = (d: { statement: StatementRow, ours: PaymentRow }) => ({ statement: rowData(d.statement), gamepay: paymentData(d.ours) })

function reportData ({ parsed, report }: Import, lang: Lang) {
  return {
    encoding: parsed.encoding,
    window: report.window && { from: toIso(report.window.from), to: toIso(report.window.to) },
    rows: parsed.rows.length,
    error_count: parsed.errors.length,
    errors: parsed.errors.slice(0, ERRORS_SHOWN).map((e) => ({ line: e.line, message: lang === 'zh' ? e.zh : e.message })),
    missing_in_gamepay: report.missingInGamepay.map(rowData),
    missing_on_platform: report.missingOnPlatform.map(paymentData),
    amount_differences: report.amountDifferences.map(differenceData),
    order_differences: report.orderDifferences.map(differenceData),
    matched: report.matched,
  }
}

// What the page shows: yuan with two decimals, Asia/Shanghai time beside the ISO one.
const rowView = (r: StatementRow) => ({
  line: r.line, gyyxOrderNo: r.gyyxOrderNo, orderNo: r.orderNo, amount: yuanText(r.amountFen), paidAtIso: toIso(r.paidAt), paidAt: shanghaiTime(r.paidAt),
})
const paymentView = (p: PaymentRow) => ({
  gyyxOrderNo: p.gyyxOrderNo, orderNo: p.orderNo, amount: yuanText(p.amountFen), recordedAtIso: toIso(p.createdAt), recordedAt: shanghaiTime(p.createdAt), kind: p.kind, appliedBy: p.appliedBy ?? '',
})
const differenceView = (d: { statement: StatementRow, ours: PaymentRow }) => ({ statement: rowView(d.statement), ours: paymentView(d.ours) })
const shown = <T, U>(rows: readonly T[], view: (row: T) => U) => ({ rows: rows.slice(0, ROWS_SHOWN).map(view), count: rows.length })

function reportView ({ parsed, report }: Import, lang: Lang) {
  return {
    encoding: parsed.encoding,
    // [from, to) shown as the first and the last instant compared.
    window: report.window && {
      from: shanghaiTime(report.window.from),
      to: shanghaiTime(report.window.to - 1),
      fromIso: toIso(report.window.from),
      toIso: toIso(report.window.to),
    },
    rows: parsed.rows.length,
    errors: parsed.errors.slice(0, ERRORS_SHOWN).map((e) => ({ line: e.line, message: lang === 'zh' ? e.zh : e.message })),
    errorCount: parsed.errors.length,
    missingInGamepay: shown(report.missingInGamepay, rowView),
    missingOnPlatform: shown(report.missingOnPlatform, paymentView),
    amountDifferences: shown(report.amountDifferences, differenceView),
    orderDifferences: shown(report.orderDifferences, differenceView),
    matched: report.matched,
  }
}

/** The paid orders of [from, to] (days in Asia/Shanghai) as a CSV download, streamed page by page. */
function sendExport (ctx: AppContext, reply: FastifyReply, q: { from?: unknown, to?: unknown }) {
  const from = text(q.from)
  const to = text(q.to)
  if (from === '') throw missing('from')
  if (to === '') throw missing('to')
  const window = daysWindow(from, to) as { from: number, to: number }
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="gamepay-paid-${from}-${to}.csv"`)
    .send(Readable.from(exportPaidOrdersCsv(ctx.store, window.from, window.to)))
}

const formOf = (req: FastifyRequest) => (Buffer.isBuffer(req.body) ? {} : req.body ?? {}) as Record<string, unknown>

/** Reconciliation: the paid-orders export, the statement comparison, and applying lost payments. */
export async function reconciliationRoutes (app: FastifyInstance, deps: ConsoleDeps) {
  // Its own scope, so the raw statement body parsers and the error handler below stay with these routes.
  await app.register(async (scope) => routes(scope, deps))
}

async function routes (app: FastifyInstance, { ctx }: ConsoleDeps) {
  // A statement may also be posted as the raw file.
  app.addContentTypeParser(['text/csv', 'application/octet-stream'], { parseAs: 'buffer', bodyLimit: STATEMENT_BYTES }, (_req, body, done) => {
    done(null, body)
  })

  app.get('/api/admin/reconciliation/export', {
    schema: {
      ...api,
      summary: 'The orders paid on the days from..to (Asia/Shanghai, both included), as a CSV file',
      description: 'Answers the file itself, not the envelope: text/csv; charset=utf-8, UTF-8 with a byte order mark, a header row ' +
        '(order_no, user_id, item, amount_yuan, paid_yuan, gyyx_order_no, server_flag, paid_at, late_payment), amounts in yuan, ' +
        'times as YYYY-MM-DD HH:mm:ss in Asia/Shanghai, ordered by paid_at. Failures answer the JSON envelope.',
      querystring: ExportQuery,
      response: {
        200: { description: 'The CSV file (Content-Disposition: attachment)', content: { 'text/csv': { schema: Type.String() } } },
        '4xx': FailEnvelope,
        '5xx': FailEnvelope,
      },
    },
  }, async (req, reply) => sendExport(ctx, reply, req.query as { from: string, to: string }))

  app.post('/api/admin/reconciliation/report', {
    config: { anyRole: true },
    schema: {
      ...api,
      summary: "Compare the platform's statement with gamepay's payments (changes nothing; recorded in the audit log)",
      description: 'The body is the statement CSV (UTF-8 or GBK; see the statement format in the README), sent raw as text/csv or ' +
        `application/octet-stream, or as the file field \`statement\` of multipart/form-data; at most ${STATEMENT_BYTES / 1024 / 1024} MB. ` +
        "Without from/to, the statement's own span is compared.",
      consumes: ['text/csv', 'application/octet-stream', 'multipart/form-data'],
      querystring: ReportQuery,
      body: StatementBody,
      response: responses(ReportData),
    },
  }, async (req) => {
    const q = req.query as { from?: string, to?: string }
    const imported = await importStatement(ctx, actorOf(req), statementBytes(Buffer.isBuffer(req.body) ? req.body : formOf(req).statement), daysWindow(q.from, q.to))
    return ok(req, reportData(imported, languageOf(req.headers['accept-language'])))
  })

  app.post('/api/admin/reconciliation/apply', {
    schema: {
      ...api,
      summary: 'Apply a payment the statement lists and gamepay lacks (a lost callback), exactly once by gyyx_order_no',
      description: 'Runs as the platform callback would: the order becomes paid (late_paid if it had been cancelled or had expired; ' +
        'duplicate_payment, recorded to be refunded, if it was already paid) and its order.paid notification is sent. ' +
        'Refused: ORDER_NOT_FOUND, AMOUNT_MISMATCH, CONFLICT (gyyx_order_no already applied, or paying another order).',
      body: ApplyBody,
      response: responses(ApplyData),
    },
  }, async (req) => {
    const input = readApply(req.body as Record<string, unknown>)
    const outcome = await applyLostPayment(ctx, actorOf(req), input)
    return ok(req, { outcome, order_no: input.orderNo })
  })

  const page = (reply: FastifyReply, data: Record<string, unknown>) => {
    const now = ctx.clock()
    return render(reply, 'reconciliation', {
      title: reply.locals!.t('reconciliation.title'),
      // A daily statement is usually yesterday's.
      exportFrom: shanghaiDay(now - DAY_MS),
      exportTo: shanghaiDay(now - DAY_MS),
      importFrom: '',
      importTo: '',
      statementMb: STATEMENT_BYTES / 1024 / 1024,
      report: null,
      canApply: reply.request.operator?.role === 'admin',
      ...data,
    })
  }

  app.get('/console/reconciliation', { schema: { hide: true } }, async (_req, reply) => page(reply, {}))

  app.get('/console/reconciliation/export.csv', { schema: { hide: true } }, async (req, reply) =>
    sendExport(ctx, reply, req.query as Record<string, unknown>))

  app.post('/console/reconciliation/import', { config: { anyRole: true }, schema: { hide: true } }, async (req, reply) => {
    const form = formOf(req)
    const importFrom = text(form.from)
    const importTo = text(form.to)
    const window = daysWindow(importFrom || undefined, importTo || undefined)
    const imported = await importStatement(ctx, actorOf(req), statementBytes(form.statement), window)
    return page(reply, { importFrom, importTo, report: reportView(imported, reply.locals!.lang) })
  })

  app.post('/console/reconciliation/apply', { schema: { hide: true } }, async (req, reply) => {
    const input = readApply(formOf(req))
    await applyLostPayment(ctx, actorOf(req), input)
    return reply.redirect(`/console/orders/${encodeURIComponent(input.orderNo)}?done=applied`, 303)
  })
}
