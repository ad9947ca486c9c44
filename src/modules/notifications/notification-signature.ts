import { createHmac } from 'node:crypto'

export const SIGNATURE_HEADER = 'Gamepay-Signature'

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`, the scheme of Stripe's webhooks:
 * the timestamp is signed with the body, so a receiver can refuse an old request replayed.
 */
export function signatureHeader (secret: string, unixSeconds: number, body: string): string {
  const v1 = createHmac('sha256', secret).update(`${unixSeconds}.${body}`).digest('hex')
  return `t=${unixSeconds},v1=${v1}`
}
