// The signature scheme on its own: the README's test vector, which receivers check their code against.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { signatureHeader } from '../../src/modules/notifications/notification-signature.ts'
import { verifySignature } from './receiver.ts'

const BODY = '{"event_id":"evt_0a1b2c3d4e5f60718293a4b5c6d7e8f9","type":"order.paid","created_at":"2025-03-01T08:00:00.000Z",' +
  '"data":{"order":"811-384206183247761408","user_id":"888888","item":"钻石x6480","item_id":4,"amount_num":2,"rmb_yuan":1296,' +
  '"gyyx_order_no":"2025030112345678","status":"paid","paid_at":"2025-03-01T08:00:00.000Z","server_flag":"s1","late_payment":false}}'
const HEADER = 't=1740816000,v1=1a9430e16a1dc4f1b77f04106fdbfd02674c19abfc11e3993ab18d18dcbbac6d'

test('when the README\'s test vector is signed with demo-notify-secret, then the header is the README\'s', () => {
  assert.equal(signatureHeader('demo-notify-secret', 1740816000, BODY), HEADER)
  assert.deepEqual(verifySignature(HEADER, BODY, 'demo-notify-secret'), { ok: true, t: 1740816000 })
})

test('when one byte of the body, the time or the secret differs, then the signature does not verify', () => {
  assert.equal(verifySignature(HEADER, BODY.replace('1296', '1297'), 'demo-notify-secret').ok, false)
  assert.equal(verifySignature(HEADER.replace('t=1740816000', 't=1740816001'), BODY, 'demo-notify-secret').ok, false)
  assert.equal(verifySignature(HEADER, BODY, 'demo-notify-secreT').ok, false)
})
