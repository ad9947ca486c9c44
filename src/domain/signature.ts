// Callback signatures (README: signing). The same functions sign (the `sign` command, tests) and
// verify (the callback route), so both sides cannot drift apart.
import { createHash, createHmac, sign as rsaSign, timingSafeEqual, verify as rsaVerify, type KeyObject } from 'node:crypto'

export type SignType = 'MD5' | 'HMAC-SHA256' | 'RSA2'

const SIGN_TYPES: Record<string, SignType> = {
  md5: 'MD5',
  'hmac-sha256': 'HMAC-SHA256',
  rsa2: 'RSA2',
}

/** The parameters that carry the signature itself and are never signed. */
const EXCLUDED = new Set(['sign', 'signType', 'sign_type'])

// Strict standard base64: Buffer.from(x, 'base64') silently skips junk, which would let a
// mangled signature through to the RSA check as different bytes.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

export function normalizeSignType (raw: string): SignType | null {
  if (typeof raw !== 'string') return null
  return Object.hasOwn(SIGN_TYPES, raw.toLowerCase()) ? SIGN_TYPES[raw.toLowerCase()] : null
}

/**
 * A received parameter value as the string that is signed (README: signing, rule 2): strings as is,
 * numbers as String(n), booleans as 'true'/'false'; null/undefined → null (empty, not signed);
 * anything else (objects, arrays) → undefined, which the caller rejects as INVALID_PARAMS.
 */
export function toSignValue (value: unknown): string | null | undefined {
  switch (typeof value) {
    case 'string': return value
    case 'number': return String(value)
    case 'boolean': return value ? 'true' : 'false'
    case 'undefined': return null
    default: return value === null ? null : undefined
  }
}

/** `k1=v1&k2=v2…` over the non-empty, non-signature parameters, names sorted byte-wise. */
export function buildStringA (params: Record<string, string | null>): string {
  const names = Object.keys(params)
    .filter((name) => !EXCLUDED.has(name) && params[name] !== null && params[name] !== '')
    .sort((a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')))
  return names.map((name) => `${name}=${params[name]}`).join('&')
}

export function computeSign (type: SignType, stringA: string, key: { secret?: string | null, privateKeyPem?: string }): string {
  switch (type) {
    case 'MD5':
      return createHash('md5').update(`${stringA}&key=${requireSecret(key.secret)}`, 'utf8').digest('hex')
    case 'HMAC-SHA256':
      return createHmac('sha256', requireSecret(key.secret)).update(stringA, 'utf8').digest('hex')
    case 'RSA2':
      if (key.privateKeyPem === undefined || key.privateKeyPem === '') throw new TypeError('RSA2 signing needs privateKeyPem')
      return rsaSign('sha256', Buffer.from(stringA, 'utf8'), key.privateKeyPem).toString('base64')
    default:
      throw new TypeError(`unsupported sign type: ${String(type)}`)
  }
}

/** Never throws: anything malformed (wrong length, bad base64, bad or missing key) is false. */
export function verifySign (type: SignType, stringA: string, sign: string, key: { secret?: string | null, publicKey?: KeyObject | string | null }): boolean {
  if (typeof sign !== 'string' || sign === '') return false
  try {
    switch (type) {
      case 'MD5':
      case 'HMAC-SHA256': {
        const expected = Buffer.from(computeSign(type, stringA, key), 'utf8')
        const given = Buffer.from(asciiLower(sign), 'utf8')
        return given.length === expected.length && timingSafeEqual(given, expected)
      }
      case 'RSA2': {
        if (!key.publicKey || !BASE64.test(sign)) return false
        return rsaVerify('sha256', Buffer.from(stringA, 'utf8'), key.publicKey, Buffer.from(sign, 'base64'))
      }
      default:
        return false
    }
  } catch {
    return false
  }
}

function requireSecret (secret: string | null | undefined): string {
  if (!secret) throw new TypeError('MD5 and HMAC-SHA256 signing need a secret')
  return secret
}

// Only A-F matter for hex; full Unicode lowercasing could change the byte length.
function asciiLower (value: string): string {
  return value.replace(/[A-Z]/g, (c) => c.toLowerCase())
}
