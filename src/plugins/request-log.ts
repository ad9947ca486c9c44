import type { FastifyInstance } from 'fastify'

/** One line per request: trace id (from the child logger), route pattern, status, state, duration. */
export function registerRequestLog (app: FastifyInstance) {
  app.addHook('onResponse', (req, reply, done) => {
    req.log.info({
      method: req.method,
      route: req.routeOptions.url ?? 'unmatched',
      status: reply.statusCode,
      state: req.state || undefined,
      ms: Math.round(reply.elapsedTime * 100) / 100,
    }, 'request')
    done()
  })
}
