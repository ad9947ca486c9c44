import { createHash } from 'node:crypto'
import type { Store } from '../../db/connect.ts'
import type { Metrics } from '../../metrics.ts'
import type { Executor } from '../../db/database.ts'
import { effectiveStatus } from '../../domain/order-state.ts'
import { MAX_FEN, parseYuan } from '../../domain/money.ts'
import { AppError, invalidField } from '../../errors.ts'
import { merge } from '../../merge.ts'
import { findGoodsByItem } from '../goods/goods.repository.ts'
import { normalizeGoodsId, resolveGoods } from '../goods/goods.service.ts'
import { fastPath, hasFastPath, oneStatement } from './fast-path.ts'
import type { OrderNumbers } from './order-numbers.ts'
import { createdOrderData, paidOrderData } from './order-view.ts'
import {
  applyTransition, countVerification, findDueOrders, findIdempotentResponse, findLatestPaidOrder, findOrder, findOrderByOpenKey,
  insertOrder, insertOrderIfNew, newOrder, recordVerification, saveIdempotentResponse, type EventContext, type NewOrder, type Order,
} from './orders.repository.ts'

export const IDEMPOTENCY_WINDOW_MS = 24 * 3600 * 1000

export interface CreateOrderInput {
  user_id: string
  item: string
  item_id?: unknown
  single_pric: number
  amount_num?: number
  server_flag?: string
  description?: string
  game_role_id?: string
  game_role_name?: string
  game_role_grade?: string
}

export interface OrderServiceDeps {
  store: Store
  ids: OrderNumbers
  clock: () => number
  orderTtlSeconds: number
  metrics: Pick<Metrics, 'ordersCreated'>
}

export type CreatedOrder = ReturnType<typeof createdOrderData>

// The same user, goods, unit price, quantity and server: while unpaid, such an order is unique.
const openKeyOf = (userId: string, goodsId: number, priceFen: number, amountNum: number, serverFlag: string) =>
  createHash('sha256').update(JSON.stringify([userId, goodsId, priceFen, amountNum, serverFlag])).digest('hex')

