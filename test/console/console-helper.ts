import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { createAuthService } from '../../src/modules/console/auth/auth.service.ts'
import type { TestApp } from '../helper.ts'

export const PASSWORD = 'correct horse battery staple'
const CLI = { operator: 'cli:test', sourceIp: 'local', traceId: 'test' }

export interface Session {
  name: string
  cookies: Record<string, string>
  csrf: string
  /** Injects with the session's cookie, and for a change its CSRF token, as a browser page would. */
  inject: (opts: InjectOptions) => Promise<LightMyRequestResponse>
}

export const auth = (t: TestApp) => createAuthService({ store: t.ctx.store, clock: t.ctx.clock })

export async function createOperator (t: TestApp, name: string, role: 'admin' | 'viewer') {
  await auth(t).createOperator(CLI, name, role, PASSWORD)
}

/** An API token of the operator (created when missing). */
export async function tokenFor (t: TestApp, name: string, role: 'admin' | 'viewer' = 'admin'): Promise<string> {
  if (!(await auth(t).listOperators()).some((o) => o.name === name)) await createOperator(t, name, role)
  return (await auth(t).createToken(CLI, name, 'test')).token
}

/** Signs in through the sign-in form (creating the operator when missing). */
export async function signIn (t: TestApp, name: string, role: 'admin' | 'viewer' = 'admin'): Promise<Session> {
  if (!(await auth(t).listOperators()).some((o) => o.name === name)) await createOperator(t, name, role)
  const page = await t.app.inject({ url: '/console/sign-in' })
  const token = /name="sign_in_token" value="([^"]+)"/.exec(page.body)?.[1] ?? ''
  const res = await t.app.inject({
    method: 'POST',
    url: '/console/sign-in',
    cookies: { gamepay_sign_in: token },
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ sign_in_token: token, name, password: PASSWORD }).toString(),
  })
  const session = res.cookies.find((c) => c.name === 'gamepay_session')
  if (res.statusCode !== 303 || !session) throw new Error(`sign-in of ${name} failed: ${res.statusCode}`)
  const cookies = { gamepay_session: session.value }
  const me = await t.app.inject({ url: '/console/audit', cookies })
  const csrf = /name="_csrf" value="([^"]+)"/.exec(me.body)?.[1] ?? ''
  return {
    name,
    cookies,
    csrf,
    inject: (opts) => {
      const method = (opts.method ?? 'GET').toUpperCase()
      const headers = { ...(opts.headers ?? {}), ...(method === 'GET' || method === 'HEAD' ? {} : { 'x-csrf-token': csrf }) }
      return t.app.inject({ ...opts, headers, cookies: { ...cookies, ...(opts.cookies ?? {}) } })
    },
  }
}

/** A form post from a console page: urlencoded, with the session's _csrf field. */
export function form (session: Session, url: string, fields: Record<string, string>) {
  return session.inject({
    method: 'POST',
    url,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ _csrf: session.csrf, ...fields }).toString(),
  })
}
