import { readFileSync } from 'node:fs'
import { parseYuan } from '../../domain/money.ts'
import { AppError } from '../../errors.ts'
import type { Store } from '../../db/connect.ts'
import type { Executor } from '../../db/database.ts'
import { catalogChanged } from './catalog-cache.ts'
import { findGoodsById, findGoodsByItem, saveGoods, type Goods } from './goods.repository.ts'

/**
 * The goods an order or a verification is about (create-order's rule 1): by id when one is given,
 * else by the goods' unique name; both given must agree.
 */
export async function resolveGoods (db: Executor, item: string, itemId: number | null): Promise<Goods> {
  const goods = itemId === null ? await findGoodsByItem(db, item) : await findGoodsById(db, itemId)
  if (!goods) throw new AppError('GOODS_NOT_FOUND', itemId === null ? `item=${item}` : `item_id=${itemId}`)
  if (goods.item !== item) throw new AppError('ITEM_MISMATCH', { zh: `item 应为 "${goods.item}"`, en: `item should be "${goods.item}"` })
  return goods
}

/** `item_id` is a positive integer (string or number); anything else, like the seed's "商品ID", counts as absent. */
export function normalizeGoodsId (value: unknown): number | null {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? value : null
  if (typeof value === 'string' && /^[1-9]\d{0,14}$/.test(value)) return Number(value)
  return null
}

// Development catalog; its first goods answer the API document's own example.
export const DEMO_CATALOG: Goods[] = [
  { id: 1, item: '商品属性', priceFen: 9999, onSale: true },
  { id: 2, item: '月卡', priceFen: 3000, onSale: true },
  { id: 3, item: '钻石x60', priceFen: 600, onSale: true },
  { id: 4, item: '钻石x6480', priceFen: 64800, onSale: true },
  { id: 5, item: '每日礼包', priceFen: 10, onSale: true },
  { id: 6, item: '绝版礼包', priceFen: 12800, onSale: false },
]

/** Parses a catalog file: `[{"id":1,"item":"月卡","single_pric":30,"on_sale":true}]`. */
export function parseCatalog (text: string, source: string): Goods[] {
  let entries: unknown
  try {
    entries = JSON.parse(text)
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`)
  }
  if (!Array.isArray(entries)) throw new Error(`${source}: must be a JSON array of goods`)
  const seen = new Set<number>()
  return entries.map((entry: Record<string, unknown>, i) => {
    const where = `${source}[${i}]`
    if (typeof entry !== 'object' || entry === null) throw new Error(`${where}: must be an object`)
    const id = normalizeGoodsId(entry.id)
    if (id === null) throw new Error(`${where}.id: must be a positive integer`)
    if (seen.has(id)) throw new Error(`${where}.id: ${id} appears twice`)
    seen.add(id)
    if (typeof entry.item !== 'string' || entry.item.length === 0 || [...entry.item].length > 255) {
      throw new Error(`${where}.item: must be a string of 1-255 characters`)
    }
    const priceFen = parseYuan(entry.single_pric)
    if (priceFen === null) throw new Error(`${where}.single_pric: must be an amount in yuan with at most two decimals`)
    if (entry.on_sale !== undefined && typeof entry.on_sale !== 'boolean') throw new Error(`${where}.on_sale: must be true or false`)
    return { id, item: entry.item, priceFen, onSale: entry.on_sale !== false }
  })
}

export const readCatalogFile = (file: string): Goods[] => parseCatalog(readFileSync(file, 'utf8'), file)

/** Upserts a catalog by id in one transaction, new and changed prices into the price history: all of it lands or none. */
export async function importCatalog (store: Store, goods: Goods[], now: number, overwrite = true) {
  const counts = { inserted: 0, updated: 0, kept: 0 }
  await store.transaction(async (trx) => {
    counts.inserted = counts.updated = counts.kept = 0
    for (const g of goods) counts[await saveGoods(trx, g, now, overwrite)]++
  })
  if (counts.inserted + counts.updated > 0) catalogChanged(store)
  return counts
}
