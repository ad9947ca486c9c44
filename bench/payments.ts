// Orders and signed callbacks for the load scenarios (bench/run.ts, bench/notify.ts).
import { buildStringA, computeSign, toSignValue } from '../src/domain/signature.ts'
import { inParallel } from './lib.ts'

export const SECRET = 'gamepay-bench-secret'
// The demo catalog's goods 2 (月卡, 30 yuan), which every non-production start seeds.
export const GOODS = { item: '月卡', item_id: '2', single_pric: 30 }

export async function postJson (origin: string, path: string, body: unknown) {
  const res = await fetch(origin + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const json = await res.json() as { result: string, data?: Record<string, unknown>, message?: string }
  if (res.status !== 200) throw new Error(`${path} answered ${res.status}: ${JSON.stringify(json)}`)
  return json.data ?? {}
}

export interface Prepared { order: string, user: string, amount: number }

/** Orders created over HTTP on several parallel lanes, until `enough(n)` says stop. */
export async function createOrders (origin: string, userPrefix: string, lanes: number, enough: (n: number) => boolean): Promise<Prepared[]> {
  const orders: Prepared[] = []
  await inParallel(lanes, (n) => !enough(n), async (i) => {
    const user = `${userPrefix}${i}`
    const data = await postJson(origin, '/api/pay/create-order', { user_id: user, ...GOODS })
    orders.push({ order: String(data.order), user, amount: Number(data.rmb_yuan) })
  })
  return orders
}

/** A success callback for the order, signed as the platform signs it (MD5). */
export function callbackBody (o: Prepared, platformOrderNo: string): string {
  const params: Record<string, unknown> = {
    game_order_no: o.order,
    gyyx_order_no: platformOrderNo,
    result: 'success',
    result_message: '',
    rmb_yuan: o.amount,
    server_flag: '',
    common_param: '',
    timestamp: String(Math.floor(Date.now() / 1000)),
  }
  const text: Record<string, string | null> = {}
  for (const [k, v] of Object.entries(params)) text[k] = toSignValue(v) ?? null
  return JSON.stringify({ ...params, signType: 'MD5', sign: computeSign('MD5', buildStringA(text), { secret: SECRET }) })
}
