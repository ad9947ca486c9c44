import { Type } from 'typebox'
import { Iso, responses, Text, Yuan } from '../envelope.schemas.ts'

const UserId = Text({ minLength: 1, maxLength: 64, description: 'player id', examples: ['888888'] })
const Item = Text({ minLength: 1, maxLength: 255, description: 'the goods name (商品属性)', examples: ['商品属性'] })
const ItemId = Type.Unknown({ description: 'goods id, a positive integer as string or number; anything else counts as absent', examples: ['1'] })
const OrderNo = Text({ minLength: 1, maxLength: 255, examples: ['811-107552442731859968'] })
const Extra = Type.Optional(Text({ maxLength: 255 }))

export const CreateOrderBody = Type.Object({
  user_id: UserId,
  item: Item,
  item_id: Type.Optional(ItemId),
  single_pric: Yuan,
  amount_num: Type.Optional(Type.Integer({ minimum: 1, maximum: 999, default: 1 })),
  server_flag: Extra,
  description: Extra,
  game_role_id: Extra,
  game_role_name: Extra,
  game_role_grade: Extra,
}, { examples: [{ user_id: '888888', item: '商品属性', item_id: '1', single_pric: 99.99, amount_num: 1, server_flag: 's1' }] })

export const CreatedOrderData = Type.Object({
  item: Type.String(),
  item_id: Type.Integer(),
  order: Type.String(),
  single_pric: Yuan,
  user_id: Type.String(),
  amount_num: Type.Integer(),
  rmb_yuan: Yuan,
  status: Type.Literal('unpaid'),
  created_at: Iso,
  expire_at: Iso,
  reused: Type.Boolean({ description: 'true when an open unpaid order of the same user, goods, price, quantity and server_flag was returned' }),
})

export const createOrderSchema = {
  tags: ['orders'],
  summary: 'Create an order (or get the open unpaid one back)',
  headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) }),
  body: CreateOrderBody,
  response: responses(CreatedOrderData),
}

export const CancelOrderBody = Type.Object({ user_id: UserId, order: OrderNo }, {
  examples: [{ user_id: '888888', order: '811-107552442731859968' }],
})

export const cancelOrderSchema = {
  tags: ['orders'],
  summary: 'Cancel an unpaid order (idempotent)',
  body: CancelOrderBody,
  response: responses(Type.Object({ order: Type.String(), status: Type.Union([Type.Literal('cancelled'), Type.Literal('expired')]) })),
}

export const VerifyBody = Type.Object({ user_id: UserId, item: Item, item_id: Type.Optional(ItemId), order: Type.Optional(OrderNo) }, {
  examples: [{ user_id: '888888', item: '商品属性', item_id: '1' }],
})

export const PaidOrderData = Type.Object({
  order: Type.String(),
  user_id: Type.String(),
  item: Type.String(),
  item_id: Type.Integer(),
  single_pric: Yuan,
  amount_num: Type.Integer(),
  rmb_yuan: Yuan,
  status: Type.Literal('paid'),
  gyyx_order_no: Type.String(),
  paid_at: Iso,
  purchase_time: Type.String({ description: 'paid_at as YYYY-MM-DD HH:mm:ss in Asia/Shanghai' }),
  verify_count: Type.Integer(),
  first_verified_at: Type.Union([Iso, Type.Null()]),
})

export const verifySchema = {
  tags: ['orders'],
  summary: 'Has this user paid for this? (counts verifications)',
  body: VerifyBody,
  response: responses(PaidOrderData),
}
