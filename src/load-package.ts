import { createRequire } from 'node:module'

/**
 * Loads a database driver or the Redis client when it is first used, not at start: each costs
 * every process 7–25 MB of memory, and a process talks to one database and perhaps Redis.
 */
export const loadPackage = createRequire(import.meta.url)
