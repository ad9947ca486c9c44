import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { observeRoutes } from './route-hooks.ts'

/** One line per request: trace id (from the child logger), route pattern, status, state, duration. */
export function registerRequestLog (app: FastifyInstance) {
  // The level is set at start: below info, a request costs no log line's fields at all.
  const log = app.log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean }
  if (log.isLevelEnabled?.('info') !== true) return
  observeRoutes(app, 'onResponse', (req, reply, route) => {
    req.log.info({
      method: req.method,
      route,
      status: reply.statusCode,
      state: req.state || undefined,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    }, 'request')
  })
}
