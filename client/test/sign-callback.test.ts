// The client's callback signer is written apart from the service's; these tests hold the two together.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { buildStringA, computeSign, toSignValue, verifySign } from '../../src/domain/signature.ts'
import { callbackStringA, signCallback, type CallbackParams } from '../src/index.ts'

const VECTOR = {
  game_order_no: '811-107552442731859968',
  gyyx_order_no: '12345567',
  result: 'success',
  result_message: '',
  rmb_yuan: 128,
  server_flag: 's1',
  common_param: 'cp',
  timestamp: '1732600000',
}
const VECTOR_STRING_A = 'common_param=cp&game_order_no=811-107552442731859968&gyyx_order_no=12345567&result=success&rmb_yuan=128&server_flag=s1&timestamp=1732600000'

/** The service's view of the same parameters (as it reads them, into an object without a prototype). */
function serviceStringA (params: Record<string, unknown>): string {
  const text: Record<string, string | null> = Object.create(null)
  for (const [name, value] of Object.entries(params)) text[name] = toSignValue(value) ?? null
  return buildStringA(text)
}

const valueArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.constant(null)
)
const paramsArb = fc.dictionary(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 }), valueArb, { maxKeys: 10 })

describe('signing a callback', () => {
  test('when the documented test vector is signed, then stringA, MD5 and HMAC-SHA256 are the documented ones', () => {
    assert.equal(callbackStringA(VECTOR), VECTOR_STRING_A)
    const md5 = signCallback(VECTOR, { signType: 'MD5', secret: 'demo-secret' })
    assert.deepEqual({ signType: md5.signType, sign: md5.sign }, { signType: 'MD5', sign: '74fceaed45e99b9fbc26bcfdd6f2ad32' })
    const hmac = signCallback(VECTOR, { secret: 'demo-secret' })
    assert.equal(hmac.signType, 'HMAC-SHA256')
    assert.equal(hmac.sign, '0797d97e465915a7f99bf8c64636dd629a1bd23832cd55745dd2aeba36267f39')
    assert.equal(hmac.game_order_no, VECTOR.game_order_no, 'the parameters are kept as they are')
  })

  test('when any parameters are signed, then stringA and the signature are what the service computes and accepts', () => {
    const typeArb = fc.constantFrom('MD5' as const, 'HMAC-SHA256' as const)
    fc.assert(fc.property(paramsArb, typeArb, fc.string({ minLength: 1, maxLength: 30 }), (params, signType, secret) => {
      const stringA = serviceStringA(params)
      assert.equal(callbackStringA(params), stringA)
      const signed = signCallback(params as unknown as CallbackParams, { signType, secret })
      assert.equal(signed.sign, computeSign(signType, stringA, { secret }))
      assert.equal(verifySign(signType, serviceStringA(signed), signed.sign, { secret }), true)
    }))
  })

  test('when a parameter is named __proto__, then it is signed like any other, as the service reads it', () => {
    // A parameter name, not the prototype: a plain object literal would drop it on assignment.
    const params = JSON.parse('{"__proto__":"0","result":"success"}') as Record<string, unknown>
    assert.equal(callbackStringA(params), '__proto__=0&result=success')
    assert.equal(serviceStringA(params), '__proto__=0&result=success')
  })

  test('when RSA2 is used, then the service verifies it with the public key, and not with another', () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey
    const signed = signCallback(VECTOR, { signType: 'RSA2', privateKey })
    assert.equal(signed.signType, 'RSA2')
    assert.equal(verifySign('RSA2', VECTOR_STRING_A, signed.sign, { publicKey }), true)
    assert.equal(verifySign('RSA2', VECTOR_STRING_A, signed.sign, { publicKey: other }), false)
  })

  test('when the parameters already carry a signature, then it is replaced and sign_type dropped', () => {
    const resigned = signCallback({ ...VECTOR, sign: 'stale', sign_type: 'MD5' }, { secret: 'demo-secret' })
    assert.equal(resigned.sign, '0797d97e465915a7f99bf8c64636dd629a1bd23832cd55745dd2aeba36267f39')
    assert.equal('sign_type' in resigned, false)
  })

  test('when a key is missing or a value is an object, then signing throws instead of sending a bad callback', () => {
    assert.throws(() => signCallback(VECTOR, { signType: 'MD5' }), /needs secret/)
    assert.throws(() => signCallback(VECTOR, { signType: 'RSA2', secret: 'x' }), /needs privateKey/)
    assert.throws(() => callbackStringA({ ...VECTOR, extra: { a: 1 } }), /extra must be a string, number or boolean/)
  })
})
