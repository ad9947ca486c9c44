import { createHash, timingSafeEqual } from 'node:crypto'
import { sql } from 'kysely'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { AppContext } from '../context.ts'
import type { Store } from '../db/connect.ts'
import { AppError } from '../errors.ts'
import type { DatabaseProbe } from '../metrics.ts'
import { outboxDepth } from '../modules/notifications/outbox.repository.ts'
import { observeRoutes } from './route-hooks.ts'

/** The pool, a trivial query, and the notification outbox's depth, read when Prometheus scrapes. */
export function databaseProbe (store: Store, clock: () => number): DatabaseProbe {
  return {
    poolStats: store.poolStats,
    ping: async () => { await sql`select 1`.execute(store.db) },
    outbox: () => outboxDepth(store.db, clock()),
  }
}

// Hashing first makes both sides the same length, so the comparison takes the same time whatever
// the caller sent, and says nothing about the token's length either.
const digest = (text: string) => createHash('sha256').update(text).digest()

function bearerOf (req: FastifyRequest): string | null {
  const match = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')
  return match ? match[1] : null
}

/**
 * GET /metrics in Prometheus text format, behind `Authorization: Bearer <METRICS_TOKEN>` when that
 * is set, and the request-duration histogram of every route. Not one of the rate-limited public routes.
 */
export function registerMetrics (app: FastifyInstance, ctx: Pick<AppContext, 'config' | 'metrics' | 'store' | 'clock'>) {
  const { metrics } = ctx
  metrics.watchDatabase(databaseProbe(ctx.store, ctx.clock))
  const expected = ctx.config.metricsToken === null ? null : digest(ctx.config.metricsToken)

  // Measured when the answer is handed to the connection (onSend), not when the connection has
  // written it (onResponse): an onResponse hook makes every response wait on its socket's 'finish'
  // event, which costs a cached goods request several per cent of its throughput.
  observeRoutes(app, 'onSend', (_req, reply, route) => {
    metrics.httpDuration.observe(route, reply.statusCode, reply.elapsedTime / 1000)
  })

  // Registered before the docs plugin, so not in the OpenAPI document of the JSON API.
  app.get('/metrics', {
    onRequest: async (req, reply) => {
      if (expected === null) return
      const given = bearerOf(req)
      if (given !== null && timingSafeEqual(digest(given), expected)) return
      reply.header('WWW-Authenticate', 'Bearer')
      throw new AppError('UNAUTHORIZED', {
        zh: '需要 Authorization: Bearer <METRICS_TOKEN>',
        en: 'needs Authorization: Bearer <METRICS_TOKEN>',
      })
    },
  }, async (_req, reply) => {
    const text = await metrics.text().catch((err: Error) => {
      throw new AppError('SERVICE_UNAVAILABLE', err.message)
    })
    return reply.header('Cache-Control', 'no-store').type(metrics.registry.contentType).send(text)
  })
}
