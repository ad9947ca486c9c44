import { randomUUID } from 'node:crypto'
import { toIso } from '../../db/values.ts'
import { fenToYuan } from '../../domain/money.ts'
import type { Executor } from '../../db/database.ts'
import type { Order } from '../orders/orders.repository.ts'

export const ORDER_PAID = 'order.paid'

/** The order as it became paid, inside the paying transaction. */
export type PaidOrder = Pick<Order, 'orderNo' | 'userId' | 'item' | 'goodsId' | 'amountNum' | 'amountFen' | 'serverFlag'> & {
  gyyxOrderNo: string
  paidAt: number
  latePayment: boolean
}

/** What the paying transaction needs of the notifications: the event written with it, and a wake-up after. */
export interface PaidOutbox {
  recordPaid: (trx: Executor, paid: PaidOrder) => Promise<void>
  /** Called once the payment committed, so the event goes out now rather than at the next poll. */
  wake: () => void
}

export interface NewEvent {
  eventId: string
  type: string
  orderNo: string
  serverFlag: string
  /** The exact body every attempt sends. */
  payload: string
  createdAt: number
}

export const newEventId = (): string => `evt_${randomUUID().replaceAll('-', '')}`

/** The `order.paid` event, its body serialized once here so that every retry sends the same bytes. */
export function orderPaidEvent (paid: PaidOrder, now: number): NewEvent {
  const eventId = newEventId()
  const body = {
    event_id: eventId,
    type: ORDER_PAID,
    created_at: toIso(now),
    data: {
      order: paid.orderNo,
      user_id: paid.userId,
      item: paid.item,
      item_id: paid.goodsId,
      amount_num: paid.amountNum,
      rmb_yuan: fenToYuan(paid.amountFen),
      gyyx_order_no: paid.gyyxOrderNo,
      status: 'paid',
      paid_at: toIso(paid.paidAt),
      server_flag: paid.serverFlag,
      late_payment: paid.latePayment,
    },
  }
  const payload = JSON.stringify(body)
  return { eventId, type: ORDER_PAID, orderNo: paid.orderNo, serverFlag: paid.serverFlag, payload, createdAt: now }
}

/** A signed event of type `test` that names no order, for checking an endpoint (never stored). */
export function testEventBody (now: number): { eventId: string, payload: string } {
  const eventId = newEventId()
  const payload = JSON.stringify({
    event_id: eventId,
    type: 'test',
    created_at: toIso(now),
    data: { message: 'a test event from `gamepay notify test`: check the signature, answer 2xx, deliver nothing' },
  })
  return { eventId, payload }
}
