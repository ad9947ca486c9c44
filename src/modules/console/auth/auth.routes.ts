import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { toIso } from '../../../db/values.ts'
import { AppError } from '../../../errors.ts'
import { ok } from '../../../plugins/envelope.ts'
import { responses } from '../../envelope.schemas.ts'
import { listAudit } from '../audit.ts'
import { actorOf, cookieOptions, render, SESSION_COOKIE, type ConsoleDeps } from '../console.plugin.ts'
import { translator } from '../i18n.ts'
import { SESSION_TTL_MS } from './auth.service.ts'
import { randomSecret, sameSecret } from './secrets.ts'
import { createSignInLimit } from './sign-in-limit.ts'

// Failed sign-ins per address; each account also locks after MAX_FAILED_SIGN_INS wrong passwords
// in a row, whichever address they come from.
const FAILURES_PER_ADDRESS = 10
const FAILURE_WINDOW_MS = 15 * 60_000
// The sign-in form's own CSRF token (there is no session yet): a cookie and the same value in the form.
const SIGN_IN_COOKIE = 'gamepay_sign_in'

/** Only a path inside the console is a place to go back to after sign-in. */
const safeNext = (next: unknown) => typeof next === 'string' && /^\/console(\/|\?|$)/.test(next) && !next.startsWith('//') ? next : '/console'

export async function authRoutes (app: FastifyInstance, { ctx, auth }: ConsoleDeps) {
  const byAddress = createSignInLimit({ max: FAILURES_PER_ADDRESS, windowMs: FAILURE_WINDOW_MS })

  function signInPage (req: FastifyRequest, reply: FastifyReply, error?: string) {
    const token = randomSecret()
    reply.setCookie(SIGN_IN_COOKIE, token, cookieOptions(req, ctx, 600, '/console/sign-in'))
    const next = safeNext((req.query as { next?: unknown }).next ?? (req.body as { next?: unknown } | undefined)?.next)
    const t = reply.locals?.t ?? translator('zh')
    return render(reply, 'sign-in', { title: t('signin.title'), signInToken: token, next, error })
  }

  app.get('/console/sign-in', { config: { public: true }, schema: { hide: true } }, async (req, reply) => signInPage(req, reply))

  app.post('/console/sign-in', {
    config: { public: true },
    schema: { hide: true },
  }, async (req, reply) => {
    const wait = byAddress.retryAfter(req.ip, Date.now())
    if (wait > 0) {
      reply.code(429).header('retry-after', String(wait))
      return signInPage(req, reply, 'signin.limited')
    }
    const body = (req.body ?? {}) as Record<string, unknown>
    const expected = req.cookies[SIGN_IN_COOKIE]
    if (!expected || typeof body.sign_in_token !== 'string' || !sameSecret(body.sign_in_token, expected)) {
      reply.code(403)
      return signInPage(req, reply, 'signin.expired')
    }
    try {
      const session = await auth.signIn(String(body.name ?? ''), String(body.password ?? ''), { sourceIp: req.ip, traceId: req.id })
      reply.clearCookie(SIGN_IN_COOKIE, { path: '/console/sign-in' })
      reply.setCookie(SESSION_COOKIE, session.cookie, cookieOptions(req, ctx, SESSION_TTL_MS / 1000))
      return reply.redirect(safeNext(body.next), 303)
    } catch (err) {
      if (!(err instanceof AppError) || err.state !== 'UNAUTHORIZED') throw err
      byAddress.failed(req.ip, Date.now())
      reply.code(401)
      return signInPage(req, reply, 'signin.failed')
    }
  })

  app.post('/console/sign-out', { config: { anyRole: true }, schema: { hide: true } }, async (req, reply) => {
    if (req.operator) await auth.signOut(req.operator, actorOf(req))
    reply.clearCookie(SESSION_COOKIE, { path: '/' })
    return reply.redirect('/console/sign-in', 303)
  })

  app.get('/console', { schema: { hide: true } }, async (_req, reply) => reply.redirect('/console/dashboard', 303))

  // Who is calling: lets a script check its token.
  app.get('/api/admin/me', {
    schema: {
      tags: ['admin'],
      summary: 'The operator behind this session or token',
      security: [{ bearer: [] }],
      response: responses(Type.Object({ name: Type.String(), role: Type.String(), via: Type.String() })),
    },
  }, async (req) => ok(req, { name: req.operator!.name, role: req.operator!.role, via: req.operator!.via }))

  const TokenInfo = Type.Object({
    id: Type.Integer(),
    operator: Type.String(),
    label: Type.String(),
    created_at: Type.String(),
    last_used_at: Type.Union([Type.String(), Type.Null()]),
    revoked_at: Type.Union([Type.String(), Type.Null()]),
  })
  const iso = (ms: number | null) => ms === null ? null : toIso(ms)

  app.get('/api/admin/tokens', {
    schema: { tags: ['admin'], summary: 'API tokens (never their secret)', security: [{ bearer: [] }], response: responses(Type.Array(TokenInfo)) },
  }, async (req) => ok(req, (await auth.listTokens()).map((t) => ({
    id: t.id, operator: t.operatorName, label: t.label, created_at: toIso(t.createdAt), last_used_at: iso(t.lastUsedAt), revoked_at: iso(t.revokedAt),
  }))))

  app.post('/api/admin/tokens/:id/revoke', {
    schema: {
      tags: ['admin'],
      summary: 'Revoke an API token at once',
      security: [{ bearer: [] }],
      params: Type.Object({ id: Type.Integer({ minimum: 1 }) }),
      response: responses(),
    },
  }, async (req) => {
    await auth.revokeToken(actorOf(req), (req.params as { id: number }).id)
    return ok(req)
  })

  const AuditQuery = Type.Object({
    target: Type.Optional(Type.String({ maxLength: 255 })),
    before: Type.Optional(Type.Integer({ minimum: 1 })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    lang: Type.Optional(Type.String()),
  })
  const AuditEntry = Type.Object({
    id: Type.Integer(),
    at: Type.String(),
    operator: Type.String(),
    action: Type.String(),
    target: Type.String(),
    source_ip: Type.String(),
    trace_id: Type.String(),
    before: Type.Unknown(),
    after: Type.Unknown(),
  })

  const readAudit = async (q: { target?: string, before?: number, limit?: number }) => {
    const rows = await listAudit(ctx.store.db, { target: q.target, before: q.before, limit: q.limit ?? 50 })
    return rows.map((r) => ({ id: r.id, at: toIso(r.at), operator: r.operator, action: r.action, target: r.target, source_ip: r.sourceIp, trace_id: r.traceId, before: r.before, after: r.after }))
  }

  app.get('/api/admin/audit', {
    schema: { tags: ['admin'], summary: 'The audit log, newest first', security: [{ bearer: [] }], querystring: AuditQuery, response: responses(Type.Array(AuditEntry)) },
  }, async (req) => ok(req, await readAudit(req.query as { target?: string, before?: number, limit?: number })))

  app.get('/console/audit', { schema: { hide: true, querystring: AuditQuery } }, async (req, reply) => {
    const q = req.query as { target?: string, before?: number, limit?: number }
    const entries = await readAudit(q)
    return render(reply, 'audit', { title: reply.locals!.t('audit.title'), entries, target: q.target ?? '', older: entries.length === (q.limit ?? 50) ? entries.at(-1)?.id : null })
  })
}
