import type { Store } from '../../../db/connect.ts'
import { toIso } from '../../../db/values.ts'
import { parseYuan } from '../../../domain/money.ts'
import { AppError, invalidField, missing } from '../../../errors.ts'
import { NotifyError, type AttemptReport, type NotificationService } from '../../notifications/notifications.service.ts'
import { recordAudit, type Actor } from '../audit.ts'
import {
  ANOMALY_KINDS, anomalyTarget, findNotification, findPayment, findRefund, findResolution, insertRefund, insertResolution,
  listAnomalies, paymentAnomalyKind, type AnomalyItem, type AnomalyKind, type Show,
} from './anomalies.repository.ts'
import { parseShanghaiTime } from '../display.ts'

export const NOTE_MAX = 1024
export const REFUND_NO_MAX = 128
/** Items read of each kind at most, newest first. */
export const MAX_PER_KIND = 200
// A refund time a little ahead of this clock is the platform's clock, not a typo.
const CLOCK_SKEW_MS = 5 * 60_000

export interface AnomaliesDeps {
  store: Store
  clock: () => number
  notifications: Pick<NotificationService, 'resend'>
}

export interface RefundInput {
  refundNo: string
  /** Yuan, as a number or its decimal text. */
  amount: unknown
  refundedAt: string
}

export const isAnomalyKind = (value: unknown): value is AnomalyKind => ANOMALY_KINDS.includes(value as AnomalyKind)

