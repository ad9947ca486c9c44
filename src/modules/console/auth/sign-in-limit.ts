/**
 * Failed sign-ins per client address in a sliding window: past `max`, the address is refused
 * until its oldest failure leaves the window. Only failures count, so a whole office behind one
 * address signing in each morning is never refused. Counted in each instance (a Map bounded to
 * `capacity` addresses, the least recently failed forgotten first); the per-account lock in the
 * database is what holds across instances.
 */
export function createSignInLimit ({ max, windowMs, capacity = 10_000 }: { max: number, windowMs: number, capacity?: number }) {
  const failures = new Map<string, number[]>()

  const recent = (address: string, now: number) => (failures.get(address) ?? []).filter((at) => at > now - windowMs)

  return {
    /** Seconds until the address may try again; 0 when it may now. */
    retryAfter (address: string, now: number): number {
      const times = recent(address, now)
      return times.length < max ? 0 : Math.ceil((times[0] + windowMs - now) / 1000)
    },

    failed (address: string, now: number): void {
      const times = recent(address, now)
      times.push(now)
      failures.delete(address)
      failures.set(address, times)
      if (failures.size > capacity) failures.delete(failures.keys().next().value as string)
    },
  }
}
