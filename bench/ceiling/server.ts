// The ceiling for gamepay's hot paths: the same framework (Fastify 5, the same route schemas, so the
// same validation and response serializers), the same driver and durability, and the same envelope,
// but per request only what the request cannot do without:
//   GET  /api/pay/goods         the goods row held in memory (GOODS_SEED), no database
//   POST /api/pay/create-order  the price checked in memory, one INSERT
//   POST /api/pay/callback      the MD5 signature checked, then BEGIN; UPDATE the unpaid order of that
//                               amount to paid; INSERT the payment; COMMIT
//   POST /api/pay/verification  one UPDATE of the paid order's verify_count (RETURNING the row;
//                               MariaDB: then one SELECT of it)
// No logging, metrics, rate limit, callback log, order events or read-before-write. SQLite commits
// each request on its own unless CEILING_GROUP_COMMIT=1 (then the requests of one event-loop turn
// share a commit, as with gamepay's group commit).
//
//   DATABASE_URL=… GOODS_SEED=goods.json CALLBACK_SECRET=… PORT=… node --import tsx bench/ceiling/server.ts
import { createHash, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify'
import { fenToYuan, parseYuan } from '../../src/domain/money.ts'
import { buildStringA, toSignValue, verifySign } from '../../src/domain/signature.ts'
import { goodsSchema } from '../../src/modules/goods/goods.schemas.ts'
import { createOrderSchema, verifySchema } from '../../src/modules/orders/orders.schemas.ts'
import { callbackSchema } from '../../src/modules/payments/callback.schemas.ts'
import { mysqlStore } from './mysql.ts'
import { postgresStore } from './postgres.ts'
import { sqliteStore } from './sqlite.ts'
import type { CeilingStore, PaidRow } from './store.ts'

interface Goods { id: number, item: string, priceFen: number, onSale: boolean }

const env = process.env
const url = env.DATABASE_URL ?? ''
const secret = env.CALLBACK_SECRET ?? ''
const store: CeilingStore = url.startsWith('sqlite:') ? sqliteStore(url, { groupCommit: env.CEILING_GROUP_COMMIT === '1' }) : url.startsWith('mysql:') ? mysqlStore(url) : postgresStore(url)
const goodsById = new Map<number, Goods>(
  (JSON.parse(readFileSync(env.GOODS_SEED ?? '', 'utf8')) as Array<{ id: number, item: string, single_pric: number, on_sale?: boolean }>)
    .map((g) => [g.id, { id: g.id, item: g.item, priceFen: parseYuan(g.single_pric) ?? 0, onSale: g.on_sale !== false }]))

const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/
const ORDER_TTL_MS = 1800_000
// Order numbers: unique per process start and counter, no lease table.
const orderBase = `811-c${Date.now().toString(36)}`
let orderCounter = 0

class Refusal extends Error {
  constructor (readonly status: number, readonly state: string) {
    super(state)
  }
}

const app = Fastify({
  logger: false,
  requestIdHeader: false,
  genReqId: (req) => {
    const given = req.headers['x-request-id']
    return typeof given === 'string' && TRACE_ID.test(given) ? given : randomUUID()
  },
  ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
})

app.addHook('onRequest', async (req, reply) => {
  reply.header('X-Request-Id', req.id)
})

app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
  const refusal = err instanceof Refusal ? err : err.validation ? new Refusal(400, 'INVALID_PARAMS') : new Refusal(500, 'INTERNAL_ERROR')
  return reply.code(refusal.status).send({ result: 'fail', state: refusal.state, trace_id: req.id, message: refusal.state })
})

const ok = (req: FastifyRequest, data?: unknown) => ({ result: 'success', state: '', trace_id: req.id, data })

const goodsIdOf = (value: unknown) => typeof value === 'number' ? value : Number(value)

app.get('/readyz', async () => 'ok')

app.get('/api/pay/goods', { schema: goodsSchema }, async (req) => {
  const goods = goodsById.get(goodsIdOf((req.query as { id: string }).id))
  if (!goods) throw new Refusal(404, 'GOODS_NOT_FOUND')
  return ok(req, { id: goods.id, item: goods.item, single_pric: fenToYuan(goods.priceFen), on_sale: goods.onSale })
})

