import { RaceLost, type Store } from '../../db/connect.ts'
import type { Executor } from '../../db/database.ts'
import { AppError } from '../../errors.ts'

/**
 * The common case of a request in as few round trips as the database allows: one statement on
 * PostgreSQL (a single statement is atomic, so it needs no BEGIN and COMMIT), or one short
 * transaction where several statements must commit together. `run` answers undefined when the
 * request is not the common case; so does a lost race (a unique key, a deadlock). Either way
 * nothing was written, and the caller takes the general way, in store.transaction with its reruns.
 * SQLite always takes the general way, which commits in groups.
 */
export async function fastPath<T> (store: Store, inTransaction: boolean,
  run: (db: Executor) => Promise<T | undefined>): Promise<T | undefined> {
  if (!hasFastPath(store)) return undefined
  try {
    return inTransaction ? await store.db.transaction().execute(run) : await run(store.db)
  } catch (err) {
    if (err instanceof AppError) throw err
    if (err instanceof RaceLost || store.caps.isUniqueViolation(err) || store.caps.isRetryable(err)) return undefined
    if (store.caps.isUnavailable(err)) throw new AppError('SERVICE_UNAVAILABLE')
    throw err
  }
}

/** Whether fastPath runs anything here: a caller can skip preparing for it. */
export const hasFastPath = (store: Store): boolean => store.caps.name !== 'sqlite'

/** PostgreSQL chains several writes into one statement with CTEs, and returns what UPDATE wrote; MySQL does neither. */
export const oneStatement = (store: Store): boolean => store.caps.name === 'postgres'
