// Notifications gamepay POSTs to NOTIFY_URL carry `Gamepay-Signature: t=<unix seconds>,v1=<hex>`, where v1 is
// HMAC-SHA256(NOTIFY_SECRET, t + "." + raw body): the scheme of Stripe's webhooks, checked the same way.
import { createHmac, timingSafeEqual } from 'node:crypto'
import type { GamepayEvent } from './types.js'

export const SIGNATURE_HEADER = 'gamepay-signature'
/** How far the signature's time may be from now, either way: 5 minutes. */
export const DEFAULT_TOLERANCE_SECONDS = 300

export type NotificationFailure =
  | 'missing-header' | 'malformed-header' | 'signature-mismatch' | 'outside-tolerance' | 'malformed-body'

/** The notification is not authentic, too old or too new, or not an event: answer it with a 4xx. */
export class NotificationVerificationError extends Error {
  readonly reason: NotificationFailure

  constructor (reason: NotificationFailure, message: string) {
    super(message)
    this.name = 'NotificationVerificationError'
    this.reason = reason
  }
}

export interface VerifyNotificationOptions {
  /** NOTIFY_SECRET; several while a secret is being rotated (any one may match). */
  secret: string | readonly string[]
  /** Default 300; 0 turns the time check off (not recommended: a captured notification could be replayed). */
  toleranceSeconds?: number
  /** Milliseconds since the epoch (default Date.now). */
  now?: () => number
}

type RawBody = string | Uint8Array

function hmac (secret: string, timestamp: string, body: RawBody): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`, 'utf8').update(body).digest()
}

/** The Gamepay-Signature header value for a raw body (what gamepay sends; for tests and simulators). */
export function signNotification (body: RawBody, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const t = String(timestamp)
  return `t=${t},v1=${hmac(secret, t, body).toString('hex')}`
}

function parseHeader (header: string): { timestamp: string, signatures: Buffer[] } {
  let timestamp: string | undefined
  const signatures: Buffer[] = []
  for (const part of header.split(',')) {
    const at = part.indexOf('=')
    if (at < 0) continue
    const key = part.slice(0, at).trim()
    const value = part.slice(at + 1).trim()
    if (key === 't') timestamp = value
    // Other schemes (v0, a future v2) are skipped, so a header may carry several during a change.
    else if (key === 'v1' && /^[0-9a-fA-F]{64}$/.test(value)) signatures.push(Buffer.from(value, 'hex'))
  }
  if (timestamp === undefined || !/^\d{1,12}$/.test(timestamp)) {
    throw new NotificationVerificationError('malformed-header', 'Gamepay-Signature has no t=<unix seconds>')
  }
  if (signatures.length === 0) throw new NotificationVerificationError('malformed-header', 'Gamepay-Signature has no v1=<hex>')
  return { timestamp, signatures }
}

function parseEvent (body: RawBody): GamepayEvent {
  let event: unknown
  try {
    event = JSON.parse(typeof body === 'string' ? body : new TextDecoder().decode(body))
  } catch {
    throw new NotificationVerificationError('malformed-body', 'the body is not JSON')
  }
  const e = event as Record<string, unknown> | null
  if (typeof e !== 'object' || e === null || typeof e.event_id !== 'string' || typeof e.type !== 'string' ||
    typeof e.created_at !== 'string' || typeof e.data !== 'object' || e.data === null) {
    throw new NotificationVerificationError('malformed-body', 'the body is not an event (event_id, type, created_at, data)')
  }
  return event as GamepayEvent
}

/**
 * Checks a notification over its raw body bytes, exactly as received (a body parsed and serialized again
 * is not the signed one), and returns the event. Throws NotificationVerificationError.
 */
export function verifyNotification (
  body: RawBody, header: string | readonly string[] | null | undefined, opts: VerifyNotificationOptions
): GamepayEvent {
  const value = Array.isArray(header) ? header.join(',') : header
  if (typeof value !== 'string' || value.trim() === '') {
    throw new NotificationVerificationError('missing-header', 'no Gamepay-Signature header')
  }
  const { timestamp, signatures } = parseHeader(value)
  const secrets = typeof opts.secret === 'string' ? [opts.secret] : opts.secret
  if (secrets.length === 0 || secrets.some((s) => typeof s !== 'string' || s === '')) {
    throw new TypeError('verifyNotification needs the secret')
  }
  // Every candidate is compared, in constant time, so the time taken tells nothing about a near miss.
  let matched = false
  for (const secret of secrets) {
    const expected = hmac(secret, timestamp, body)
    for (const candidate of signatures) if (timingSafeEqual(candidate, expected)) matched = true
  }
  if (!matched) throw new NotificationVerificationError('signature-mismatch', 'no v1 signature matches the body')
  const tolerance = opts.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS
  const age = Math.floor((opts.now ?? Date.now)() / 1000) - Number(timestamp)
  if (tolerance > 0 && Math.abs(age) > tolerance) {
    const message = `signed ${Math.abs(age)} s ${age > 0 ? 'ago' : 'ahead of now'}, beyond the tolerance of ${tolerance} s`
    throw new NotificationVerificationError('outside-tolerance', message)
  }
  return parseEvent(body)
}
