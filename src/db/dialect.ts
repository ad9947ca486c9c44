// What differs between the databases, as capabilities: modules ask these, never the dialect name.

export type DialectName = 'sqlite' | 'postgres' | 'mysql'

export interface Capabilities {
  name: DialectName
  /** SELECT … FOR UPDATE [SKIP LOCKED]; SQLite has neither (a transaction holds the one write lock). */
  rowLocks: boolean
  isUniqueViolation: (err: unknown) => boolean
  /** Deadlocks, serialization failures, busy databases: the whole transaction may simply be run again. */
  isTransient: (err: unknown) => boolean
}

type DriverError = { code?: unknown, errno?: unknown, message?: unknown }
const codeOf = (err: unknown): string => String((err as DriverError | null)?.code ?? '')
const errnoOf = (err: unknown): number => Number((err as DriverError | null)?.errno ?? 0)
const messageOf = (err: unknown): string => String((err as DriverError | null)?.message ?? '')

export const capabilities: Record<DialectName, Capabilities> = {
  sqlite: {
    name: 'sqlite',
    rowLocks: false,
    isUniqueViolation: (err) => /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(codeOf(err)),
    isTransient: (err) => codeOf(err).startsWith('SQLITE_BUSY'),
  },
  postgres: {
    name: 'postgres',
    rowLocks: true,
    isUniqueViolation: (err) => codeOf(err) === '23505',
    isTransient: (err) => ['40001', '40P01', '55P03'].includes(codeOf(err)),
  },
  mysql: {
    name: 'mysql',
    rowLocks: true,
    isUniqueViolation: (err) => errnoOf(err) === 1062,
    isTransient: (err) => [1205, 1213].includes(errnoOf(err)),
  },
}

const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN',
  'SQLITE_BUSY', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN',
  '57P01', '57P02', '57P03', '53300', '57014', '25006',
  // Lock conflicts still failing after Store.transaction's reruns: busy, not broken.
  '40001', '40P01', '55P03',
])
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|connection is in closed state|Pool is closed|Cannot use a pool after calling end|driver has already been destroyed|Client was closed|not queryable|Query read timeout|The database connection is not open|max_statement_time|maximum statement execution time|Connection lost/i

/** Errors that mean "the database is not there right now" (answered 503, never 500). */
export function isUnavailable (err: unknown): boolean {
  const code = codeOf(err)
  if (UNAVAILABLE_CODES.has(code) || code.startsWith('08') || code.startsWith('SQLITE_BUSY')) return true
  if ([1969, 3024, 2013, 2006, 1205, 1213].includes(errnoOf(err))) return true
  return UNAVAILABLE_MESSAGES.test(messageOf(err))
}
