import type { KeyObject } from 'node:crypto'
import type { Store } from '../../db/connect.ts'
import type { Executor } from '../../db/database.ts'
import type { Metrics } from '../../metrics.ts'
import { fenToYuan, parseYuan } from '../../domain/money.ts'
import { ANOMALIES, decideCallback, type CallbackOutcome } from '../../domain/payment-effects.ts'
import { parsePlatformTimestamp } from '../../domain/platform-time.ts'
import { buildStringA, normalizeSignType, toSignValue, verifySign, type SignType } from '../../domain/signature.ts'
import { AppError, invalidField, missing } from '../../errors.ts'
import { merge } from '../../merge.ts'
import type { PaidOutbox } from '../notifications/notification-event.ts'
import { fastPath, hasFastPath, oneStatement } from '../orders/fast-path.ts'
import { applyTransition, findOrder } from '../orders/orders.repository.ts'
import type { Params } from './callback-params.ts'
import { findPaymentOrderNo, insertCallback, insertPayment, payUnpaidOrder, type CallbackRecord, type PaidFields, type PayHow, type PaymentRecord } from './payments.repository.ts'

export interface CallbackServiceDeps {
  store: Store
  clock: () => number
  secret: string | null
  signTypes: SignType[]
  rsaPublicKey: KeyObject | null
  successResults: string[]
  maxAgeSeconds: number | null
  metrics: Pick<Metrics, 'callbacks' | 'ordersPaid'>
  /**
   * Where an order that became paid gets its `order.paid` event, in the same transaction.
   * `makesEvents: false` says it never makes one (no NOTIFY_URL of any kind): a payment then
   * needs no transaction around it on PostgreSQL, and is one CALL on MySQL.
   */
  outbox?: PaidOutbox & { makesEvents?: boolean }
}

/** What the route read: every parameter once, or the name of the first one sent twice. */
export interface ReceivedCallback {
  params: Params
  repeated: string | null
  /** A JSON number parameter that a double does not hold exactly. */
  inexact: string | null
  sourceIp: string
  traceId: string
}

const REQUIRED = ['game_order_no', 'gyyx_order_no', 'result', 'rmb_yuan'] as const
// Longest value each stored field holds (the columns' sizes); a Map, so `__proto__` is just a name.
const MAX_LENGTH = new Map(Object.entries({
  game_order_no: 255, gyyx_order_no: 128, result: 255, result_message: 1024, server_flag: 255, common_param: 1024, timestamp: 64,
}))
const MAX_OTHER_LENGTH = 4096
// stringA joins `name=value` with `&` unescaped: a value holding `&name=` could be re-split over
// other parameters under the same signature, so such values (and such names) are refused.
const EMBEDDED_PARAM = /&[A-Za-z0-9_.-]+=/
// A refused callback is logged with at most this much of its parameters: whoever sends it, it
// cannot grow the log faster than the rate limit allows.
const UNVERIFIED_LOG_BYTES = 2048

/** The received parameters as logged, cut to `maxBytes` of UTF-8 when given. */
function paramsText (params: Params, maxBytes?: number): string {
  let text: string
  try {
    text = JSON.stringify(params)
  } catch {
    // A JSON value nested thousands deep (refused as not a string) overflows JSON.stringify's stack.
    text = JSON.stringify(params, (key, value) => key !== '' && typeof value === 'object' && value !== null ? '[nested too deep]' : value)
  }
  if (maxBytes === undefined || Buffer.byteLength(text) <= maxBytes) return text
  const marker = '…[truncated]'
  // Cut on a code point boundary: decoding a cut UTF-8 sequence would add a replacement character.
  const room = maxBytes - Buffer.byteLength(marker)
  let cut = Buffer.from(text).subarray(0, room).toString('utf8')
  while (Buffer.byteLength(cut) > room || cut.endsWith('\uFFFD')) cut = cut.slice(0, -1)
  return cut + marker
}

type Signature = CallbackRecord['signature']

interface ManualApply {
  operator: string
  /** Writes the operator's audit entry in the paying transaction, knowing the outcome. */
  audit: (trx: Executor, outcome: CallbackOutcome, now: number) => Promise<void>
}

export interface ManualPayment extends ManualApply {
  orderNo: string
  gyyxOrderNo: string
  amountFen: number
  /** The statement's payment time, as the platform's timestamp would be kept. */
  platformTime: string
  note: string
  sourceIp: string
  traceId: string
}

