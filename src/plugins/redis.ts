import type { Redis } from 'ioredis'
import type * as IORedis from 'ioredis'
import { loadPackage } from '../load-package.ts'

const CONNECT_TIMEOUT_MS = 1000
const COMMAND_TIMEOUT_MS = 500

/**
 * A Redis client for data the service can do without: while Redis is down every command fails at
 * once instead of queueing, and the client keeps reconnecting in the background. Options in the
 * URL's query (`?keyPrefix=…`) are ioredis's own and apply too.
 */
export function createRedis (url: string): Redis {
  const { Redis: Client } = loadPackage('ioredis') as typeof IORedis
  const redis = new Client(url, {
    enableOfflineQueue: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    // A Redis that accepts connections but does not answer must not hold requests up either.
    commandTimeout: COMMAND_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  })
  // Failures reach the owner through its commands and its own listeners; without a listener
  // ioredis would print every reconnection error to stderr.
  redis.on('error', () => {})
  return redis
}

/** Resolves once the first connection attempt is over, ready or not, so start-up never waits longer. */
export function firstConnection (redis: Redis): Promise<void> {
  return new Promise((resolve) => {
    if (redis.status === 'ready' || redis.status === 'reconnecting') return resolve()
    const done = () => {
      clearTimeout(timer)
      redis.off('ready', done)
      redis.off('error', done)
      resolve()
    }
    const timer = setTimeout(done, 2 * CONNECT_TIMEOUT_MS)
    redis.once('ready', done)
    redis.once('error', done)
  })
}

/** Waits for pending replies while connected; otherwise just stops reconnecting. */
export async function closeRedis (redis: Redis): Promise<void> {
  if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect())
  else redis.disconnect()
}
