import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import cookie from '@fastify/cookie'
import formbody from '@fastify/formbody'
import multipart from '@fastify/multipart'
import fastifyStatic from '@fastify/static'
import view from '@fastify/view'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { Eta } from 'eta'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { AppContext } from '../../context.ts'
import { AppError } from '../../errors.ts'
import { sendFailure, toAppError } from '../../plugins/envelope.ts'
import type { Actor } from './audit.ts'
import { createAuthService, type AuthService, type Principal } from './auth/auth.service.ts'
import { sameSecret } from './auth/secrets.ts'
import { consoleLang, LANG_COOKIE, translator, type Lang } from './i18n.ts'

declare module 'fastify' {
  interface FastifyRequest {
    operator: Principal | null
  }
  interface FastifyReply {
    /** Given to every template (@fastify/view merges it into the data). */
    locals: PageLocals | null
  }
  interface FastifyContextConfig {
    /** Served without credentials (the sign-in page). */
    public?: boolean
    /** A change any signed-in operator may make (sign-out); every other change needs the admin role. */
    anyRole?: boolean
  }
}

// console/ at the package root holds the templates and the static assets, beside src/ and dist/.
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'console')
export const SESSION_COOKIE = 'gamepay_session'
export const STATEMENT_BYTES = 10 * 1024 * 1024
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export interface ConsoleDeps {
  ctx: AppContext
  auth: AuthService
}

/** The operator (or the gamepay command) behind a request, for the audit log. */
export function actorOf (req: FastifyRequest): Actor {
  return { operator: req.operator?.name ?? '-', sourceIp: req.ip, traceId: req.id }
}

export const isApi = (req: FastifyRequest) => req.url.startsWith('/api/admin/') || req.url === '/api/admin'

/** Whether the request reached us over TLS, directly or through a trusted proxy (TRUST_PROXY). */
const overTls = (req: FastifyRequest) => req.protocol === 'https'

export function cookieOptions (req: FastifyRequest, ctx: AppContext, maxAgeSeconds: number, path = '/') {
  return {
    httpOnly: true,
    sameSite: 'strict' as const,
    secure: ctx.config.consoleSecureCookie === 'always' || overTls(req),
    path,
    maxAge: maxAgeSeconds,
  }
}

/** What every page's template gets besides its own data. */
export interface PageLocals {
  t: ReturnType<typeof translator>
  lang: Lang
  operator: Principal | null
  csrf: string
  path: string
  sandbox: boolean
}

/** Renders console/views/<template>.eta inside the layout. */
export function render (reply: FastifyReply, template: string, data: Record<string, unknown> & { title: string }) {
  return reply.type('text/html; charset=utf-8').view(template, data)
}

/**
 * The operator console (/console, HTML) and the admin API (/api/admin, JSON in the envelope).
 * Nothing answers without a session or a token, except the sign-in page and the static assets;
 * every change needs the admin role and, with a session, the session's CSRF token.
 */
