import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'

/** The route label of a request no route matched (404, 405): never the raw URL. */
export const UNMATCHED_ROUTE = 'unmatched'

type Observer = (req: FastifyRequest, reply: FastifyReply, route: string) => void

/**
 * Calls `observe` with the route pattern of every request, at `name` (onSend: the answer is handed
 * to the connection; onResponse: it has been written). Each route registered from now on gets a
 * hook of its own that knows its pattern, and a hook of the whole app takes what no route matched:
 * reading req.routeOptions.url in a hook of the whole app builds the route's options object afresh
 * on every request, which cost a quarter of a cached goods request's throughput.
 */
export function observeRoutes (app: FastifyInstance, name: 'onSend' | 'onResponse', observe: Observer): void {
  // null: the hook of the whole app, which observes only requests no route matched.
  const hook = (route: string | null) => {
    const seen = (req: FastifyRequest, reply: FastifyReply) => {
      if (route !== null) observe(req, reply, route)
      else if (req.is404) observe(req, reply, UNMATCHED_ROUTE)
    }
    return name === 'onSend'
      ? (req: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) => {
          seen(req, reply)
          done(null, payload)
        }
      : (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
          seen(req, reply)
          done()
        }
  }
  app.addHook('onRoute', (route) => {
    const existing: unknown = route[name]
    Object.assign(route, { [name]: [...(existing === undefined ? [] : [existing].flat()), hook(route.url)] })
  })
  app.addHook(name, hook(null) as never)
}
