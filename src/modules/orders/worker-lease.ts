import { hostname } from 'node:os'
import { randomUUID } from 'node:crypto'
import type { Store } from '../../db/connect.ts'
import { toInt } from '../../db/values.ts'

export const WORKER_IDS = 1024

export interface LeaseOptions {
  /** Lease only this id (WORKER_ID); otherwise the first free one. */
  fixedId?: number | null
  ttlMs?: number
  now?: () => number
}

export interface Lease {
  workerId: number
  owner: string
  /** The previous holder issued no id at or after this time; ours start here. */
  floorMs: number
  /** Ids may be issued while now < validUntil; heartbeats move it on. */
  validUntil: number
}

/**
 * Worker ids are leased rows (worker_id, owner, expires_at), so two processes on one database
 * never share a snowflake worker id. A lease is taken over only after it expired, by a
 * conditional update on the exact row that was read, so two claimants can't both win.
 */
export async function acquireLease (store: Store, opts: LeaseOptions = {}): Promise<Lease> {
  const now = opts.now ?? Date.now
  const ttl = opts.ttlMs ?? 30_000
  const owner = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`
  const rows = await store.db.selectFrom('worker_leases').select(['worker_id', 'owner', 'expires_at']).execute()
  const held = new Map(rows.map((r) => [toInt(r.worker_id), { owner: r.owner, expiresAt: toInt(r.expires_at) }]))
  const fixed = opts.fixedId ?? null
  // Start at a random id so instances starting together rarely try the same one.
  const start = Math.floor(Math.random() * WORKER_IDS)
  const candidates = fixed !== null ? [fixed] : Array.from({ length: WORKER_IDS }, (_, i) => (start + i) % WORKER_IDS)

  for (const workerId of candidates) {
    const t = now()
    const current = held.get(workerId)
    if (!current) {
      try {
        await store.db.insertInto('worker_leases').values({ worker_id: workerId, owner, expires_at: t + ttl, heartbeat_at: t }).execute()
        return { workerId, owner, floorMs: 0, validUntil: t + ttl }
      } catch (err) {
        if (store.caps.isUniqueViolation(err)) continue
        throw err
      }
    }
    if (current.expiresAt > t) continue
    const taken = await store.db.updateTable('worker_leases')
      .set({ owner, expires_at: t + ttl, heartbeat_at: t })
      .where('worker_id', '=', workerId).where('owner', '=', current.owner).where('expires_at', '=', current.expiresAt)
      .executeTakeFirst()
    if (Number(taken.numUpdatedRows) === 1) return { workerId, owner, floorMs: current.expiresAt, validUntil: t + ttl }
  }
  throw new Error(fixed !== null
    ? `WORKER_ID ${fixed} is leased by another running instance`
    : `all ${WORKER_IDS} worker ids are leased by running instances`)
}

/** Extends the lease; false when another process has taken it over (it had expired). */
export async function renewLease (store: Store, lease: Lease, ttlMs = 30_000, now = Date.now()): Promise<boolean> {
  const result = await store.db.updateTable('worker_leases')
    .set({ expires_at: now + ttlMs, heartbeat_at: now })
    .where('worker_id', '=', lease.workerId).where('owner', '=', lease.owner)
    .executeTakeFirst()
  if (Number(result.numUpdatedRows) !== 1) return false
  lease.validUntil = now + ttlMs
  return true
}

/** Gives the id back at once; the next holder's ids start after now. */
export async function releaseLease (store: Store, lease: Lease, now = Date.now()): Promise<void> {
  lease.validUntil = 0
  await store.db.updateTable('worker_leases')
    .set({ expires_at: now + 1 })
    .where('worker_id', '=', lease.workerId).where('owner', '=', lease.owner)
    .execute()
}
