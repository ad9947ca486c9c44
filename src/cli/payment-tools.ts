import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config.ts'
import { fenToYuan } from '../domain/money.ts'
import { buildStringA, computeSign, normalizeSignType, toSignValue, type SignType } from '../domain/signature.ts'

type Env = Record<string, string | undefined>

function signTypeOf (raw: string | undefined): SignType {
  const type = normalizeSignType(raw ?? 'MD5')
  if (!type) throw new Error(`--type must be MD5, HMAC-SHA256 or RSA2, got "${raw}"`)
  return type
}

/** Signs parameters as the platform does (CONTRACT §5.1); returns the parameters with sign and signType. */
export function signParams (params: Record<string, unknown>, type: SignType, key: { secret?: string | null, privateKeyPem?: string }) {
  const text: Record<string, string | null> = {}
  for (const [k, v] of Object.entries(params)) {
    const s = toSignValue(v)
    if (s === undefined) throw new Error(`${k}: objects and arrays cannot be signed`)
    text[k] = s
  }
  const stringA = buildStringA(text)
  return { stringA, sign: computeSign(type, stringA, key), body: { ...params, signType: type, sign: computeSign(type, stringA, key) } }
}

function keyOf (values: { secret?: string, 'private-key'?: string }, env: Env) {
  return {
    secret: values.secret ?? loadConfig(env).callbackSecret,
    privateKeyPem: values['private-key'] ? readFileSync(values['private-key'], 'utf8') : undefined,
  }
}

export function signCommand (args: string[], env: Env): string {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'string' }, type: { type: 'string' }, secret: { type: 'string' }, 'private-key': { type: 'string' } },
  })
  const params: Record<string, unknown> = values.json ? JSON.parse(values.json) : {}
  for (const pair of positionals) {
    const at = pair.indexOf('=')
    if (at < 1) throw new Error(`"${pair}" is not name=value`)
    params[pair.slice(0, at)] = pair.slice(at + 1)
  }
  const type = signTypeOf(values.type)
  const { stringA, sign } = signParams(params, type, keyOf(values, env))
  return `stringA=${stringA}\nsignType=${type}\nsign=${sign}`
}

export async function simulatePayment (args: string[], env: Env): Promise<string> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      amount: { type: 'string' },
      gyyx: { type: 'string' },
      result: { type: 'string', default: 'success' },
      type: { type: 'string' },
      secret: { type: 'string' },
      'private-key': { type: 'string' },
    },
  })
  const orderNo = positionals[0]
  if (!orderNo) throw new Error('usage: gamepay simulate-payment <order> [--url URL] [--amount yuan]')
  const config = loadConfig(env)
  let amount: string | number | undefined = values.amount
  if (amount === undefined) {
    // The amount the order expects, read from the same database the server uses.
    const { connect } = await import('../db/connect.ts')
    const { findOrder } = await import('../modules/orders/orders.repository.ts')
    const store = connect(config.databaseUrl)
    try {
      const order = await findOrder(store.db, orderNo, false)
      if (!order) throw new Error(`order ${orderNo} not found in ${config.databaseUrl}; pass --amount`)
      amount = fenToYuan(order.amountFen)
    } finally {
      await store.close()
    }
  }
  const params = {
    game_order_no: orderNo,
    gyyx_order_no: values.gyyx ?? `SIM${Date.now()}`,
    result: values.result,
    result_message: 'simulated',
    rmb_yuan: amount,
    server_flag: '',
    common_param: '',
    timestamp: String(Math.floor(Date.now() / 1000)),
  }
  const { body } = signParams(params, signTypeOf(values.type), keyOf(values, env))
  const url = `${values.url ?? `http://${config.host}:${config.port}`}/api/pay/callback`
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  return `POST ${url}\n${JSON.stringify(body)}\n→ ${response.status} ${await response.text()}`
}
