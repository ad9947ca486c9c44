import type { FastifyInstance } from 'fastify'
import type { BlockList } from 'node:net'
import { AppError } from '../errors.ts'

/**
 * One budget per client address per minute across the public routes, kept in this process's
 * memory: with several instances each one counts its own share.
 */
export function registerRateLimit (app: FastifyInstance, opts: { perMinute: number, callbackAllowIps: BlockList | null }) {
  if (opts.perMinute <= 0) return
  let counts = new Map<string, number>()
  const timer = setInterval(() => { counts = new Map() }, 60_000)
  timer.unref()
  app.addHook('onClose', async () => clearInterval(timer))

  app.addHook('onRequest', async (req) => {
    const route = req.routeOptions.url
    if (!route?.startsWith('/api/pay/')) return
    // With an allow-list, callbacks are never throttled: the platform's carry the money, and any
    // other source is refused as CALLBACK_FORBIDDEN whatever it sends.
    if (route === '/api/pay/callback' && opts.callbackAllowIps) return
    const used = (counts.get(req.ip) ?? 0) + 1
    counts.set(req.ip, used)
    if (used > opts.perMinute) throw new AppError('RATE_LIMITED', `${opts.perMinute}/min`)
  })
}