export async function registerConsole (app: FastifyInstance, ctx: AppContext, areas: Array<(scope: FastifyInstance, deps: ConsoleDeps) => Promise<void>>) {
  const auth = createAuthService({ store: ctx.store, clock: ctx.clock })
  const deps: ConsoleDeps = { ctx, auth }

  await app.register(async (scope) => {
    await scope.register(cookie)
    await scope.register(formbody)
    // Files are read into the body (a statement is at most STATEMENT_BYTES), so the CSRF field
    // of a multipart form is checked like any other before the handler runs.
    await scope.register(multipart, { attachFieldsToBody: 'keyValues', limits: { fileSize: STATEMENT_BYTES, files: 1, fields: 20 } })
    await scope.register(view, {
      engine: { eta: new Eta({ views: join(ROOT, 'views'), cache: ctx.config.production }) },
      root: join(ROOT, 'views'),
      layout: 'layout.eta',
    })
    await scope.register(fastifyStatic, { root: join(ROOT, 'assets'), prefix: '/console/assets/', decorateReply: false, maxAge: 3_600_000 })
    scope.decorateRequest('operator', null)
    // Query strings and path parameters are text: the admin API reads `?limit=50` as the integer
    // its schema says (the public routes keep their own exact parsing); bodies are never coerced.
    const coercing = addFormats.default(new Ajv({ coerceTypes: true, useDefaults: true, removeAdditional: false, strict: false }))
    const exact = addFormats.default(new Ajv({ coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false }))
    scope.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? exact : coercing).compile(schema))

    scope.addHook('onRequest', async (req, reply) => {
      if (req.routeOptions.config.public || req.url.startsWith('/console/assets/')) return
      req.operator = await authenticate(req, auth)
      if (req.operator) return
      if (isApi(req)) throw new AppError('UNAUTHORIZED', { zh: '需要登录会话或 API 令牌', en: 'a console session or an API token is required' })
      return reply.redirect(`/console/sign-in?next=${encodeURIComponent(req.url)}`, 303)
    })

    const pageLocals = (req: FastifyRequest): PageLocals => {
      const lang = consoleLang(req)
      return { t: translator(lang), lang, operator: req.operator, csrf: req.operator?.csrfToken ?? '', path: req.url, sandbox: ctx.config.sandboxCashier }
    }

    scope.addHook('preHandler', async (req, reply) => {
      reply.locals = pageLocals(req)
      const query = (req.query as Record<string, unknown> | undefined)?.lang
      if (query === reply.locals.lang) reply.setCookie(LANG_COOKIE, reply.locals.lang, { path: '/', sameSite: 'lax', maxAge: 365 * 24 * 3600 })
      if (req.routeOptions.config.public || SAFE_METHODS.has(req.method) || !req.operator) return
      checkCsrf(req, req.operator)
      if (!req.routeOptions.config.anyRole && req.operator.role !== 'admin') {
        throw new AppError('FORBIDDEN', { zh: '只读账号不能修改', en: 'a viewer cannot change anything' })
      }
    })

    scope.addHook('onSend', async (req, reply) => {
      if (isApi(req)) return
      // Pages: no framing, scripts and styles only from here, nothing cached.
      reply.header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
      reply.header('x-frame-options', 'DENY')
      reply.header('referrer-policy', 'same-origin')
      reply.header('x-content-type-options', 'nosniff')
      if (!req.url.startsWith('/console/assets/')) reply.header('cache-control', 'no-store')
    })

    scope.setErrorHandler(async (err, req, reply) => {
      const error = toAppError(err, { contentType: req.headers['content-type'], isUnavailable: ctx.store.caps.isUnavailable })
      if (error.state === 'INTERNAL_ERROR') req.log.error({ err }, 'console request failed')
      if (isApi(req)) return sendFailure(req, reply, error, ctx.config.httpStatusMode)
      // A request refused before its handler (a body too large, a bad query) has no labels yet.
      if (!reply.locals?.t) reply.locals = pageLocals(req)
      const { lang } = reply.locals
      reply.code(error.httpStatus)
      return render(reply, 'error', { title: translator(lang)('error.title'), message: error.localized(lang), state: error.state })
    })

    for (const area of areas) await area(scope, deps)

    // Unknown paths behind the console's door: without credentials they answer as any other
    // console path (sign-in redirect, 401), so they do not tell which paths exist.
    scope.route({
      method: ['GET', 'HEAD'],
      url: '/console/*',
      schema: { hide: true },
      handler: async () => { throw new AppError('NOT_FOUND') },
    })
    scope.all('/api/admin/*', { schema: { hide: true } }, async () => { throw new AppError('NOT_FOUND') })
  })
}

async function authenticate (req: FastifyRequest, auth: AuthService): Promise<Principal | null> {
  const header = req.headers.authorization
  if (typeof header === 'string' && header.startsWith('Bearer ')) return await auth.fromToken(header.slice(7).trim()) ?? null
  const session = req.cookies[SESSION_COOKIE]
  return session ? await auth.fromSession(session) ?? null : null
}

/** A change made with a session carries the session's CSRF token: the X-CSRF-Token header or the _csrf form field. */
function checkCsrf (req: FastifyRequest, operator: Principal) {
  if (operator.via === 'token') return
  const header = req.headers['x-csrf-token']
  const field = (req.body as Record<string, unknown> | undefined)?._csrf
  const given = typeof header === 'string' ? header : typeof field === 'string' ? field : ''
  if (!operator.csrfToken || !sameSecret(given, operator.csrfToken)) {
    throw new AppError('FORBIDDEN', { zh: 'CSRF 令牌缺失或无效（_csrf / X-CSRF-Token）', en: 'the CSRF token (_csrf or X-CSRF-Token) is missing or wrong' })
  }
}
