import Fastify, { LogController, type FastifyBaseLogger } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { pino, type Logger } from 'pino'
import type { AppContext } from './context.ts'
import { registerDocs } from './plugins/docs.ts'
import { invalidField } from './errors.ts'
import { registerEnvelope, sendFailure, toAppError, traceIdOf } from './plugins/envelope.ts'
import { lazyChildLogger } from './plugins/lazy-logger.ts'
import { registerMetrics } from './plugins/metrics.ts'
import { registerRateLimit } from './plugins/rate-limit.ts'
import { registerRequestLog } from './plugins/request-log.ts'
import { consoleAreas } from './modules/console/areas.ts'
import { registerConsole } from './modules/console/console.plugin.ts'
import { goodsRoutes } from './modules/goods/goods.routes.ts'
import { healthRoutes } from './modules/health/health.routes.ts'
import { ordersRoutes } from './modules/orders/orders.routes.ts'
import { callbackRoutes } from './modules/payments/callback.routes.ts'

export interface AppOptions {
  logger?: FastifyBaseLogger
}

/** The HTTP application over a context; no listen, so tests inject into it. */
export async function buildApp (ctx: AppContext, opts: AppOptions = {}) {
  const { config } = ctx
  let closing = false
  const app = Fastify({
    // Always a logger (silent when none is given): Fastify times each reply (reply.elapsedTime, which
    // the request-duration histogram reads) only when it has one.
    loggerInstance: opts.logger ?? pino({ level: 'silent' }),
    childLoggerFactory: (logger, bindings, childOpts) => lazyChildLogger(logger as Logger, bindings, childOpts),
    bodyLimit: config.bodyLimit,
    // A client that trickles its headers or body is cut off: 408 (or the connection closed) once
    // REQUEST_TIMEOUT_MS has passed. Node checks open connections only every
    // connectionsCheckingInterval (default 30 s), so that is set too.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    http: { headersTimeout: config.requestTimeoutMs, connectionsCheckingInterval: 1000 },
    trustProxy: config.trustProxy,
    requestIdHeader: false,
    genReqId: traceIdOf,
    // Our own one line per request (plugins/request-log.ts) replaces Fastify's two.
    logController: new LogController({ requestIdLogLabel: 'trace_id', disableRequestLogging: true }),
    // Requests that arrive while closing get our 503 envelope, not Fastify's plain one.
    return503OnClosing: false,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // A URL that cannot be decoded (`/api/pay/%ZZ`) is refused before any route or hook runs:
    // it gets the envelope too, not Fastify's own error body.
    frameworkErrors: (err, req, reply) => {
      reply.header('X-Request-Id', req.id)
      const error = err.code === 'FST_ERR_BAD_URL' ? invalidField('url', '不是有效的 URL', 'is not a valid URL') : toAppError(err)
      return sendFailure(req, reply, error, config.httpStatusMode)
    },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.addHook('preClose', async () => { closing = true })

  // Only JSON by default; the callback route adds forms for itself.
  app.removeContentTypeParser('text/plain')
  registerEnvelope(app, { statusMode: config.httpStatusMode, isClosing: () => closing, isUnavailable: ctx.store.caps.isUnavailable })
  registerRequestLog(app)
  registerMetrics(app, ctx)
  await registerRateLimit(app, config)
  await registerDocs(app)

  await app.register(goodsRoutes, { ctx })
  await app.register(ordersRoutes, { ctx })
  await app.register(callbackRoutes, { ctx })
  await app.register(healthRoutes, { ctx })
  await registerConsole(app, ctx, consoleAreas)
  return app
}
