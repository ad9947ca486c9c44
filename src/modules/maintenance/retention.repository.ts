import type { Executor } from '../../db/database.ts'

// Each purge selects a bounded batch, then deletes those rows, each statement on its own: no
// transaction holds locks across a batch, and two instances purging at once only repeat work.
// The delete checks the condition again, so a row that changed in between stays.

// The verdicts of callbacks whose signature did not hold; 'valid' ones and the payments operators
// applied by hand ('manual') are kept for good.
const UNVERIFIED = ['invalid', 'missing', 'not_checked']

/** Deletes up to `limit` callback-log rows whose signature was not verified, received before `before`. */
export async function deleteUnverifiedCallbacks (db: Executor, before: number, limit: number): Promise<number> {
  // Three ranges every database reads from the (signature, received_at) index, which keeps the
  // verified rows out of the scan.
  const unverified = db.selectFrom('callbacks').select('id')
    .where('signature', 'in', UNVERIFIED)
    .where('received_at', '<', before)
  const ids = (await unverified.limit(limit).execute()).map((r) => r.id)
  if (ids.length === 0) return 0
  const result = await db.deleteFrom('callbacks')
    .where('id', 'in', ids).where('signature', 'in', UNVERIFIED).where('received_at', '<', before)
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Deletes up to `limit` operator sessions that expired at or before `now` (they no longer sign anybody in). */
export async function deleteExpiredSessions (db: Executor, now: number, limit: number): Promise<number> {
  const ids = (await db.selectFrom('operator_sessions').select('id').where('expires_at', '<=', now).limit(limit).execute()).map((r) => r.id)
  if (ids.length === 0) return 0
  const result = await db.deleteFrom('operator_sessions').where('id', 'in', ids).where('expires_at', '<=', now).executeTakeFirst()
  return Number(result.numDeletedRows)
}

/** Deletes up to `limit` idempotency keys stored at or before `until` (out of their window). */
export async function deleteExpiredIdempotencyKeys (db: Executor, until: number, limit: number): Promise<number> {
  const keys = await db.selectFrom('idempotency_keys').select(['user_id', 'idem_key'])
    .where('created_at', '<=', until).limit(limit).execute()
  if (keys.length === 0) return 0
  // created_at again: a key reused meanwhile was replaced by a fresh row, which stays.
  const result = await db.deleteFrom('idempotency_keys')
    .where((eb) => eb(eb.refTuple('user_id', 'idem_key'), 'in', keys.map((k) => eb.tuple(k.user_id, k.idem_key))))
    .where('created_at', '<=', until)
    .executeTakeFirst()
  return Number(result.numDeletedRows)
}
