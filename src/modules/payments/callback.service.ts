import type { KeyObject } from 'node:crypto'
import type { BlockList } from 'node:net'
import type { Store } from '../../db/connect.ts'
import { parseYuan } from '../../domain/money.ts'
import { ANOMALIES, decideCallback, type CallbackOutcome } from '../../domain/payment-effects.ts'
import { parsePlatformTimestamp } from '../../domain/platform-time.ts'
import { buildStringA, normalizeSignType, toSignValue, verifySign, type SignType } from '../../domain/signature.ts'
import { AppError, invalidField, missing } from '../../errors.ts'
import { applyTransition, findOrder } from '../orders/orders.repository.ts'
import { isAllowedSource } from './callback-source.ts'
import { findPaymentOrderNo, insertCallback, insertPayment, type CallbackRecord } from './payments.repository.ts'

export interface CallbackServiceDeps {
  store: Store
  clock: () => number
  secret: string | null
  signTypes: SignType[]
  rsaPublicKey: KeyObject | null
  successResults: string[]
  allowIps: BlockList | null
  maxAgeSeconds: number | null
}

/** What the route read: every parameter once, or the name of the first one sent twice. */
export interface ReceivedCallback {
  params: Record<string, unknown>
  repeated: string | null
  sourceIp: string
  traceId: string
}

const REQUIRED = ['game_order_no', 'gyyx_order_no', 'result', 'rmb_yuan'] as const
// Longest value each stored field holds (the columns' sizes).
const MAX_LENGTH: Record<string, number> = {
  game_order_no: 255, gyyx_order_no: 128, result: 255, result_message: 1024, server_flag: 255, common_param: 1024, timestamp: 64,
}

/**
 * The received parameters as logged. A JSON value nested thousands deep (refused below as not a
 * string or number) would overflow JSON.stringify's stack: such values are logged as a marker.
 */
function rawParamsText (params: Record<string, unknown>): string {
  try {
    return JSON.stringify(params)
  } catch {
    return JSON.stringify(params, (key, value) => key !== '' && typeof value === 'object' && value !== null ? '[nested too deep]' : value)
  }
}

