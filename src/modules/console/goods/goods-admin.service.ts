import type { Store } from '../../../db/connect.ts'
import { fenToYuan, parseYuan } from '../../../domain/money.ts'
import { AppError, invalidField } from '../../../errors.ts'
import { findGoodsById, findGoodsByItem, insertGoods, recordPriceChange, updateGoodsIf, type Goods } from '../../goods/goods.repository.ts'
import { catalogChanged } from '../../goods/catalog-cache.ts'
import { normalizeGoodsId } from '../../goods/goods.service.ts'
import { recordAudit, type Actor } from '../audit.ts'
import { findGoodsRecord, nextGoodsId, type GoodsRecord } from './goods-admin.repository.ts'

export interface NewGoods {
  /** null: the next free id. */
  id: number | null
  item: string
  priceFen: number
  onSale: boolean
}

export interface GoodsChange {
  item?: string
  priceFen?: number
  onSale?: boolean
}

/** A goods name: 1-255 characters (as the column counts them), no NUL, surrounding spaces dropped. */
export function goodsName (value: unknown, field = 'item'): string {
  if (typeof value !== 'string') throw invalidField(field, '须为字符串', 'must be a string')
  const name = value.trim()
  if (name === '') throw invalidField(field, '不能为空', 'must not be empty')
  if ([...name].length > 255) throw invalidField(field, '长度不能超过 255 个字符', 'must have at most 255 characters')
  if (name.includes('\0')) throw invalidField(field, '不能含有 NUL 字符', 'must not contain a NUL character')
  return name
}

/** A price in yuan (number or decimal text) as fen: above zero, at most two decimals. */
export function goodsPrice (value: unknown, field = 'price'): number {
  const fen = parseYuan(typeof value === 'string' ? value.trim() : value, { allowString: true })
  if (fen === null) throw invalidField(field, '须为大于 0、最多两位小数的元金额', 'must be an amount in yuan above 0 with at most two decimals')
  return fen
}

/** A goods id from a path or a form; anything else is no such goods. */
export function goodsIdOf (value: unknown): number {
  const id = normalizeGoodsId(value)
  if (id === null) throw new AppError('GOODS_NOT_FOUND', `id=${String(value).slice(0, 40)}`)
  return id
}

const itemTaken = (item: string, holder: number) =>
  new AppError('CONFLICT', { zh: `item "${item}" 已被商品 ${holder} 使用`, en: `item "${item}" is already the name of goods ${holder}` })

// What the audit log keeps of goods: the values an operator sees, price in yuan.
const shown = (g: Goods) => ({ item: g.item, price: fenToYuan(g.priceFen) })

/**
 * The operator's changes to the catalog. Each runs in one transaction with its audit entry and,
 * when a price is set, its price history row; orders keep the price they were created with.
 * Once a change has committed, the goods lookup's cache is dropped.
 */
export function createGoodsAdmin ({ store, clock }: { store: Store, clock: () => number }) {
  async function reread (id: number): Promise<GoodsRecord> {
    const record = await findGoodsRecord(store.db, id)
    if (!record) throw new AppError('GOODS_NOT_FOUND', `id=${id}`)
    return record
  }

  return {
    async create (actor: Actor, input: NewGoods): Promise<GoodsRecord> {
      const id = await store.transaction(async (trx) => {
        const now = clock()
        let id = input.id
        if (id === null) {
          id = await nextGoodsId(trx)
        } else if (await findGoodsById(trx, id)) {
          throw new AppError('CONFLICT', { zh: `商品 ${id} 已存在`, en: `goods ${id} already exist` })
        }
        const holder = await findGoodsByItem(trx, input.item)
        if (holder) throw itemTaken(input.item, holder.id)
        const goods: Goods = { id, item: input.item, priceFen: input.priceFen, onSale: input.onSale }
        // Two creations racing for the same id or name: the loser's insert hits the key and the
        // transaction runs again, finding the winner.
        await insertGoods(trx, goods, now)
        await recordPriceChange(trx, { goodsId: id, oldPriceFen: null, newPriceFen: goods.priceFen, changedBy: actor.operator, changedAt: now, traceId: actor.traceId })
        await recordAudit(trx, actor, { action: 'goods.create', target: `goods:${id}`, after: { id, ...shown(goods), on_sale: goods.onSale } }, now)
        return id
      })
      catalogChanged(store)
      return reread(id)
    },

    /** Changes name, price and sale state as given; what is not given, or equal, stays. */
    async change (actor: Actor, id: number, change: GoodsChange): Promise<{ goods: GoodsRecord, changed: boolean }> {
      const changed = await store.transaction(async (trx) => {
        const now = clock()
        const before = await findGoodsById(trx, id)
        if (!before) throw new AppError('GOODS_NOT_FOUND', `id=${id}`)
        const after: Goods = {
          id,
          item: change.item ?? before.item,
          priceFen: change.priceFen ?? before.priceFen,
          onSale: change.onSale ?? before.onSale,
        }
        if (after.item !== before.item) {
          const holder = await findGoodsByItem(trx, after.item)
          if (holder && holder.id !== id) throw itemTaken(after.item, holder.id)
        }
        const edited = after.item !== before.item || after.priceFen !== before.priceFen
        const sale = after.onSale !== before.onSale
        if (!edited && !sale) return false
        await updateGoodsIf(trx, before, after, now)
        const target = `goods:${id}`
        if (after.priceFen !== before.priceFen) {
          await recordPriceChange(trx, { goodsId: id, oldPriceFen: before.priceFen, newPriceFen: after.priceFen, changedBy: actor.operator, changedAt: now, traceId: actor.traceId })
        }
        if (edited) await recordAudit(trx, actor, { action: 'goods.update', target, before: shown(before), after: shown(after) }, now)
        if (sale) {
          await recordAudit(trx, actor, { action: after.onSale ? 'goods.on-sale' : 'goods.off-sale', target, before: { on_sale: before.onSale }, after: { on_sale: after.onSale } }, now)
        }
        return true
      })
      if (changed) catalogChanged(store)
      return { goods: await reread(id), changed }
    },
  }
}

export type GoodsAdmin = ReturnType<typeof createGoodsAdmin>
