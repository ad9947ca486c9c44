// Signs a payment callback as a payment platform does, for platform simulators and tests. The algorithm
// is the service's (README: payment callbacks and signing), written again here so the client stands alone.
import { createHash, createHmac, sign as rsaSign, type KeyObject } from 'node:crypto'
import type { CallbackParams } from './types.js'

export type SignType = 'MD5' | 'HMAC-SHA256' | 'RSA2'

export interface SignCallbackOptions {
  /** Default HMAC-SHA256. */
  signType?: SignType
  /** CALLBACK_SECRET, for MD5 and HMAC-SHA256. */
  secret?: string
  /** The platform's private key (PEM or KeyObject), for RSA2. */
  privateKey?: string | KeyObject
}

const NOT_SIGNED = new Set(['sign', 'signType', 'sign_type'])

/** A parameter value as the string that is signed; null when it is empty and so not signed. */
function signedValue (name: string, value: unknown): string | null {
  switch (typeof value) {
    case 'string': return value === '' ? null : value
    case 'number': return String(value)
    case 'boolean': return value ? 'true' : 'false'
    case 'undefined': return null
    default:
      if (value === null) return null
      throw new TypeError(`callback parameter ${name} must be a string, number or boolean`)
  }
}

/**
 * `stringA`: every non-empty parameter but sign and signType/sign_type, unknown ones included, sorted by
 * name byte-wise and joined as k1=v1&k2=v2.
 */
export function callbackStringA (params: Record<string, unknown>): string {
  const pairs: [Buffer, string][] = []
  for (const [name, value] of Object.entries(params)) {
    const text = NOT_SIGNED.has(name) ? null : signedValue(name, value)
    if (text !== null) pairs.push([Buffer.from(name, 'utf8'), `${name}=${text}`])
  }
  return pairs.sort((a, b) => Buffer.compare(a[0], b[0])).map(([, pair]) => pair).join('&')
}

/** The signature of stringA: hex for MD5 and HMAC-SHA256, base64 for RSA2. */
export function callbackSignature (stringA: string, opts: SignCallbackOptions): string {
  const type = opts.signType ?? 'HMAC-SHA256'
  if (type === 'RSA2') {
    if (!opts.privateKey) throw new TypeError('RSA2 signing needs privateKey')
    return rsaSign('sha256', Buffer.from(stringA, 'utf8'), opts.privateKey).toString('base64')
  }
  if (!opts.secret) throw new TypeError(`${type} signing needs secret`)
  if (type === 'MD5') return createHash('md5').update(`${stringA}&key=${opts.secret}`, 'utf8').digest('hex')
  if (type === 'HMAC-SHA256') return createHmac('sha256', opts.secret).update(stringA, 'utf8').digest('hex')
  throw new TypeError(`unsupported signType: ${String(type)}`)
}

/**
 * The parameters with `signType` and `sign` set, ready for GamepayClient.callback(). A parameter whose
 * value holds `&name=` is refused by the service (such values are URL-encoded by platforms).
 */
export function signCallback<T extends CallbackParams> (
  params: T, opts: SignCallbackOptions
): T & { sign: string, signType: SignType } {
  const signType = opts.signType ?? 'HMAC-SHA256'
  const signed: Record<string, unknown> = { ...params }
  delete signed.sign_type
  signed.signType = signType
  signed.sign = callbackSignature(callbackStringA(params), { ...opts, signType })
  return signed as T & { sign: string, signType: SignType }
}
