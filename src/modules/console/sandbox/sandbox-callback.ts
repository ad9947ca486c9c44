import { randomBytes } from 'node:crypto'
import { signParams } from '../../../cli/payment-tools.ts'
import type { Config } from '../../../config.ts'
import { fenToYuan } from '../../../domain/money.ts'
import type { SignType } from '../../../domain/signature.ts'
import type { Order } from '../../orders/orders.repository.ts'

export type SandboxOutcome = 'pay' | 'fail'

type SigningConfig = Pick<Config, 'callbackSecret' | 'callbackSignTypes' | 'callbackSuccessResults'>

/**
 * The shared-secret signType the server accepts (the first in CALLBACK_SIGN_TYPES); null when it
 * accepts RSA2 alone, whose private key only the platform holds.
 */
export function sandboxSignType (config: SigningConfig): SignType | null {
  if (!config.callbackSecret) return null
  return config.callbackSignTypes.find((type) => type !== 'RSA2') ?? null
}

/**
 * The platform's callback for an order, signed with CALLBACK_SECRET as the platform signs it, as a
 * form body: a fresh platform order number, the order's own amount and server_flag, the time now.
 */
export function sandboxCallback (order: Pick<Order, 'orderNo' | 'amountFen' | 'serverFlag'>, outcome: SandboxOutcome, type: SignType, config: SigningConfig, now: number) {
  const gyyxOrderNo = `SANDBOX-${randomBytes(8).toString('hex')}`
  const success = config.callbackSuccessResults.includes('success') ? 'success' : config.callbackSuccessResults[0]
  const { body } = signParams({
    game_order_no: order.orderNo,
    gyyx_order_no: gyyxOrderNo,
    result: outcome === 'pay' ? success : 'fail',
    result_message: 'sandbox',
    rmb_yuan: fenToYuan(order.amountFen),
    server_flag: order.serverFlag,
    common_param: '',
    timestamp: String(Math.floor(now / 1000)),
  }, type, { secret: config.callbackSecret })
  const form = new URLSearchParams(Object.entries(body).map(([name, value]) => [name, String(value)])).toString()
  return { gyyxOrderNo, form }
}
