import { fenToYuan } from '../../domain/money.ts'
import { toIso } from '../../db/values.ts'
import type { Order } from './orders.repository.ts'

const shanghai = new Intl.DateTimeFormat('sv-SE', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
})

/** `YYYY-MM-DD HH:mm:ss` in Asia/Shanghai, the form the old service returned. */
export const shanghaiTime = (ms: number): string => shanghai.format(new Date(ms))

export function createdOrderData (order: Order, reused: boolean) {
  return {
    item: order.item,
    item_id: order.goodsId,
    order: order.orderNo,
    single_pric: fenToYuan(order.priceFen),
    user_id: order.userId,
    amount_num: order.amountNum,
    rmb_yuan: fenToYuan(order.amountFen),
    status: 'unpaid' as const,
    created_at: toIso(order.createdAt),
    expire_at: toIso(order.expireAt),
    reused,
  }
}

export function paidOrderData (order: Order) {
  const paidAt = order.paidAt ?? 0
  return {
    order: order.orderNo,
    user_id: order.userId,
    item: order.item,
    item_id: order.goodsId,
    single_pric: fenToYuan(order.priceFen),
    amount_num: order.amountNum,
    rmb_yuan: fenToYuan(order.amountFen),
    status: 'paid' as const,
    gyyx_order_no: order.gyyxOrderNo ?? '',
    paid_at: toIso(paidAt),
    purchase_time: shanghaiTime(paidAt),
    verify_count: order.verifyCount,
    first_verified_at: order.firstVerifiedAt === null ? null : toIso(order.firstVerifiedAt),
  }
}
