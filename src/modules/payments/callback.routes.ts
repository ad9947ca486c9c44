import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError, invalidField } from '../../errors.ts'
import { ok } from '../../plugins/envelope.ts'
import type { AppContext } from '../../context.ts'
import { callbackSchema } from './callback.schemas.ts'
import { isAllowedSource } from './callback-source.ts'

/** Parameters as parsed from one source, with the first name that appeared twice. */
class ParsedParams {
  constructor (readonly params: Record<string, unknown>, readonly repeated: string | null) {}
}

function fromSearchParams (text: string): ParsedParams {
  const params: Record<string, unknown> = Object.create(null)
  let repeated: string | null = null
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in params) repeated ??= name
    params[name] = value
  }
  return new ParsedParams(params, repeated)
}

export async function callbackRoutes (app: FastifyInstance, { ctx }: { ctx: AppContext }) {
  // This route alone takes forms, and an empty body of either type, which means "read the query".
  const json = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    if (body === '') return done(null, undefined)
    json(req, body as string, (err, value) => {
      if (err) return done(err)
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return done(invalidField('body', '须为 JSON 对象', 'must be a JSON object'))
      done(null, new ParsedParams(value as Record<string, unknown>, null))
    })
  })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, body === '' ? undefined : fromSearchParams(body as string))
  })

  app.post('/api/pay/callback', {
    schema: callbackSchema,
    validatorCompiler: () => () => true,
    // A source outside CALLBACK_ALLOW_IPS is refused whatever its body, even one that could not be
    // read (not JSON, another content type): answered and logged as CALLBACK_FORBIDDEN.
    errorHandler: async (err, req) => {
      if (!(err instanceof AppError && err.state === 'CALLBACK_FORBIDDEN') && !isAllowedSource(ctx.config.callbackAllowIps, req.ip)) {
        await ctx.callbacks.handle({ params: {}, repeated: null, sourceIp: req.ip, traceId: req.id })
      }
      throw err
    },
  }, async (req: FastifyRequest) => {
    const query = req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : ''
    const received = req.body instanceof ParsedParams ? req.body : fromSearchParams(query)
    await ctx.callbacks.handle({ params: received.params, repeated: received.repeated, sourceIp: req.ip, traceId: req.id })
    return ok(req)
  })
}
