import { RaceLost } from '../../db/connect.ts'
import type { Executor } from '../../db/database.ts'
import { toInt } from '../../db/values.ts'

export interface Goods {
  id: number
  item: string
  priceFen: number
  onSale: boolean
}

type GoodsRow = { id: number | bigint | string, item: string, price_fen: number | bigint | string, on_sale: number | bigint | string }

const toGoods = (row: GoodsRow): Goods => ({
  id: toInt(row.id),
  item: row.item,
  priceFen: toInt(row.price_fen),
  onSale: toInt(row.on_sale) === 1,
})

const columns = ['id', 'item', 'price_fen', 'on_sale'] as const

export async function findGoodsById (db: Executor, id: number): Promise<Goods | undefined> {
  const row = await db.selectFrom('goods').select(columns).where('id', '=', id).executeTakeFirst()
  return row && toGoods(row)
}

/** The whole catalog: a few rows to a few thousand, read at once by the goods cache. */
export async function findAllGoods (db: Executor): Promise<Goods[]> {
  const rows = await db.selectFrom('goods').select(columns).execute()
  return rows.map(toGoods)
}

export async function findGoodsByItem (db: Executor, item: string): Promise<Goods | undefined> {
  const row = await db.selectFrom('goods').select(columns).where('item', '=', item).executeTakeFirst()
  return row && toGoods(row)
}

export async function insertGoods (db: Executor, goods: Goods, now: number): Promise<void> {
  await db.insertInto('goods')
    .values({ id: goods.id, item: goods.item, price_fen: goods.priceFen, on_sale: goods.onSale ? 1 : 0, created_at: now, updated_at: now })
    .execute()
}

/**
 * Writes `after` over the row only while it still holds `before`; otherwise someone changed it in
 * between, and the transaction runs again from its read (RaceLost), so a price history never
 * records an old price that was not the one replaced.
 */
export async function updateGoodsIf (db: Executor, before: Goods, after: Goods, now: number): Promise<void> {
  const updated = await db.updateTable('goods')
    .set({ item: after.item, price_fen: after.priceFen, on_sale: after.onSale ? 1 : 0, updated_at: now })
    .where('id', '=', before.id)
    .where('item', '=', before.item)
    .where('price_fen', '=', before.priceFen)
    .where('on_sale', '=', before.onSale ? 1 : 0)
    .executeTakeFirst()
  if (Number(updated.numUpdatedRows) !== 1) throw new RaceLost()
}

export interface PriceChange {
  goodsId: number
  /** null when the goods were created with this price. */
  oldPriceFen: number | null
  newPriceFen: number
  /** The operator's name, or 'import' for a catalog import. */
  changedBy: string
  changedAt: number
  traceId: string | null
}

export async function recordPriceChange (db: Executor, change: PriceChange): Promise<void> {
  await db.insertInto('goods_price_history').values({
    goods_id: change.goodsId,
    old_price_fen: change.oldPriceFen,
    new_price_fen: change.newPriceFen,
    changed_by: change.changedBy.slice(0, 64),
    changed_at: change.changedAt,
    trace_id: change.traceId,
  }).execute()
}

/**
 * Writes one goods row by id, recording a new or changed price as changed by 'import'; with
 * overwrite false an existing row is left as the operator set it.
 */
export async function saveGoods (db: Executor, goods: Goods, now: number, overwrite: boolean): Promise<'inserted' | 'updated' | 'kept'> {
  const existing = await findGoodsById(db, goods.id)
  if (existing && !overwrite) return 'kept'
  if (existing) await updateGoodsIf(db, existing, goods, now)
  else await insertGoods(db, goods, now)
  if (existing?.priceFen !== goods.priceFen) {
    await recordPriceChange(db, { goodsId: goods.id, oldPriceFen: existing?.priceFen ?? null, newPriceFen: goods.priceFen, changedBy: 'import', changedAt: now, traceId: null })
  }
  return existing ? 'updated' : 'inserted'
}
