// Verifying a notification: the signature over the raw bytes, several v1 values, the tolerance, and
// agreement with the header the service sends.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { signatureHeader } from '../../src/modules/notifications/notification-signature.ts'
import { NotificationVerificationError, signNotification, verifyNotification } from '../src/index.ts'
import { EVENT, NOTIFY_SECRET as SECRET } from './fixtures.ts'

const NOW = 1_780_000_000
const at = (seconds: number) => () => seconds * 1000
// Spaces and a key order another serializer would change: the signature covers these exact bytes.
const RAW = `{"event_id":"evt_1", "type":"order.paid","created_at":"2026-05-28T20:26:40.000Z","data":${JSON.stringify(EVENT.data)}}`

function failure (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof NotificationVerificationError, String(err))
    return err.reason
  }
  assert.fail('verified')
}

describe('verifying a notification', () => {
  test('when the service signs a body, then the client verifies it and hands over the parsed event', () => {
    const header = signatureHeader(SECRET, NOW, RAW)
    assert.equal(header, signNotification(RAW, SECRET, NOW))
    assert.deepEqual(verifyNotification(RAW, header, { secret: SECRET, now: at(NOW) }), EVENT)
    assert.deepEqual(verifyNotification(Buffer.from(RAW), header, { secret: SECRET, now: at(NOW) }), EVENT)
  })

  test('when the body is re-serialized, a byte changes or the secret differs, then the signature does not match', () => {
    const header = signNotification(RAW, SECRET, NOW)
    assert.equal(failure(() => verifyNotification(JSON.stringify(EVENT), header, { secret: SECRET, now: at(NOW) })), 'signature-mismatch')
    const tampered = RAW.replace('"rmb_yuan":30', '"rmb_yuan":31')
    assert.equal(failure(() => verifyNotification(tampered, header, { secret: SECRET, now: at(NOW) })), 'signature-mismatch')
    assert.equal(failure(() => verifyNotification(RAW, header, { secret: 'another-secret-16chars', now: at(NOW) })), 'signature-mismatch')
    const retimed = header.replace(`t=${NOW}`, `t=${NOW + 1}`)
    assert.equal(failure(() => verifyNotification(RAW, retimed, { secret: SECRET, now: at(NOW) })), 'signature-mismatch')
  })

  test('when the header holds several v1 values or several secrets are given, then any one match is enough', () => {
    const good = signNotification(RAW, SECRET, NOW).split(',v1=')[1]
    const header = `t=${NOW},v1=${'0'.repeat(64)},v0=abc,v1=${good}`
    assert.equal(verifyNotification(RAW, header, { secret: SECRET, now: at(NOW) }).event_id, 'evt_1')
    const rotated = signNotification(RAW, 'the-new-secret-16chars', NOW)
    assert.equal(verifyNotification(RAW, rotated, { secret: [SECRET, 'the-new-secret-16chars'], now: at(NOW) }).event_id, 'evt_1')
  })

  test('when the signature is more than 5 minutes old or ahead, then it is refused; within, accepted', () => {
    const header = signNotification(RAW, SECRET, NOW)
    assert.equal(verifyNotification(RAW, header, { secret: SECRET, now: at(NOW + 300) }).event_id, 'evt_1')
    assert.equal(verifyNotification(RAW, header, { secret: SECRET, now: at(NOW - 300) }).event_id, 'evt_1')
    assert.equal(failure(() => verifyNotification(RAW, header, { secret: SECRET, now: at(NOW + 301) })), 'outside-tolerance')
    assert.equal(failure(() => verifyNotification(RAW, header, { secret: SECRET, now: at(NOW - 301) })), 'outside-tolerance')
    assert.equal(verifyNotification(RAW, header, { secret: SECRET, now: at(NOW + 3600), toleranceSeconds: 0 }).event_id, 'evt_1')
  })

  test('when the header is missing or malformed, or the body is not an event, then the reason says so', () => {
    assert.equal(failure(() => verifyNotification(RAW, undefined, { secret: SECRET })), 'missing-header')
    assert.equal(failure(() => verifyNotification(RAW, '', { secret: SECRET })), 'missing-header')
    assert.equal(failure(() => verifyNotification(RAW, `v1=${'a'.repeat(64)}`, { secret: SECRET })), 'malformed-header')
    assert.equal(failure(() => verifyNotification(RAW, `t=${NOW}`, { secret: SECRET })), 'malformed-header')
    assert.equal(failure(() => verifyNotification(RAW, `t=${NOW},v1=zz`, { secret: SECRET })), 'malformed-header')
    assert.equal(failure(() => verifyNotification(RAW, `t=soon,v1=${'a'.repeat(64)}`, { secret: SECRET })), 'malformed-header')
    const notJson = 'not json'
    const signedNow = (body: string) => signNotification(body, SECRET, NOW)
    assert.equal(failure(() => verifyNotification(notJson, signedNow(notJson), { secret: SECRET, now: at(NOW) })), 'malformed-body')
    const notEvent = '{"hello":1}'
    assert.equal(failure(() => verifyNotification(notEvent, signedNow(notEvent), { secret: SECRET, now: at(NOW) })), 'malformed-body')
    assert.throws(() => verifyNotification(RAW, signNotification(RAW, SECRET, NOW), { secret: '' }), TypeError)
  })
})