app.post('/api/pay/create-order', { schema: createOrderSchema }, async (req) => {
  const body = req.body as { user_id: string, item: string, item_id?: unknown, single_pric: number, amount_num?: number, server_flag?: string }
  const goods = goodsById.get(goodsIdOf(body.item_id))
  const priceFen = parseYuan(body.single_pric)
  if (!goods || goods.item !== body.item || !goods.onSale || priceFen !== goods.priceFen) throw new Refusal(400, 'PRICE_MISMATCH')
  const amountNum = body.amount_num ?? 1
  const serverFlag = body.server_flag ?? ''
  const now = Date.now()
  const order = {
    orderNo: `${orderBase}${++orderCounter}`,
    userId: body.user_id,
    goodsId: goods.id,
    item: goods.item,
    priceFen,
    amountNum,
    amountFen: priceFen * amountNum,
    serverFlag,
    // The same unique key gamepay keeps on an unpaid order, so the row and its indexes are alike.
    openKey: createHash('sha256').update(JSON.stringify([body.user_id, goods.id, priceFen, amountNum, serverFlag])).digest('hex'),
    createdAt: now,
    expireAt: now + ORDER_TTL_MS,
  }
  await store.insertOrder(order)
  return ok(req, {
    item: order.item,
    item_id: order.goodsId,
    order: order.orderNo,
    single_pric: fenToYuan(priceFen),
    user_id: order.userId,
    amount_num: amountNum,
    rmb_yuan: fenToYuan(order.amountFen),
    status: 'unpaid',
    created_at: new Date(now).toISOString(),
    expire_at: new Date(order.expireAt).toISOString(),
    reused: false,
  })
})

app.post('/api/pay/callback', { schema: callbackSchema, validatorCompiler: () => () => true }, async (req) => {
  const params = req.body as Record<string, unknown>
  const text: Record<string, string | null> = {}
  for (const [name, value] of Object.entries(params)) text[name] = toSignValue(value) ?? null
  if (!verifySign('MD5', buildStringA(text), String(params.sign), { secret })) throw new Refusal(400, 'SIGN_INVALID')
  const amountFen = parseYuan(params.rmb_yuan, { allowString: true })
  if (amountFen === null) throw new Refusal(400, 'INVALID_PARAMS')
  const paid = await store.pay({
    orderNo: String(text.game_order_no),
    gyyxOrderNo: String(text.gyyx_order_no),
    amountFen,
    result: String(text.result),
    resultMessage: text.result_message ?? '',
    serverFlag: text.server_flag ?? '',
    commonParam: text.common_param ?? '',
    platformTimestamp: text.timestamp ?? '',
    traceId: req.id,
    now: Date.now(),
  })
  if (!paid) throw new Refusal(404, 'ORDER_NOT_FOUND')
  return ok(req)
})

const shanghai = new Intl.DateTimeFormat('sv-SE', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
})
const iso = (ms: number) => new Date(ms).toISOString()

function paidOrderData (row: PaidRow) {
  const paidAt = Number(row.paid_at ?? 0)
  return {
    order: row.order_no,
    user_id: row.user_id,
    item: row.item,
    item_id: Number(row.goods_id),
    single_pric: fenToYuan(Number(row.price_fen)),
    amount_num: Number(row.amount_num),
    rmb_yuan: fenToYuan(Number(row.amount_fen)),
    status: 'paid',
    gyyx_order_no: row.gyyx_order_no ?? '',
    paid_at: iso(paidAt),
    purchase_time: shanghai.format(new Date(paidAt)),
    verify_count: Number(row.verify_count),
    first_verified_at: row.first_verified_at === null ? null : iso(Number(row.first_verified_at)),
  }
}

app.post('/api/pay/verification', { schema: verifySchema }, async (req) => {
  const body = req.body as { user_id: string, item: string, order?: string }
  // The order number is what the bench sends; without one gamepay looks up the latest paid order.
  if (body.order === undefined) throw new Refusal(400, 'INVALID_PARAMS')
  const row = await store.verify(body.order, body.user_id, body.item, Date.now(), req.id)
  if (!row) throw new Refusal(404, 'ORDER_NOT_PAID')
  return ok(req, paidOrderData(row))
})

await app.listen({ port: Number(env.PORT ?? 0), host: '127.0.0.1' })

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    app.close().then(() => store.close()).then(() => process.exit(0), () => process.exit(1))
  })
}
