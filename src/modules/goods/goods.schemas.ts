import { Type } from 'typebox'
import { responses, Yuan } from '../envelope.schemas.ts'

export const GoodsQuery = Type.Object({
  id: Type.String({ description: 'goods id, a positive integer', examples: ['1'] }),
})

export const GoodsData = Type.Object({
  id: Type.Integer(),
  item: Type.String(),
  single_pric: Yuan,
  on_sale: Type.Boolean(),
})

export const goodsSchema = {
  tags: ['goods'],
  summary: 'Look up goods and their current price',
  querystring: GoodsQuery,
  response: responses(GoodsData),
}
