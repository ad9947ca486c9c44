import type { BlockList } from 'node:net'

/** A source address as the allow-list sees it: IPv4-mapped IPv6 is plain IPv4. */
export const plainIp = (ip: string): string => ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip

/** Inside CALLBACK_ALLOW_IPS, or no allow-list is configured. */
export function isAllowedSource (allowIps: BlockList | null, ip: string): boolean {
  if (!allowIps) return true
  const address = plainIp(ip)
  return allowIps.check(address, address.includes(':') ? 'ipv6' : 'ipv4')
}
