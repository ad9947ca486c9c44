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

export async function findGoodsByItem (db: Executor, item: string): Promise<Goods | undefined> {
  const row = await db.selectFrom('goods').select(columns).where('item', '=', item).executeTakeFirst()
  return row && toGoods(row)
}

/** Writes one goods row by id; with overwrite false an existing row is left as the operator set it. */
export async function saveGoods (db: Executor, goods: Goods, now: number, overwrite: boolean): Promise<'inserted' | 'updated' | 'kept'> {
  if (overwrite) {
    const updated = await db.updateTable('goods')
      .set({ item: goods.item, price_fen: goods.priceFen, on_sale: goods.onSale ? 1 : 0, updated_at: now })
      .where('id', '=', goods.id)
      .executeTakeFirst()
    if (Number(updated.numUpdatedRows) > 0) return 'updated'
  } else if (await findGoodsById(db, goods.id)) {
    return 'kept'
  }
  await db.insertInto('goods')
    .values({ id: goods.id, item: goods.item, price_fen: goods.priceFen, on_sale: goods.onSale ? 1 : 0, created_at: now, updated_at: now })
    .execute()
  return 'inserted'
}
