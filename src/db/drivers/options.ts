export interface DriverOptions {
  poolSize?: number
  statementTimeoutMs?: number
  /** How long to wait for a connection before answering SERVICE_UNAVAILABLE. */
  connectTimeoutMs?: number
}

// The server ends a slow statement itself (statement timeout, lock wait timeout). No answer at
// all well after that means the link is dead or black-holed (a network partition, a host gone
// without a reset): the query fails (503) instead of hanging, and the connection is dropped
// rather than handed to the next request, so the pool reconnects once the database answers.
export function readTimeoutMs (opts: DriverOptions): number {
  return Math.ceil((opts.statementTimeoutMs ?? 5000) / 1000) * 1000 + (opts.connectTimeoutMs ?? 2000)
}

export function silentError (): Error {
  return Object.assign(new Error('the database did not answer in time; connection dropped'), { code: 'ETIMEDOUT' })
}

/** The connection pool right now, for the metrics. */
export interface PoolStats {
  /** Connections the pool may open. */
  max: number
  /** Checked out by a query or transaction. */
  inUse: number
  /** Open and free. */
  idle: number
  /** Queries waiting for a connection. */
  waiting: number
}
