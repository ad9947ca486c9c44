import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** A random, URL-safe secret (session cookie, CSRF token, API token body). */
export const randomSecret = (bytes = 32) => randomBytes(bytes).toString('base64url')

/** What the database keeps of a session cookie or an API token: its SHA-256, so a stolen table opens nothing. */
export const digest = (secret: string) => createHash('sha256').update(secret).digest('hex')

/** Compares two secrets in constant time (whatever their lengths). */
export function sameSecret (a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest()
  const y = createHash('sha256').update(b).digest()
  return timingSafeEqual(x, y) && a === b
}
