import type { Store } from '../../db/connect.ts'
import { OrderNumberGenerator } from '../../domain/order-number.ts'
import { AppError } from '../../errors.ts'
import { acquireLease, releaseLease, renewLease, type Lease } from './worker-lease.ts'

const DEFAULT_LEASE_TTL_MS = 30_000

export interface OrderNumbers {
  next: () => Promise<string>
  workerId: () => number
  /** The lease is held and fresh: this instance can issue order numbers. */
  healthy: () => boolean
  close: () => Promise<void>
}

/** Order numbers from a snowflake generator whose worker id is leased from the database. */
export async function startOrderNumbers (store: Store, opts: { prefix: string, fixedWorkerId: number | null, leaseTtlMs?: number, now?: () => number }): Promise<OrderNumbers> {
  const now = opts.now ?? Date.now
  const ttlMs = opts.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS
  // Stop issuing ids this long before the lease could lapse, so no id outlives its lease
  // even when the generator has to wait out a clock step (up to 2 s).
  const safetyMs = Math.max(ttlMs / 6, 2_500)
  let lease: Lease = await acquireLease(store, { fixedId: opts.fixedWorkerId, ttlMs, now })
  const generatorFor = (l: Lease) => new OrderNumberGenerator({ workerId: l.workerId, prefix: opts.prefix, now, floorMs: l.floorMs })
  let generator = generatorFor(lease)
  let renewing = false

  async function heartbeat () {
    if (renewing) return
    renewing = true
    try {
      if (!await renewLease(store, lease, ttlMs, now())) {
        // Someone took the id over while we could not renew: never use it again.
        lease.validUntil = 0
        lease = await acquireLease(store, { fixedId: opts.fixedWorkerId, ttlMs, now })
        generator = generatorFor(lease)
      }
    } catch {
      // Database unreachable: ids stop once the lease runs out, and the next beat tries again.
    } finally {
      renewing = false
    }
  }
  const timer = setInterval(heartbeat, ttlMs / 6)
  timer.unref()

  const healthy = () => now() < lease.validUntil - safetyMs
  return {
    async next () {
      if (!healthy()) throw new AppError('SERVICE_UNAVAILABLE', 'worker id lease not held')
      return generator.next()
    },
    workerId: () => lease.workerId,
    healthy,
    async close () {
      clearInterval(timer)
      await releaseLease(store, lease, now()).catch(() => {})
    },
  }
}