export function createAnomaliesService ({ store, clock, notifications }: AnomaliesDeps) {
  const lock = store.caps.rowLocks

  return {
    /** The queue: each kind's newest `limit` items, merged newest first. */
    async list (opts: { kind?: AnomalyKind, show: Show, limit: number }): Promise<AnomalyItem[]> {
      const now = clock()
      const kinds = opts.kind ? [opts.kind] : ANOMALY_KINDS
      const lists = await Promise.all(kinds.map((kind) => listAnomalies(store.db, kind, { show: opts.show, limit: opts.limit, now })))
      return lists.flat().sort((a, b) => b.at - a.at || a.kind.localeCompare(b.kind) || b.ref.localeCompare(a.ref))
    },

    /** Marks one item as dealt with. Orders and payments stay exactly as they are. */
    async resolve (actor: Actor, input: { kind: string, ref: string, note: string }) {
      if (!isAnomalyKind(input.kind)) throw invalidField('kind', `须为 ${ANOMALY_KINDS.join('、')} 之一`, `must be one of ${ANOMALY_KINDS.join(', ')}`)
      const kind = input.kind
      const note = input.note.trim()
      if (note === '') throw missing('note')
      if (note.length > NOTE_MAX) throw invalidField('note', `长度不能超过 ${NOTE_MAX} 个字符`, `must have at most ${NOTE_MAX} characters`)
      return store.transaction(async (trx) => {
        const now = clock()
        const target = await anomalyTarget(trx, kind, input.ref)
        if (target === undefined) throw new AppError('NOT_FOUND', { zh: `没有 ${kind} 异常 ${input.ref}`, en: `no ${kind} anomaly ${input.ref}` })
        // A concurrent twin's insert fails on the unique (kind, ref), reruns, and ends here.
        const earlier = await findResolution(trx, kind, input.ref)
        if (earlier) throw alreadyResolved(kind, input.ref, earlier.by)
        await insertResolution(trx, { kind, ref: input.ref, note, by: actor.operator, at: now })
        await recordAudit(trx, actor, { action: 'anomaly.resolve', target, after: { kind, ref: input.ref, note } }, now)
        return { kind, ref: input.ref, note, resolvedBy: actor.operator, resolvedAt: now, target }
      })
    },

    /**
     * Records the platform's refund of a duplicate or late payment, and resolves that payment's
     * anomaly with it. The payment and its order stay as they are: the refund is a row of its own.
     */
    async refund (actor: Actor, paymentId: number, input: RefundInput) {
      const refundNo = input.refundNo.trim()
      if (refundNo === '') throw missing('refund_no')
      if (refundNo.length > REFUND_NO_MAX) throw invalidField('refund_no', `长度不能超过 ${REFUND_NO_MAX} 个字符`, `must have at most ${REFUND_NO_MAX} characters`)
      const amountFen = parseYuan(typeof input.amount === 'string' ? input.amount.trim() : input.amount, { allowString: true })
      if (amountFen === null) throw invalidField('amount', '须为最多两位小数的正金额（元）', 'must be a positive amount in yuan with at most two decimals')
      const refundedAt = parseShanghaiTime(input.refundedAt.trim(), { bareT: true })
      if (refundedAt === null) {
        throw invalidField('refunded_at', '须为 ISO 8601 时间或 YYYY-MM-DD HH:mm（北京时间）', 'must be an ISO 8601 time or YYYY-MM-DD HH:mm (Asia/Shanghai)')
      }
      return store.transaction(async (trx) => {
        const now = clock()
        if (refundedAt > now + CLOCK_SKEW_MS) throw invalidField('refunded_at', '不能晚于现在', 'must not be in the future')
        const payment = await findPayment(trx, paymentId, lock)
        if (!payment) throw new AppError('NOT_FOUND', { zh: `付款 ${paymentId} 不存在`, en: `no payment ${paymentId}` })
        const kind = paymentAnomalyKind(payment.kind)
        if (kind === null) {
          throw new AppError('CONFLICT', {
            zh: `付款 ${paymentId} 已计入订单 ${payment.orderNo}（${payment.kind}），不是重复或逾期付款，不能在此登记退款`,
            en: `payment ${paymentId} is the one applied to order ${payment.orderNo} (${payment.kind}), not a duplicate or late payment: no refund is recorded for it here`,
          })
        }
        if (amountFen > payment.amountFen) {
          throw invalidField('amount', `不能超过付款金额 ${toYuanText(payment.amountFen)} 元`, `must not exceed the payment's ${toYuanText(payment.amountFen)} yuan`)
        }
        const earlier = await findRefund(trx, paymentId, refundNo)
        if (earlier) {
          throw new AppError('CONFLICT', String(earlier.payment_id) === String(paymentId)
            ? { zh: `付款 ${paymentId} 已登记退款 ${earlier.refund_no}`, en: `payment ${paymentId} already has refund ${earlier.refund_no}` }
            : { zh: `退款单号 ${refundNo} 已登记于付款 ${String(earlier.payment_id)}`, en: `refund_no ${refundNo} is already recorded for payment ${String(earlier.payment_id)}` })
        }
        await insertRefund(trx, { paymentId, orderNo: payment.orderNo, refundNo, amountFen, refundedAt, recordedBy: actor.operator, recordedAt: now, traceId: actor.traceId })
        await recordAudit(trx, actor, {
          action: 'payment.refund',
          target: payment.orderNo,
          before: { refunded: false },
          after: { refund_no: refundNo, amount_fen: amountFen, refunded_at: toIso(refundedAt) },
        }, now)
        const ref = String(paymentId)
        let resolved = false
        if (!await findResolution(trx, kind, ref)) {
          const note = `refund ${refundNo}`
          await insertResolution(trx, { kind, ref, note, by: actor.operator, at: now })
          await recordAudit(trx, actor, { action: 'anomaly.resolve', target: payment.orderNo, after: { kind, ref, note } }, now)
          resolved = true
        }
        return { paymentId, orderNo: payment.orderNo, refundNo, amountFen, refundedAt, resolved }
      })
    },

    /** Sends a notification again now, as a new attempt of the same event. */
    async resend (actor: Actor, eventId: string): Promise<AttemptReport> {
      const event = await findNotification(store.db, eventId)
      if (!event) throw new AppError('NOT_FOUND', { zh: `通知 ${eventId} 不存在`, en: `no notification event ${eventId}` })
      let report: AttemptReport
      try {
        report = await notifications.resend(event.event_id)
      } catch (err) {
        if (!(err instanceof NotifyError)) throw err
        throw new AppError('CONFLICT', { zh: `无法重新发送：${err.message}`, en: `cannot resend: ${err.message}` })
      }
      // The attempt is recorded by the notification service as it is made; the audit entry follows
      // it with the outcome (no transaction stays open across a request to the game server).
      await store.transaction((trx) => recordAudit(trx, actor, {
        action: 'notification.resend',
        target: event.order_no,
        before: { event_id: event.event_id, status: event.status },
        after: { event_id: event.event_id, attempt: report.attempt, http_status: report.result.httpStatus, delivered: report.result.ok, status: report.status },
      }, clock()))
      return report
    },
  }
}

export type AnomaliesService = ReturnType<typeof createAnomaliesService>

function alreadyResolved (kind: AnomalyKind, ref: string, by: string) {
  return new AppError('CONFLICT', { zh: `${kind} ${ref} 已由 ${by} 处理`, en: `${kind} ${ref} is already resolved by ${by}` })
}

/** Fen as yuan with two decimals, from the integer: 3000 → "30.00". */
export function toYuanText (fen: number): string {
  const sign = fen < 0 ? '-' : ''
  const digits = String(Math.abs(fen)).padStart(3, '0')
  return `${sign}${digits.slice(0, -2)}.${digits.slice(-2)}`
}
