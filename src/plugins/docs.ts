import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'

/** OpenAPI 3 built from the route schemas that validate and serialize, served with a UI at /docs. */
export async function registerDocs (app: FastifyInstance) {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'gamepay',
        version: '0.1.0',
        description: 'Payment orders for games: goods, orders, signed payment callbacks, verification. ' +
          'Every /api/pay response is the envelope {result, state, trace_id, data?, message?}.',
      },
      tags: [
        { name: 'goods', description: 'Catalog' },
        { name: 'orders', description: 'Create, cancel and verify orders' },
        { name: 'payments', description: 'Payment platform notifications' },
        { name: 'health', description: 'Probes' },
        { name: 'admin', description: 'Operator API: a token from `gamepay admin token <name>` as a Bearer token, or a console session with its X-CSRF-Token for changes' },
      ],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'gp_… token from `gamepay admin token <name>`' } },
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}
