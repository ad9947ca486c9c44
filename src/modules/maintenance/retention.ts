import type { Store } from '../../db/connect.ts'
import { IDEMPOTENCY_WINDOW_MS } from '../orders/orders.service.ts'
import { deleteExpiredIdempotencyKeys, deleteExpiredSessions, deleteUnverifiedCallbacks } from './retention.repository.ts'

const DAY_MS = 24 * 3600 * 1000

export interface RetentionDeps {
  store: Store
  clock: () => number
  /** CALLBACK_REJECT_RETENTION_DAYS: how long a callback whose signature was not verified stays in the log. */
  rejectedCallbackDays: number
  /** Most rows deleted per table and call. */
  batchSize?: number
}

/**
 * What the background sweep deletes: refused (unverified) callbacks past their retention,
 * idempotency keys past their window and expired operator sessions. Verified callbacks, payments,
 * order history and the audit log are never purged.
 */
export function createRetention ({ store, clock, rejectedCallbackDays, batchSize = 500 }: RetentionDeps) {
  return {
    /** Deletes at most one batch of each; a backlog goes over the next calls. */
    async purgeExpired (): Promise<{ callbacks: number, idempotencyKeys: number, sessions: number }> {
      const now = clock()
      const callbacks = await deleteUnverifiedCallbacks(store.db, now - rejectedCallbackDays * DAY_MS, batchSize)
      const idempotencyKeys = await deleteExpiredIdempotencyKeys(store.db, now - IDEMPOTENCY_WINDOW_MS, batchSize)
      const sessions = await deleteExpiredSessions(store.db, now, batchSize)
      return { callbacks, idempotencyKeys, sessions }
    },
  }
}

export type Retention = ReturnType<typeof createRetention>