export function createOrderService ({ store, ids, clock, orderTtlSeconds, metrics }: OrderServiceDeps) {
  const lock = store.caps.rowLocks

  /** Records an expiry the clock has already decided (an unpaid order past expire_at). */
  async function recordExpiry (trx: Executor, order: Order, traceId: string | null, now: number) {
    await applyTransition(trx, order, 'expire', { actor: 'system', reason: 'ttl', traceId, now })
  }

  /**
   * The common case of create-order, a new order (with its Idempotency-Key's answer when one is
   * sent), in one round trip; everything but the insert is done before it. Undefined when it is not
   * that case (an open order to reuse, a stored answer, a refusal) or on SQLite: nothing was
   * written, and the transaction in createOrder decides.
   */
  async function createAtOnce (order: Omit<NewOrder, 'goodsId' | 'openKey' | 'createdAt' | 'expireAt'>, itemId: number | null,
    traceId: string, idempotencyKey: string | null): Promise<CreatedOrder | undefined> {
    if (!hasFastPath(store)) return undefined
    // The goods id goes into the open key and the answer: named by item only, it is looked up
    // first. The insert reads the goods' name, price and sale again, in its own statement.
    const goodsId = itemId ?? await fastPath(store, false, async (db) => (await findGoodsByItem(db, order.item))?.id)
    if (goodsId === undefined) return undefined
    const now = clock()
    const o: NewOrder = merge(order, {
      goodsId,
      openKey: openKeyOf(order.userId, goodsId, order.priceFen, order.amountNum, order.serverFlag),
      createdAt: now,
      expireAt: now + orderTtlSeconds * 1000,
    })
    const data = createdOrderData(newOrder(o), false)
    const keyed = idempotencyKey === null ? null : { key: idempotencyKey, response: JSON.stringify(data) }
    const ctx: EventContext = { actor: 'user', reason: 'create', traceId, now }
    const how = oneStatement(store) ? 'statement' : 'procedure'
    return await fastPath(store, false, (db) => insertOrderIfNew(db, how, o, ctx, keyed)) ? data : undefined
  }

  return {
    // Idempotent: per Idempotency-Key (24 h), and per open order (rule 4), race-free by unique keys.
    async createOrder (input: CreateOrderInput, traceId: string, idempotencyKey: string | null): Promise<CreatedOrder> {
      const priceFen = parseYuan(input.single_pric)
      if (priceFen === null) throw invalidField('single_pric', '须为大于 0、最多两位小数且不超过 10000000 的金额', 'must be an amount > 0 with at most two decimals, at most 10000000')
      const amountNum = input.amount_num ?? 1
      const amountFen = priceFen * amountNum
      if (amountFen > MAX_FEN) throw invalidField('amount_num', '使订单金额超过 10000000 元', 'makes the order amount exceed 10000000 yuan')
      const itemId = normalizeGoodsId(input.item_id)
      const serverFlag = input.server_flag ?? ''
      const orderNo = await ids.next()
      const details = {
        description: input.description ?? null,
        game_role_id: input.game_role_id ?? null,
        game_role_name: input.game_role_name ?? null,
        game_role_grade: input.game_role_grade ?? null,
      }

      const created = await createAtOnce({ orderNo, userId: input.user_id, item: input.item, priceFen, amountNum, amountFen, serverFlag, details },
        itemId, traceId, idempotencyKey)
      if (created) {
        metrics.ordersCreated.inc()
        return created
      }

      // Counted once committed: a rerun transaction must not count twice.
      let inserted = false
      const result = await store.transaction(async (trx) => {
        inserted = false
        const now = clock()
        const since = now - IDEMPOTENCY_WINDOW_MS
        if (idempotencyKey !== null) {
          const stored = await findIdempotentResponse(trx, input.user_id, idempotencyKey, since)
          if (stored !== undefined) return JSON.parse(stored) as CreatedOrder
        }
        const goods = await resolveGoods(trx, input.item, itemId)
        if (!goods.onSale) throw new AppError('GOODS_UNAVAILABLE', `item_id=${goods.id}`)
        if (goods.priceFen !== priceFen) throw new AppError('PRICE_MISMATCH', { zh: `single_pric 应为 ${goods.priceFen / 100}`, en: `single_pric should be ${goods.priceFen / 100}` })

        const openKey = openKeyOf(input.user_id, goods.id, priceFen, amountNum, serverFlag)
        const ctx: EventContext = { actor: 'user', reason: 'create', traceId, now }
        let data: CreatedOrder
        const open = await findOrderByOpenKey(trx, openKey, lock)
        if (open && effectiveStatus(open.status, open.expireAt, now) === 'unpaid') {
          data = createdOrderData(open, true)
        } else {
          // An expired holder of the key gives it up first; a concurrent twin insert fails the unique key and reruns.
          if (open) await recordExpiry(trx, open, traceId, now)
          const order = await insertOrder(trx, {
            orderNo,
            userId: input.user_id,
            goodsId: goods.id,
            item: goods.item,
            priceFen,
            amountNum,
            amountFen,
            serverFlag,
            openKey,
            createdAt: now,
            expireAt: now + orderTtlSeconds * 1000,
            details,
          }, ctx)
          data = createdOrderData(order, false)
          inserted = true
        }
        if (idempotencyKey !== null) await saveIdempotentResponse(trx, input.user_id, idempotencyKey, data.order, JSON.stringify(data), now, since)
        return data
      })
      if (inserted) metrics.ordersCreated.inc()
      return result
    },

    // Idempotent: cancelling a cancelled or expired order answers success again.
    async cancelOrder (userId: string, orderNo: string, traceId: string) {
      return store.transaction(async (trx) => {
        const now = clock()
        const order = await findOrder(trx, orderNo, lock)
        // Another user's order looks exactly like a missing one, so order numbers can't be probed.
        if (!order || order.userId !== userId) throw new AppError('ORDER_NOT_FOUND', `order=${orderNo}`)
        const status = effectiveStatus(order.status, order.expireAt, now)
        if (status === 'paid') throw new AppError('ORDER_ALREADY_PAID', `order=${orderNo}`)
        if (status === 'expired' && order.status === 'unpaid') await recordExpiry(trx, order, traceId, now)
        if (status === 'unpaid') await applyTransition(trx, order, 'cancel', { actor: 'user', reason: 'cancel', traceId, now })
        return { order: orderNo, status: status === 'unpaid' ? 'cancelled' : status }
      })
    },

    async verify (input: { user_id: string, item: string, item_id?: unknown, order?: string }, traceId: string) {
      const itemId = normalizeGoodsId(input.item_id)
      // The common case, a paid order counted, in one statement; otherwise the transaction below tells why not.
      const query = { orderNo: input.order, userId: input.user_id, item: input.item, goodsId: itemId }
      const now = clock()
      const counted = await fastPath(store, false, (db) => countVerification(db, oneStatement(store), query, now, traceId))
      if (counted) return paidOrderData(counted)

      return store.transaction(async (trx) => {
        const now = clock()
        let order: Order | undefined
        if (input.order !== undefined) {
          order = await findOrder(trx, input.order, false)
          if (!order || order.userId !== input.user_id) throw new AppError('ORDER_NOT_FOUND', `order=${input.order}`)
          if (order.item !== input.item || (itemId !== null && order.goodsId !== itemId)) {
            throw new AppError('ITEM_MISMATCH', { zh: `订单商品为 "${order.item}"（item_id=${order.goodsId}）`, en: `the order is for "${order.item}" (item_id=${order.goodsId})` })
          }
        } else {
          const goods = await resolveGoods(trx, input.item, itemId)
          order = await findLatestPaidOrder(trx, input.user_id, goods.id)
        }
        if (!order || order.status !== 'paid' || !await recordVerification(trx, order.orderNo, now, traceId)) {
          throw new AppError('ORDER_NOT_PAID', input.order === undefined ? undefined : `order=${input.order}`)
        }
        // Read back: concurrent verifications each see their own count.
        return paidOrderData(await findOrder(trx, order.orderNo, false) as Order)
      })
    },

    /** Records the expiry of due unpaid orders; several instances' sweeps skip each other's rows. */
    async expireDueOrders (limit = 200): Promise<number> {
      return store.transaction(async (trx) => {
        const now = clock()
        const due = await findDueOrders(trx, now, limit, lock)
        for (const order of due) await recordExpiry(trx, order, null, now)
        return due.length
      })
    },
  }
}

export type OrderService = ReturnType<typeof createOrderService>
