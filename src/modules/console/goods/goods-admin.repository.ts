import type { Executor } from '../../../db/database.ts'
import { toInt, toIntOrNull } from '../../../db/values.ts'
import type { Goods, PriceChange } from '../../goods/goods.repository.ts'

/** Goods as the console lists them: with their times. */
export interface GoodsRecord extends Goods {
  createdAt: number
  updatedAt: number
}

/** A recorded price, with its row id. */
export interface PriceHistoryEntry extends PriceChange {
  id: number
}

const columns = ['id', 'item', 'price_fen', 'on_sale', 'created_at', 'updated_at'] as const

function selectGoods (db: Executor) {
  return db.selectFrom('goods').select(columns)
}

type Row = Awaited<ReturnType<ReturnType<typeof selectGoods>['executeTakeFirstOrThrow']>>

const toRecord = (r: Row): GoodsRecord => ({
  id: toInt(r.id),
  item: r.item,
  priceFen: toInt(r.price_fen),
  onSale: toInt(r.on_sale) === 1,
  createdAt: toInt(r.created_at),
  updatedAt: toInt(r.updated_at),
})

export async function listGoods (db: Executor): Promise<GoodsRecord[]> {
  return (await selectGoods(db).orderBy('id').execute()).map(toRecord)
}

export async function findGoodsRecord (db: Executor, id: number): Promise<GoodsRecord | undefined> {
  const row = await selectGoods(db).where('id', '=', id).executeTakeFirst()
  return row && toRecord(row)
}

/** One past the highest id in use. */
export async function nextGoodsId (db: Executor): Promise<number> {
  const row = await db.selectFrom('goods').select((eb) => eb.fn.max('id').as('top')).executeTakeFirst()
  return (toIntOrNull(row?.top ?? null) ?? 0) + 1
}

/** Newest first. */
export async function listPriceHistory (db: Executor, goodsId: number, limit: number): Promise<PriceHistoryEntry[]> {
  const rows = await db.selectFrom('goods_price_history').selectAll()
    .where('goods_id', '=', goodsId)
    .orderBy('changed_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute()
  return rows.map((r) => ({
    id: toInt(r.id),
    goodsId: toInt(r.goods_id),
    oldPriceFen: toIntOrNull(r.old_price_fen),
    newPriceFen: toInt(r.new_price_fen),
    changedBy: r.changed_by,
    changedAt: toInt(r.changed_at),
    traceId: r.trace_id,
  }))
}
