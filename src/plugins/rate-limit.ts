import { createRequire } from 'node:module'
import rateLimit, { type FastifyRateLimitStore as Store } from '@fastify/rate-limit'
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify'
import type { Redis } from 'ioredis'
import type { Config } from '../config.ts'
import { AppError } from '../errors.ts'
import { isAllowedSource } from '../modules/payments/callback-source.ts'
import { closeRedis, createRedis, firstConnection } from './redis.ts'

const WINDOW_MS = 60_000
/** Addresses one instance remembers; past this the least recently seen is forgotten, so memory stays bounded. */
const LOCAL_CAPACITY = 100_000
const REDIS_NAMESPACE = 'gamepay:rate-limit:'
const PUBLIC_ROUTES = '/api/pay/'
const CALLBACK_ROUTE = '/api/pay/callback'

// The plugin's own stores do the counting; the package ships no types for them.
const require = createRequire(import.meta.url)
const LocalStore = require('@fastify/rate-limit/store/LocalStore.js') as
  new (continueExceeding: boolean, exponentialBackoff: boolean, capacity: number) => Store
const RedisStore = require('@fastify/rate-limit/store/RedisStore.js') as
  new (continueExceeding: boolean, exponentialBackoff: boolean, redis: Redis, namespace: string) => Store

/** While Redis is down, how often one request still tries it (the others count locally at once). */
const PROBE_MS = 1000

type Outage = { tryShared: () => boolean, failed: (err: Error) => void, back: () => void }

/**
 * Whether to ask Redis, so that a Redis that has stopped answering (and lets each command run to
 * its timeout) costs one slow request a second, not every request; one warning when it stops
 * answering, one info line when it answers again.
 */
function watchOutage (redis: Redis, log: FastifyBaseLogger): Outage {
  let down = false
  let nextProbe = 0
  const outage: Outage = {
    tryShared () {
      if (!down) return true
      if (Date.now() < nextProbe) return false
      nextProbe = Date.now() + PROBE_MS
      return true
    },
    failed (err) {
      nextProbe = Date.now() + PROBE_MS
      if (down) return
      down = true
      log.warn({ err: err.message }, 'Redis is unreachable: rate limits are counted per instance until it is back')
    },
    back () {
      if (!down) return
      down = false
      log.info('Redis is back: rate limits are shared by all instances again')
    },
  }
  redis.on('error', outage.failed)
  redis.on('ready', outage.back)
  return outage
}

/** The budget in Redis while it answers; this instance's own count while it does not. */
function sharedOrLocal (redis: Redis, outage: Outage) {
  return class SharedOrLocal implements Store {
    constructor (
      _params: unknown,
      readonly shared: Store = new RedisStore(false, false, redis, REDIS_NAMESPACE),
      readonly local: Store = new LocalStore(false, false, LOCAL_CAPACITY)
    ) {}

    incr (key: string, done: Parameters<Store['incr']>[1], timeWindow: number, max: number) {
      if (!outage.tryShared()) return this.local.incr(key, done, timeWindow, max)
      this.shared.incr(key, (err, result) => {
        if (!err) {
          outage.back()
          return done(null, result)
        }
        outage.failed(err)
        this.local.incr(key, done, timeWindow, max)
      }, timeWindow, max)
    }

    child (routeOptions: Parameters<Store['child']>[0]) {
      return new SharedOrLocal(routeOptions, this.shared.child(routeOptions), this.local.child(routeOptions))
    }
  }
}

type LimitConfig = Pick<Config, 'rateLimitPerMinute' | 'redisUrl' | 'callbackAllowIps'>

/**
 * One budget per client address across the public routes, in a window that starts with the
 * address's first request. With REDIS_URL the budget is shared by all instances; while Redis is
 * down each instance counts its own. Must be registered before the routes.
 */
export async function registerRateLimit (app: FastifyInstance, config: LimitConfig) {
  const { callbackAllowIps } = config
  // Registered even with no public limit: the console's sign-in limits use its store (app.rateLimit).
  const redis = config.redisUrl ? createRedis(config.redisUrl) : null
  if (redis) app.addHook('onClose', () => closeRedis(redis))
  await app.register(rateLimit, {
    global: false,
    max: config.rateLimitPerMinute,
    timeWindow: WINDOW_MS,
    ...(redis ? { store: sharedOrLocal(redis, watchOutage(redis, app.log)) } : { cache: LOCAL_CAPACITY }),
    errorResponseBuilder: (_req, { max, ttl }) => {
      const seconds = Math.ceil(ttl / 1000)
      return new AppError('RATE_LIMITED', {
        zh: `每分钟最多 ${max} 次，${seconds} 秒后再试`,
        en: `at most ${max} per minute, retry in ${seconds} s`,
      })
    },
  })
  // A Redis that is down at start-up is warned about now, not at the first request.
  if (redis) await firstConnection(redis)
  if (config.rateLimitPerMinute <= 0) return
  const limit = app.rateLimit()

  const counted = (req: FastifyRequest) => {
    // A wrong method on a public path counts too (it has no route, hence the raw path).
    const route = req.routeOptions.url ?? req.url
    if (!route.startsWith(PUBLIC_ROUTES)) return false
    // The platform's callbacks carry the money: from an allowed address they are never limited.
    return !(route === CALLBACK_ROUTE && callbackAllowIps && isAllowedSource(callbackAllowIps, req.ip))
  }

  // A hook of the whole app runs before the routes' own (the callback's source check among them):
  // the limit is checked first, and a refused request's body is never read. Its AppError is
  // rendered by the envelope, with the headers the plugin set.
  app.addHook('onRequest', async (req, reply) => {
    if (counted(req)) await limit.call(app, req, reply)
  })
}