/** The checks' result: what the log records about the signature, and the facts or the refusal. */
interface Verdict {
  signType: string | null
  signature: Signature
  refusal?: AppError
  facts?: CheckedCallback
}

interface CheckedCallback {
  amountFen: number
  orderNo: string
  gyyxOrderNo: string
  result: string
  success: boolean
  rest: { resultMessage: string, serverFlag: string, commonParam: string, platformTimestamp: string }
}

export function createCallbackService (deps: CallbackServiceDeps) {
  const { store, clock } = deps
  const lock = store.caps.rowLocks

  /** The parameters as the strings that are signed, after the checks that go with the required fields. */
  function stringParams (cb: ReceivedCallback): Record<string, string | null> {
    if (cb.repeated !== null) throw invalidField(cb.repeated, '重复出现', 'appears more than once')
    if (cb.inexact !== null) {
      throw invalidField(cb.inexact, '数值无法精确表示，请以字符串发送', 'is a number that cannot be represented exactly; send it as a string')
    }
    const params: Record<string, string | null> = Object.create(null)
    for (const [name, value] of Object.entries(cb.params)) {
      const text = toSignValue(value)
      if (text === undefined) throw invalidField(name, '须为字符串或数字', 'must be a string or a number')
      if (name.includes('\0') || text?.includes('\0')) throw invalidField(name, '含有 NUL 字符', 'contains a NUL character')
      if (/[&=]/.test(name)) throw invalidField(name, '参数名不能含有 & 或 =', 'is a parameter name holding & or =')
      if (text !== null && EMBEDDED_PARAM.test(text)) {
        throw invalidField(name, '含有 "&名称=" 形式的内容，须经 URL 编码', 'holds "&name=", which must be URL-encoded')
      }
      if (text !== null && text.length > (MAX_LENGTH.get(name) ?? MAX_OTHER_LENGTH)) throw invalidField(name, '过长', 'is too long')
      params[name] = text
    }
    for (const name of REQUIRED) if (!params[name]) throw missing(name)
    return params
  }

  /** The checks before any effect, in order: required fields, signType, sign, amount, timestamp. */
  function check (cb: ReceivedCallback): Verdict {
    let params: Record<string, string | null>
    try {
      params = stringParams(cb)
    } catch (err) {
      return { signType: null, signature: 'not_checked', refusal: err as AppError }
    }
    // signType wins over sign_type when both are sent; an empty (or null) one counts as not sent.
    const rawType = params.signType || params.sign_type || null
    if (!rawType) return { signType: null, signature: 'not_checked', refusal: missing('signType') }
    const signType = rawType.slice(0, 32)
    const type = normalizeSignType(rawType)
    if (!type || !deps.signTypes.includes(type) || (type === 'RSA2' && !deps.rsaPublicKey)) {
      return { signType, signature: 'not_checked', refusal: new AppError('SIGN_TYPE_UNSUPPORTED', `signType=${rawType}`) }
    }
    if (!params.sign) return { signType, signature: 'missing', refusal: new AppError('SIGN_INVALID', 'sign') }
    if (!verifySign(type, buildStringA(params), params.sign, { secret: deps.secret, publicKey: deps.rsaPublicKey })) {
      return { signType, signature: 'invalid', refusal: new AppError('SIGN_INVALID', 'sign') }
    }
    const verified = (refusal: AppError): Verdict => ({ signType, signature: 'valid', refusal })
    const amountFen = parseYuan(cb.params.rmb_yuan, { allowString: true })
    if (amountFen === null) {
      return verified(invalidField('rmb_yuan', '须为最多两位小数的正金额', 'must be a positive amount with at most two decimals'))
    }
    if (deps.maxAgeSeconds !== null) {
      const sentAt = parsePlatformTimestamp(params.timestamp)
      if (sentAt === null) return verified(new AppError('CALLBACK_FORBIDDEN', 'timestamp'))
      if (Math.abs(clock() - sentAt) > deps.maxAgeSeconds * 1000) {
        return verified(new AppError('CALLBACK_FORBIDDEN', { zh: 'timestamp 已过期', en: 'timestamp is too old or in the future' }))
      }
    }
    const result = params.result as string
    return {
      signType,
      signature: 'valid',
      facts: {
        amountFen,
        orderNo: params.game_order_no as string,
        gyyxOrderNo: params.gyyx_order_no as string,
        result,
        success: deps.successResults.includes(result.toLowerCase()),
        rest: {
          resultMessage: params.result_message ?? '',
          serverFlag: params.server_flag ?? '',
          commonParam: params.common_param ?? '',
          platformTimestamp: params.timestamp ?? '',
        },
      },
    }
  }

  type Received = Pick<ReceivedCallback, 'params' | 'sourceIp' | 'traceId'>

  function logRow (cb: Received, signType: string | null, signature: Signature): CallbackRecord {
    // A refused NUL is still logged: PostgreSQL cannot store one, so it shows as U+FFFD.
    const str = (v: unknown) => typeof v === 'string' || typeof v === 'number'
      ? String(v).slice(0, 255).replaceAll('\0', '\uFFFD')
      : null
    return {
      received_at: clock(),
      source_ip: cb.sourceIp.slice(0, 64),
      trace_id: cb.traceId,
      game_order_no: str(cb.params.game_order_no),
      gyyx_order_no: str(cb.params.gyyx_order_no),
      params: paramsText(cb.params, signature === 'valid' ? undefined : UNVERIFIED_LOG_BYTES),
      sign_type: signType,
      signature,
      outcome: '',
      anomaly: 0,
    }
  }

  /** Logs a refusal; if the database is down, the refusal still answers. */
  async function logRefusal (record: CallbackRecord, state: string): Promise<void> {
    deps.metrics.callbacks.inc({ outcome: state })
    await insertCallback(store.db, merge(record, { outcome: state })).catch(() => {})
  }

  const makesEvents = deps.outbox !== undefined && deps.outbox.makesEvents !== false

  /**
   * The common case, a success that pays an unpaid order on time: one statement on PostgreSQL
   * (in a short transaction with the order.paid event, when one may be made), one CALL on MySQL
   * (a short transaction of its statements when an event may be made). False when it is not that
   * case: nothing was written, and apply decides.
   */
  async function payAtOnce (c: CheckedCallback, record: CallbackRecord): Promise<boolean> {
    if (!hasFastPath(store)) return false
    const now = clock()
    const payment: PaymentRecord = {
      gyyxOrderNo: c.gyyxOrderNo, orderNo: c.orderNo, amountFen: c.amountFen, kind: 'applied', result: c.result, traceId: record.trace_id, now, appliedBy: null, ...c.rest,
    }
    const log = merge(record, { received_at: now, outcome: 'paid', anomaly: 0 })
    // The order.paid event, when one may be made, commits with the payment.
    const paidEvent = (db: Executor) => async (order: PaidFields) => {
      await deps.outbox?.recordPaid(db, merge(order, { gyyxOrderNo: c.gyyxOrderNo, paidAt: now, latePayment: false }))
    }
    const how: PayHow = oneStatement(store) ? 'statement' : makesEvents ? 'transaction' : 'procedure'
    // A transaction only around what writes the event too; the procedure runs its own.
    const paid = await fastPath(store, makesEvents,
      (db) => payUnpaidOrder(db, how, payment, log, makesEvents ? paidEvent(db) : undefined))
    if (paid) deps.outbox?.wake()
    return paid === true
  }

  // Applies the effects table in one transaction with the callback's log row; exactly once by the
  // order row lock (or SQLite's single writer), the conditional status update and the payments key.
  async function apply (c: CheckedCallback, record: CallbackRecord, manual?: ManualApply): Promise<CallbackOutcome> {
    if (!manual && c.success && await payAtOnce(c, record)) return 'paid'
    const applied = await store.transaction(async (trx) => {
      const now = clock()
      const order = await findOrder(trx, c.orderNo, lock)
      const paymentOrderNo = await findPaymentOrderNo(trx, c.gyyxOrderNo)
      const outcome = decideCallback({ order, paymentOrderNo, amountFen: c.amountFen, success: c.success, now })
      await insertCallback(trx, merge(record, { received_at: now, outcome, anomaly: ANOMALIES.has(outcome) ? 1 : 0 }))
      if (!order || (outcome !== 'paid' && outcome !== 'late_paid' && outcome !== 'duplicate_payment')) return outcome

      const payment = { gyyxOrderNo: c.gyyxOrderNo, orderNo: order.orderNo, amountFen: c.amountFen, result: c.result, traceId: record.trace_id, now, appliedBy: manual?.operator ?? null, ...c.rest }
      await manual?.audit(trx, outcome, now)
      if (outcome === 'duplicate_payment') {
        await insertPayment(trx, merge(payment, { kind: 'duplicate' as const }))
        return outcome
      }
      const ctx = manual
        ? { actor: 'operator' as const, reason: 'manual_payment', traceId: record.trace_id, now }
        : { actor: 'platform' as const, reason: 'callback', traceId: record.trace_id, now }
      let current = order
      if (outcome === 'late_paid' && order.status === 'unpaid') {
        // Expired by the clock but not yet recorded: record the expiry first, so history shows it.
        current = merge(order, { status: await applyTransition(trx, order, 'expire', merge(ctx, { actor: 'system' as const, reason: 'ttl' })) })
      }
      await applyTransition(trx, current, 'pay', ctx, {
        paid_at: now, gyyx_order_no: c.gyyxOrderNo, paid_fen: c.amountFen, late_payment: outcome === 'late_paid' ? 1 : 0,
      })
      await insertPayment(trx, merge(payment, { kind: outcome === 'late_paid' ? 'late' as const : 'applied' as const }))
      // The event commits or rolls back with the payment: one payment, one event, none for a repeat.
      await deps.outbox?.recordPaid(trx, merge(order, { gyyxOrderNo: c.gyyxOrderNo, paidAt: now, latePayment: outcome === 'late_paid' }))
      return outcome
    })
    if (applied === 'paid' || applied === 'late_paid') deps.outbox?.wake()
    return applied
  }

  return {
    // Idempotent: the same platform order number applies once, however often and wherever it arrives.
    async handle (cb: ReceivedCallback): Promise<CallbackOutcome> {
      const verdict = check(cb)
      const record = logRow(cb, verdict.signType, verdict.signature)
      if (verdict.refusal) {
        await logRefusal(record, verdict.refusal.state)
        throw verdict.refusal
      }
      const facts = verdict.facts as CheckedCallback
      const outcome = await apply(facts, record)
      deps.metrics.callbacks.inc({ outcome })
      if (outcome === 'paid' || outcome === 'late_paid') deps.metrics.ordersPaid.inc()
      if (outcome === 'order_not_found') throw new AppError('ORDER_NOT_FOUND', `game_order_no=${facts.orderNo}`)
      if (outcome === 'amount_mismatch') throw new AppError('AMOUNT_MISMATCH', `rmb_yuan=${String(cb.params.rmb_yuan)}`)
      return outcome
    },

    /**
     * A payment the platform has and gamepay lacks (a lost callback), applied by an operator from
     * reconciliation: the same checks after the signature and the same transaction as a callback
     * (exactly once by the platform order number, the order.paid notification), logged as a
     * callback with signature 'manual' and the payment carrying the operator's name.
     */
    async applyManual (p: ManualPayment): Promise<CallbackOutcome> {
      const params: Params = Object.assign(Object.create(null), {
        game_order_no: p.orderNo, gyyx_order_no: p.gyyxOrderNo, rmb_yuan: fenToYuan(p.amountFen), applied_by: p.operator, note: p.note,
      })
      const record = logRow({ params, sourceIp: p.sourceIp, traceId: p.traceId }, 'MANUAL', 'manual')
      const facts: CheckedCallback = {
        amountFen: p.amountFen,
        orderNo: p.orderNo,
        gyyxOrderNo: p.gyyxOrderNo,
        result: 'manual',
        success: true,
        rest: { resultMessage: `applied by ${p.operator}`, serverFlag: '', commonParam: '', platformTimestamp: p.platformTime },
      }
      const outcome = await apply(facts, record, { operator: p.operator, audit: p.audit })
      deps.metrics.callbacks.inc({ outcome })
      if (outcome === 'paid' || outcome === 'late_paid') deps.metrics.ordersPaid.inc()
      return outcome
    },

    /** A callback refused before its body was read (a source outside CALLBACK_ALLOW_IPS). */
    async recordRefused (cb: Received, refusal: AppError): Promise<void> {
      await logRefusal(logRow(cb, null, 'not_checked'), refusal.state)
    },
  }
}

export type CallbackService = ReturnType<typeof createCallbackService>