export function createCallbackService (deps: CallbackServiceDeps) {
  const { store, clock } = deps
  const lock = store.caps.rowLocks

  function stringParams (cb: ReceivedCallback): Record<string, string | null> {
    if (cb.repeated !== null) throw invalidField(cb.repeated, '重复出现', 'appears more than once')
    const params: Record<string, string | null> = {}
    for (const [name, value] of Object.entries(cb.params)) {
      const text = toSignValue(value)
      if (text === undefined) throw invalidField(name, '须为字符串或数字', 'must be a string or a number')
      if (text !== null && text.length > (MAX_LENGTH[name] ?? 4096)) throw invalidField(name, '过长', 'is too long')
      params[name] = text
    }
    for (const name of REQUIRED) if (!params[name]) throw missing(name)
    return params
  }

  /** The checks before any effect, in the contract's order; returns what the effects need. */
  function check (cb: ReceivedCallback, record: CallbackRecord) {
    if (!isAllowedSource(deps.allowIps, cb.sourceIp)) throw new AppError('CALLBACK_FORBIDDEN', `source ${cb.sourceIp}`)
    const params = stringParams(cb)
    // signType wins over sign_type when both are sent; an empty (or null) one counts as not sent.
    const rawType = params.signType || params.sign_type || null
    if (!rawType) throw missing('signType')
    record.sign_type = rawType.slice(0, 32)
    const type = normalizeSignType(rawType)
    if (!type || !deps.signTypes.includes(type) || (type === 'RSA2' && !deps.rsaPublicKey)) throw new AppError('SIGN_TYPE_UNSUPPORTED', `signType=${rawType}`)
    if (!params.sign) {
      record.signature = 'missing'
      throw new AppError('SIGN_INVALID', 'sign')
    }
    const valid = verifySign(type, buildStringA(params), params.sign, { secret: deps.secret, publicKey: deps.rsaPublicKey })
    record.signature = valid ? 'valid' : 'invalid'
    if (!valid) throw new AppError('SIGN_INVALID', 'sign')
    const amountFen = parseYuan(cb.params.rmb_yuan, { allowString: true })
    if (amountFen === null) throw invalidField('rmb_yuan', '须为最多两位小数的正金额', 'must be a positive amount with at most two decimals')
    if (deps.maxAgeSeconds !== null) {
      const sentAt = parsePlatformTimestamp(params.timestamp)
      if (sentAt === null) throw new AppError('CALLBACK_FORBIDDEN', 'timestamp')
      if (Math.abs(clock() - sentAt) > deps.maxAgeSeconds * 1000) throw new AppError('CALLBACK_FORBIDDEN', { zh: 'timestamp 已过期', en: 'timestamp is too old or in the future' })
    }
    return {
      amountFen,
      orderNo: params.game_order_no as string,
      gyyxOrderNo: params.gyyx_order_no as string,
      result: params.result as string,
      success: deps.successResults.includes((params.result as string).toLowerCase()),
      rest: {
        resultMessage: params.result_message ?? '',
        serverFlag: params.server_flag ?? '',
        commonParam: params.common_param ?? '',
        platformTimestamp: params.timestamp ?? '',
      },
    }
  }

  // Applies the effects table in one transaction with the callback's log row; exactly once by the
  // order row lock (or SQLite's single writer), the conditional status update and the payments key.
  async function apply (c: ReturnType<typeof check>, record: CallbackRecord): Promise<CallbackOutcome> {
    return store.transaction(async (trx) => {
      const now = clock()
      const order = await findOrder(trx, c.orderNo, lock)
      const paymentOrderNo = await findPaymentOrderNo(trx, c.gyyxOrderNo)
      const outcome = decideCallback({ order, paymentOrderNo, amountFen: c.amountFen, success: c.success, now })
      await insertCallback(trx, { ...record, received_at: now, outcome, anomaly: ANOMALIES.has(outcome) ? 1 : 0 })
      if (!order || (outcome !== 'paid' && outcome !== 'late_paid' && outcome !== 'duplicate_payment')) return outcome

      const payment = { gyyxOrderNo: c.gyyxOrderNo, orderNo: order.orderNo, amountFen: c.amountFen, result: c.result, traceId: record.trace_id, now, ...c.rest }
      if (outcome === 'duplicate_payment') {
        await insertPayment(trx, { ...payment, kind: 'duplicate' })
        return outcome
      }
      const ctx = { actor: 'platform' as const, reason: 'callback', traceId: record.trace_id, now }
      let current = order
      if (outcome === 'late_paid' && order.status === 'unpaid') {
        // Expired by the clock but not yet recorded: record the expiry first, so history shows it.
        current = { ...order, status: await applyTransition(trx, order, 'expire', { ...ctx, actor: 'system', reason: 'ttl' }) }
      }
      await applyTransition(trx, current, 'pay', ctx, {
        paid_at: now, gyyx_order_no: c.gyyxOrderNo, paid_fen: c.amountFen, late_payment: outcome === 'late_paid' ? 1 : 0,
      })
      await insertPayment(trx, { ...payment, kind: outcome === 'late_paid' ? 'late' : 'applied' })
      return outcome
    })
  }

  return {
    // Idempotent: the same platform order number applies once, however often and wherever it arrives.
    async handle (cb: ReceivedCallback): Promise<CallbackOutcome> {
      const str = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? String(v).slice(0, 255) : null)
      const record: CallbackRecord = {
        received_at: clock(),
        source_ip: cb.sourceIp.slice(0, 64),
        trace_id: cb.traceId,
        game_order_no: str(cb.params.game_order_no),
        gyyx_order_no: str(cb.params.gyyx_order_no),
        params: rawParamsText(cb.params),
        sign_type: null,
        signature: 'not_checked',
        outcome: '',
        anomaly: 0,
      }
      let checked
      try {
        checked = check(cb, record)
      } catch (err) {
        const state = err instanceof AppError ? err.state : 'INTERNAL_ERROR'
        // The refusal is logged too; if the database is down, the refusal still answers.
        await insertCallback(store.db, { ...record, outcome: state }).catch(() => {})
        throw err
      }
      const outcome = await apply(checked, record)
      if (outcome === 'order_not_found') throw new AppError('ORDER_NOT_FOUND', `game_order_no=${checked.orderNo}`)
      if (outcome === 'amount_mismatch') throw new AppError('AMOUNT_MISMATCH', `rmb_yuan=${String(cb.params.rmb_yuan)}`)
      return outcome
    },
  }
}

export type CallbackService = ReturnType<typeof createCallbackService>
