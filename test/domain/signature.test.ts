import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import fc from 'fast-check'
import { buildStringA, computeSign, normalizeSignType, toSignValue, verifySign } from '../../src/domain/signature.ts'
import type { SignType } from '../../src/domain/signature.ts'

const SECRET = 'demo-secret'
const VECTOR_BODY = '{"game_order_no":"811-107552442731859968","gyyx_order_no":"12345567","result":"success","result_message":"","rmb_yuan":128,"server_flag":"s1","common_param":"cp","timestamp":"1732600000"}'
const VECTOR_STRING_A = 'common_param=cp&game_order_no=811-107552442731859968&gyyx_order_no=12345567&result=success&rmb_yuan=128&server_flag=s1&timestamp=1732600000'

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
const PRIVATE_PEM = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string
const PUBLIC_PEM = publicKey.export({ type: 'spki', format: 'pem' }) as string
const OTHER_PUBLIC_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string

function toSignParams (body: Record<string, unknown>): Record<string, string | null> {
  const params: Record<string, string | null> = {}
  for (const [name, value] of Object.entries(body)) {
    const text = toSignValue(value)
    assert.notEqual(text, undefined)
    params[name] = text as string | null
  }
  return params
}

const nameArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
  .filter((name) => !['sign', 'signType', 'sign_type'].includes(name))
const valueArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 })
const paramsArb = fc.dictionary(nameArb, valueArb, { minKeys: 1, maxKeys: 10 })
const hexTypeArb = fc.constantFrom<SignType>('MD5', 'HMAC-SHA256')
const secretArb = fc.string({ minLength: 1, maxLength: 40 })

function shuffled<T> (items: T[], seed: number): T[] {
  const out = [...items]
  let state = seed >>> 0
  for (let i = out.length - 1; i > 0; i--) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0
    const j = state % (i + 1);
    [out[i], out[j]] = [out[j], out[i]]
  }
  return out
}

describe('normalizeSignType', () => {
  it('accepts the three types in any case', () => {
    assert.equal(normalizeSignType('MD5'), 'MD5')
    assert.equal(normalizeSignType('md5'), 'MD5')
    assert.equal(normalizeSignType('Hmac-Sha256'), 'HMAC-SHA256')
    assert.equal(normalizeSignType('rsa2'), 'RSA2')
    assert.equal(normalizeSignType('RSA2'), 'RSA2')
  })

  it('rejects anything else', () => {
    for (const raw of ['', 'RSA', 'SHA256', 'HMAC_SHA256', ' md5', 'md5 ', 'toString', '__proto__', 'constructor']) {
      assert.equal(normalizeSignType(raw), null, raw)
    }
  })
})

describe('toSignValue', () => {
  it('converts received values as §5.1 says', () => {
    assert.equal(toSignValue('128.00'), '128.00')
    assert.equal(toSignValue(''), '')
    assert.equal(toSignValue(128), '128')
    assert.equal(toSignValue(120.88), '120.88')
    assert.equal(toSignValue(true), 'true')
    assert.equal(toSignValue(false), 'false')
    assert.equal(toSignValue(null), null)
    assert.equal(toSignValue(undefined), null)
    assert.equal(toSignValue({}), undefined)
    assert.equal(toSignValue([]), undefined)
    assert.equal(toSignValue(['a']), undefined)
  })
})

