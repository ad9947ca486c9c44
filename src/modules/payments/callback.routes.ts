import type { FastifyInstance, FastifyRequest } from 'fastify'
import { AppError, invalidField } from '../../errors.ts'
import { ok } from '../../plugins/envelope.ts'
import type { AppContext } from '../../context.ts'
import { fromJson, fromSearchParams, NotAnObject, ParsedParams } from './callback-params.ts'
import { callbackSchema } from './callback.schemas.ts'
import { isAllowedSource } from './callback-source.ts'

const queryOf = (url: string) => url.includes('?') ? url.slice(url.indexOf('?') + 1) : ''

export async function callbackRoutes (app: FastifyInstance, { ctx }: { ctx: AppContext }) {
  // This route alone takes forms, and an empty body of either type, which means "read the query".
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    if (body === '') return done(null, undefined)
    try {
      done(null, fromJson(body as string))
    } catch (err) {
      done(err instanceof NotAnObject
        ? invalidField('body', '须为 JSON 对象', 'must be a JSON object')
        : invalidField('body', '不是有效的 JSON 或表单', 'is not valid JSON or form data'))
    }
  })
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, body === '' ? undefined : fromSearchParams(body as string))
  })

  const allowIps = ctx.config.callbackAllowIps
  const received = (req: FastifyRequest) => req.body instanceof ParsedParams ? req.body : fromSearchParams(queryOf(req.url))
  const forbidden = (req: FastifyRequest) => new AppError('CALLBACK_FORBIDDEN', `source ${req.ip}`)

  // A source outside CALLBACK_ALLOW_IPS is refused whatever it sends, and logged with what it
  // sent (at most 2 KiB of it, like any unverified callback): checked once the body is read...
  async function refuseForeignSource (req: FastifyRequest) {
    if (isAllowedSource(allowIps, req.ip)) return
    const refusal = forbidden(req)
    await ctx.callbacks.recordRefused({ params: received(req).params, sourceIp: req.ip, traceId: req.id }, refusal)
    throw refusal
  }

  // ...or when the body could not be read at all (not JSON, another content type, too large).
  // (Errors from before the body, a rate limit or a shutdown, pass as they are.)
  async function refuseUnreadable (err: Error, req: FastifyRequest) {
    const unreadable = !(err instanceof AppError) || err.state === 'INVALID_PARAMS'
    if (!unreadable || isAllowedSource(allowIps, req.ip)) throw err
    const refusal = forbidden(req)
    await ctx.callbacks.recordRefused({ params: fromSearchParams(queryOf(req.url)).params, sourceIp: req.ip, traceId: req.id }, refusal)
    throw refusal
  }

  app.post('/api/pay/callback', {
    schema: callbackSchema,
    validatorCompiler: () => () => true,
    ...(allowIps && { preValidation: refuseForeignSource, errorHandler: refuseUnreadable }),
  }, async (req: FastifyRequest) => {
    const { params, repeated, inexact } = received(req)
    await ctx.callbacks.handle({ params, repeated, inexact, sourceIp: req.ip, traceId: req.id })
    return ok(req)
  })
}
