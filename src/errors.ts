// The catalog of failure states (README: states): one place for each state's HTTP status and messages.

export const STATES = {
  INVALID_PARAMS: { status: 400, zh: '请求参数无效', en: 'Invalid request parameters' },
  GOODS_NOT_FOUND: { status: 404, zh: '商品不存在', en: 'No such goods' },
  GOODS_UNAVAILABLE: { status: 409, zh: '商品已下架', en: 'The goods are not for sale' },
  ITEM_MISMATCH: { status: 400, zh: '商品属性与商品或订单不符', en: 'item does not match the goods or the order' },
  PRICE_MISMATCH: { status: 400, zh: '单价与商品当前价格不符', en: 'single_pric is not the current price' },
  ORDER_NOT_FOUND: { status: 404, zh: '订单不存在', en: 'No such order for this user' },
  ORDER_ALREADY_PAID: { status: 409, zh: '订单已支付，不能取消', en: 'The order is paid and cannot be cancelled' },
  ORDER_NOT_PAID: { status: 409, zh: '订单未支付', en: 'The order is not paid' },
  SIGN_INVALID: { status: 401, zh: '签名无效', en: 'The signature is wrong or missing' },
  SIGN_TYPE_UNSUPPORTED: { status: 400, zh: '不支持的签名类型', en: 'Unsupported signType' },
  AMOUNT_MISMATCH: { status: 400, zh: '支付金额与订单金额不符', en: 'rmb_yuan differs from the order amount' },
  CALLBACK_FORBIDDEN: { status: 403, zh: '回调来源或时间戳不被允许', en: 'Callback source or timestamp not allowed' },
  UNAUTHORIZED: { status: 401, zh: '未授权', en: 'Missing or wrong credentials' },
  FORBIDDEN: { status: 403, zh: '无权执行此操作', en: 'Not allowed' },
  CONFLICT: { status: 409, zh: '与当前状态冲突', en: 'Conflicts with the current state' },
  RATE_LIMITED: { status: 429, zh: '请求过于频繁，请稍后再试', en: 'Too many requests, retry later' },
  NOT_FOUND: { status: 404, zh: '接口不存在', en: 'No such route' },
  METHOD_NOT_ALLOWED: { status: 405, zh: '请求方法不允许', en: 'Method not allowed' },
  PAYLOAD_TOO_LARGE: { status: 413, zh: '请求体过大', en: 'Request body too large' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, zh: '不支持的内容类型', en: 'Unsupported content type' },
  SERVICE_UNAVAILABLE: { status: 503, zh: '服务暂不可用，请稍后重试', en: 'Service unavailable, retry later' },
  INTERNAL_ERROR: { status: 500, zh: '服务内部错误', en: 'Internal error' },
} as const

export type State = keyof typeof STATES

export interface Detail { zh: string, en: string }

/** A failure the client is told about: one of the states and, where there is one, the field at fault. */
export class AppError extends Error {
  readonly state: State
  readonly detail: Detail | undefined

  constructor (state: State, detail?: Detail | string) {
    const d = typeof detail === 'string' ? { zh: detail, en: detail } : detail
    super(d ? `${state}: ${d.en}` : state)
    this.name = 'AppError'
    this.state = state
    this.detail = d
  }

  get httpStatus (): number {
    return STATES[this.state].status
  }

  localized (lang: 'zh' | 'en'): string {
    const base = STATES[this.state][lang]
    return this.detail ? `${base}: ${this.detail[lang]}` : base
  }
}

/** INVALID_PARAMS naming the field, in both languages. */
export function invalidField (field: string, zh: string, en: string): AppError {
  return new AppError('INVALID_PARAMS', { zh: `${field} ${zh}`, en: `${field} ${en}` })
}

export const missing = (field: string) => invalidField(field, '为必填项', 'is required')