describe('buildStringA and computeSign', () => {
  it('match the contract test vector', () => {
    const params = toSignParams(JSON.parse(VECTOR_BODY))
    const stringA = buildStringA(params)
    assert.equal(stringA, VECTOR_STRING_A)
    assert.equal(computeSign('MD5', stringA, { secret: SECRET }), '74fceaed45e99b9fbc26bcfdd6f2ad32')
    assert.equal(computeSign('HMAC-SHA256', stringA, { secret: SECRET }), '0797d97e465915a7f99bf8c64636dd629a1bd23832cd55745dd2aeba36267f39')
    assert.ok(verifySign('MD5', stringA, '74FCEAED45E99B9FBC26BCFDD6F2AD32', { secret: SECRET }))
  })

  it('leaves out sign, signType, sign_type and empty values, and does not url-encode', () => {
    assert.equal(buildStringA({ b: '2', a: '1', sign: 'x', signType: 'MD5', sign_type: 'MD5', e: '', n: null }), 'a=1&b=2')
    assert.equal(buildStringA({ q: 'a b&c=d', p: '中文' }), 'p=中文&q=a b&c=d')
    assert.equal(buildStringA({}), '')
  })

  it('sorts names by UTF-8 bytes, not UTF-16 code units', () => {
    // UTF-16 puts U+1F600 (surrogate 0xD83D) before U+FF21; UTF-8 bytes (F0… vs EF…) do not.
    const params = Object.fromEntries([['\u{1F600}', '1'], ['\uFF21', '2'], ['B', '3'], ['a', '4'], ['_', '5']])
    assert.equal(buildStringA(params), 'B=3&_=5&a=4&\uFF21=2&\u{1F600}=1')
  })

  it('refuses to sign without key material', () => {
    assert.throws(() => computeSign('MD5', 'a=1', {}), TypeError)
    assert.throws(() => computeSign('HMAC-SHA256', 'a=1', { secret: '' }), TypeError)
    assert.throws(() => computeSign('RSA2', 'a=1', { secret: SECRET }), TypeError)
  })

  it('gives a stringA independent of parameter order', () => {
    fc.assert(fc.property(paramsArb, fc.integer(), (params, seed) => {
      const reordered = Object.fromEntries(shuffled(Object.entries(params), seed))
      return buildStringA(reordered) === buildStringA(params)
    }))
  })

  it('is not affected by signature fields or empty values', () => {
    const noise = fc.record({
      sign: fc.option(valueArb),
      signType: fc.option(valueArb),
      sign_type: fc.option(valueArb),
    }, { requiredKeys: [] })
    const empties = fc.dictionary(nameArb, fc.constantFrom<string | null>('', null), { maxKeys: 5 })
    fc.assert(fc.property(paramsArb, noise, empties, (params, signFields, emptyFields) => {
      const withNoise = { ...emptyFields, ...params, ...signFields }
      // Names in params win over the empty ones, as they would in a received body.
      const plain = Object.fromEntries(Object.entries(withNoise).filter(([name, value]) =>
        !['sign', 'signType', 'sign_type'].includes(name) && value !== null && value !== ''))
      return buildStringA(withNoise) === buildStringA(plain) && buildStringA(plain) === buildStringA(params)
    }))
  })

  it('changes the MD5 and HMAC sign when any included value changes', () => {
    fc.assert(fc.property(paramsArb, fc.nat(), valueArb, hexTypeArb, secretArb, (params, index, replacement, type, secret) => {
      const names = Object.keys(params)
      const name = names[index % names.length]
      fc.pre(replacement !== params[name])
      const changed = { ...params, [name]: replacement }
      return computeSign(type, buildStringA(changed), { secret }) !== computeSign(type, buildStringA(params), { secret })
    }))
  })

  it('changes the sign when the secret changes', () => {
    fc.assert(fc.property(paramsArb, hexTypeArb, secretArb, secretArb, (params, type, secretA, secretB) => {
      fc.pre(secretA !== secretB)
      const stringA = buildStringA(params)
      return !verifySign(type, stringA, computeSign(type, stringA, { secret: secretA }), { secret: secretB })
    }))
  })
})

