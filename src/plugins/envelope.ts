import { randomUUID } from 'node:crypto'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { ClockMovedBackwardsError } from '../domain/order-number.ts'
import { AppError, invalidField } from '../errors.ts'
import type { HttpStatusMode } from '../config.ts'
import { NO_NUL } from '../modules/envelope.schemas.ts'

const TRACE_ID = /^[A-Za-z0-9._:-]{1,128}$/

/** The caller's X-Request-Id when it is a sane token, else a new UUID v4. */
export function traceIdOf (req: { headers: Record<string, string | string[] | undefined> }): string {
  const given = req.headers['x-request-id']
  return typeof given === 'string' && TRACE_ID.test(given) ? given : randomUUID()
}

export function ok<T> (req: FastifyRequest, data?: T) {
  return data === undefined
    ? { result: 'success' as const, state: '', trace_id: req.id }
    : { result: 'success' as const, state: '', trace_id: req.id, data }
}

/** zh-CN unless Accept-Language prefers English. */
export function languageOf (header: string | string[] | undefined): 'zh' | 'en' {
  if (typeof header !== 'string') return 'zh'
  let best = { lang: 'zh' as 'zh' | 'en', q: -1 }
  for (const part of header.split(',')) {
    const [tag, ...params] = part.trim().toLowerCase().split(';')
    const qParam = params.find((p) => p.trim().startsWith('q='))
    const q = qParam ? Number(qParam.trim().slice(2)) : 1
    if (!Number.isFinite(q) || q <= best.q) continue
    if (tag.startsWith('en')) best = { lang: 'en', q }
    else if (tag.startsWith('zh') || tag === '*') best = { lang: 'zh', q }
  }
  return best.lang
}

type AjvError = { keyword: string, instancePath: string, params: Record<string, unknown> }

function validationError (errors: AjvError[], context: string | undefined): AppError {
  const e = errors[0]
  const path = e.instancePath.replace(/^\//, '').replace(/\//g, '.')
  const field = e.keyword === 'required' ? [path, e.params.missingProperty].filter(Boolean).join('.') : path || (context === 'querystring' ? 'query' : 'body')
  switch (e.keyword) {
    case 'required': return invalidField(field, '为必填项', 'is required')
    case 'type': return invalidField(field, `类型错误，应为 ${e.params.type}`, `must be of type ${e.params.type}`)
    case 'minLength': return e.params.limit === 1 ? invalidField(field, '不能为空', 'must not be empty') : invalidField(field, `长度不能少于 ${e.params.limit}`, `must have at least ${e.params.limit} characters`)
    case 'maxLength': return invalidField(field, `长度不能超过 ${e.params.limit} 个字符`, `must have at most ${e.params.limit} characters`)
    case 'minimum': return invalidField(field, `不能小于 ${e.params.limit}`, `must be >= ${e.params.limit}`)
    case 'maximum': return invalidField(field, `不能大于 ${e.params.limit}`, `must be <= ${e.params.limit}`)
    case 'pattern': return e.params.pattern === NO_NUL
      ? invalidField(field, '不能含有 NUL 字符', 'must not contain a NUL character')
      : invalidField(field, '格式无效', 'has an invalid format')
    default: return invalidField(field, '无效', 'is invalid')
  }
}

export interface ErrorContext {
  contentType?: string
  /** The database's own "not there right now" (Capabilities.isUnavailable). */
  isUnavailable?: (err: unknown) => boolean
}

/** Any error as the state the client is told; unknown errors are INTERNAL_ERROR, never their text. */
export function toAppError (err: unknown, { contentType, isUnavailable }: ErrorContext = {}): AppError {
  if (err instanceof AppError) return err
  const e = err as FastifyError & { validationContext?: string }
  if (Array.isArray(e?.validation)) return validationError(e.validation as AjvError[], e.validationContext)
  if (isUnavailable?.(err) || err instanceof ClockMovedBackwardsError) return new AppError('SERVICE_UNAVAILABLE')
  // A NUL that slipped past the schemas: PostgreSQL refuses it (22021); the client sent it, so 400.
  if (e?.code === '22021') return invalidField('body', '含有数据库无法保存的字符（NUL）', 'holds a character the database cannot store (NUL)')
  switch (e?.statusCode) {
    case 413: return new AppError('PAYLOAD_TOO_LARGE')
    case 415: return new AppError('UNSUPPORTED_MEDIA_TYPE', `Content-Type: ${contentType ?? '(none)'}`.slice(0, 200))
    case 400: return /prototype/.test(String(e.message))
      ? invalidField('body', '含有禁止的 __proto__ 或 constructor.prototype 键', 'contains a forbidden __proto__ or constructor.prototype key')
      : invalidField('body', '不是有效的 JSON 或表单', 'is not valid JSON or form data')
  }
  return new AppError('INTERNAL_ERROR')
}

/** The failure envelope; also used by app.ts for requests that never reach a route (an undecodable URL). */
export function sendFailure (req: FastifyRequest, reply: FastifyReply, error: AppError, statusMode: HttpStatusMode) {
  req.state = error.state
  const status = statusMode === 'always-200' ? 200 : error.httpStatus
  return reply.code(status).type('application/json; charset=utf-8').send({
    result: 'fail', state: error.state, trace_id: req.id, message: error.localized(languageOf(req.headers['accept-language'])),
  })
}

export function registerEnvelope (app: FastifyInstance, opts: { statusMode: HttpStatusMode, isClosing: () => boolean, isUnavailable: ErrorContext['isUnavailable'] }) {
  app.decorateRequest('state', '')
  const knownRoutes = new Map<string, Set<string>>()
  app.addHook('onRoute', (route) => {
    const methods = knownRoutes.get(route.url) ?? new Set()
    for (const m of [route.method].flat()) methods.add(m)
    knownRoutes.set(route.url, methods)
  })

  // Callback-style, like the other per-request hooks: no promise per request on the hot paths.
  app.addHook('onRequest', (req, reply, done) => {
    reply.header('X-Request-Id', req.id)
    done(opts.isClosing() ? new AppError('SERVICE_UNAVAILABLE', 'shutting down') : undefined)
  })

  const send = (req: FastifyRequest, reply: FastifyReply, error: AppError) => sendFailure(req, reply, error, opts.statusMode)

  app.setErrorHandler((err, req, reply) => {
    const error = toAppError(err, { contentType: req.headers['content-type'], isUnavailable: opts.isUnavailable })
    if (error.state === 'INTERNAL_ERROR') req.log.error({ err }, 'unhandled error')
    else if (error.state === 'SERVICE_UNAVAILABLE') req.log.warn({ err: { message: (err as Error).message, code: (err as FastifyError).code } }, 'service unavailable')
    if (error.state === 'SERVICE_UNAVAILABLE') reply.header('Retry-After', '1')
    return send(req, reply, error)
  })

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]
    const methods = knownRoutes.get(path)
    if (methods) {
      reply.header('Allow', [...methods].join(', '))
      return send(req, reply, new AppError('METHOD_NOT_ALLOWED', `${req.method} ${path}`))
    }
    return send(req, reply, new AppError('NOT_FOUND', path.slice(0, 200)))
  })
}

declare module 'fastify' {
  interface FastifyRequest {
    state: string
  }
}
