// What differs between the databases, as capabilities: modules ask these, never the dialect name.

export type DialectName = 'sqlite' | 'postgres' | 'mysql'

export interface Capabilities {
  name: DialectName
  /** SELECT … FOR UPDATE [SKIP LOCKED]; SQLite has neither (a transaction holds the one write lock). */
  rowLocks: boolean
  isUniqueViolation: (err: unknown) => boolean
  /**
   * Deadlocks and serialization failures: the database undid the transaction and it may simply run
   * again. Never a lock-wait or busy timeout: rerunning one would wait the whole timeout again.
   */
  isRetryable: (err: unknown) => boolean
  /** "The database is not there right now" (unreachable, timed out, busy): answered 503, never 500. */
  isUnavailable: (err: unknown) => boolean
}

type DriverError = { code?: unknown, errno?: unknown, message?: unknown }
const codeOf = (err: unknown): string => String((err as DriverError | null)?.code ?? '')
const errnoOf = (err: unknown): number => Number((err as DriverError | null)?.errno ?? 0)
const messageOf = (err: unknown): string => String((err as DriverError | null)?.message ?? '')

// The network and the pools, whatever the database.
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
const GONE_MESSAGES = new RegExp([
  'Connection terminated', 'timeout exceeded when trying to connect', 'connection is in closed state', 'Pool is closed',
  'Cannot use a pool after calling end', 'driver has already been destroyed', 'Client was closed', 'not queryable',
  'Query read timeout', 'The database connection is not open', 'max_statement_time', 'maximum statement execution time',
  'Connection lost',
].join('|'), 'i')
const gone = (err: unknown) => NETWORK_CODES.has(codeOf(err)) || GONE_MESSAGES.test(messageOf(err))

// PostgreSQL: connection classes 08xxx; shutting down, too many connections, statement timeout,
// read-only, lock timeout, and serialization failures or deadlocks still failing after the reruns.
const PG_UNAVAILABLE = new Set(['57P01', '57P02', '57P03', '53300', '57014', '25006', '55P03', '40001', '40P01'])
// MySQL: too many connections, server shutdown, lost or gone connection, statement time limits,
// lock wait timeout, deadlock after the reruns.
const MYSQL_UNAVAILABLE = new Set([1040, 1053, 2006, 2013, 1969, 3024, 1205, 1213])
const MYSQL_UNAVAILABLE_CODES = new Set(['PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT', 'ER_CON_COUNT_ERROR', 'ER_SERVER_SHUTDOWN'])

export const capabilities: Record<DialectName, Capabilities> = {
  sqlite: {
    name: 'sqlite',
    rowLocks: false,
    isUniqueViolation: (err) => /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test(codeOf(err)),
    // Transactions begin immediate, so SQLITE_BUSY only ever comes after the busy timeout.
    isRetryable: () => false,
    isUnavailable: (err) => gone(err) || /^SQLITE_(BUSY|IOERR|FULL|CANTOPEN)/.test(codeOf(err)),
  },
  postgres: {
    name: 'postgres',
    rowLocks: true,
    isUniqueViolation: (err) => codeOf(err) === '23505',
    isRetryable: (err) => ['40001', '40P01'].includes(codeOf(err)),
    isUnavailable: (err) => gone(err) || codeOf(err).startsWith('08') || PG_UNAVAILABLE.has(codeOf(err)),
  },
  mysql: {
    name: 'mysql',
    rowLocks: true,
    isUniqueViolation: (err) => errnoOf(err) === 1062,
    isRetryable: (err) => errnoOf(err) === 1213,
    isUnavailable: (err) => gone(err) || MYSQL_UNAVAILABLE.has(errnoOf(err)) || MYSQL_UNAVAILABLE_CODES.has(codeOf(err)),
  },
}