describe('verifySign', () => {
  it('accepts its own hex signatures in either case', () => {
    fc.assert(fc.property(paramsArb, hexTypeArb, secretArb, (params, type, secret) => {
      const stringA = buildStringA(params)
      const sign = computeSign(type, stringA, { secret })
      assert.match(sign, /^[0-9a-f]+$/)
      return verifySign(type, stringA, sign, { secret }) &&
        verifySign(type, stringA, sign.toUpperCase(), { secret })
    }))
  })

  it('rejects wrong, truncated, padded and empty hex signatures', () => {
    const sign = computeSign('MD5', VECTOR_STRING_A, { secret: SECRET })
    const key = { secret: SECRET }
    assert.equal(verifySign('MD5', VECTOR_STRING_A, sign.slice(0, -1), key), false)
    assert.equal(verifySign('MD5', VECTOR_STRING_A, sign + '0', key), false)
    assert.equal(verifySign('MD5', VECTOR_STRING_A, ` ${sign}`, key), false)
    assert.equal(verifySign('MD5', VECTOR_STRING_A, '', key), false)
    assert.equal(verifySign('MD5', VECTOR_STRING_A, '0'.repeat(32), key), false)
    assert.equal(verifySign('HMAC-SHA256', VECTOR_STRING_A, sign, key), false)
    assert.equal(verifySign('MD5', VECTOR_STRING_A + '&x=1', sign, key), false)
    assert.equal(verifySign('MD5', VECTOR_STRING_A, sign, { secret: '' }), false)
    // Unicode whose lower case is longer than itself must not throw in timingSafeEqual.
    assert.equal(verifySign('MD5', VECTOR_STRING_A, '\u0130'.repeat(16), key), false)
  })

  it('never throws on arbitrary signatures', () => {
    fc.assert(fc.property(fc.constantFrom<SignType>('MD5', 'HMAC-SHA256', 'RSA2'), fc.string({ unit: 'binary', maxLength: 400 }), (type, sign) =>
      verifySign(type, VECTOR_STRING_A, sign, { secret: SECRET, publicKey: PUBLIC_PEM }) === false
    ))
  })

  it('round-trips RSA2 with a generated key pair', () => {
    const stringA = buildStringA(toSignParams(JSON.parse(VECTOR_BODY)))
    const sign = computeSign('RSA2', stringA, { privateKeyPem: PRIVATE_PEM })
    assert.match(sign, /^[A-Za-z0-9+/]+={0,2}$/)
    assert.equal(Buffer.from(sign, 'base64').length, 256)
    assert.ok(verifySign('RSA2', stringA, sign, { secret: SECRET, publicKey: PUBLIC_PEM }))
    assert.equal(verifySign('RSA2', stringA + 'x', sign, { secret: SECRET, publicKey: PUBLIC_PEM }), false)
    assert.equal(verifySign('RSA2', stringA, sign, { secret: SECRET, publicKey: OTHER_PUBLIC_PEM }), false)
  })

  it('rejects RSA2 with no key, a bad key or bad base64 without throwing', () => {
    const sign = computeSign('RSA2', VECTOR_STRING_A, { privateKeyPem: PRIVATE_PEM })
    assert.equal(verifySign('RSA2', VECTOR_STRING_A, sign, { secret: SECRET }), false)
    assert.equal(verifySign('RSA2', VECTOR_STRING_A, sign, { secret: SECRET, publicKey: '' }), false)
    assert.equal(verifySign('RSA2', VECTOR_STRING_A, sign, { secret: SECRET, publicKey: 'not a key' }), false)
    assert.equal(verifySign('RSA2', VECTOR_STRING_A, `${sign}!`, { secret: SECRET, publicKey: PUBLIC_PEM }), false)
    assert.equal(verifySign('RSA2', VECTOR_STRING_A, sign.slice(1), { secret: SECRET, publicKey: PUBLIC_PEM }), false)
    assert.equal(verifySign('RSA2', VECTOR_STRING_A, '', { secret: SECRET, publicKey: PUBLIC_PEM }), false)
  })

  it('round-trips RSA2 over random parameters', () => {
    fc.assert(fc.property(paramsArb, (params) => {
      const stringA = buildStringA(params)
      const sign = computeSign('RSA2', stringA, { privateKeyPem: PRIVATE_PEM })
      return verifySign('RSA2', stringA, sign, { secret: SECRET, publicKey: PUBLIC_PEM })
    }), { numRuns: 30 })
  })
})
