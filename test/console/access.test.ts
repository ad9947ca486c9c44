// Who may use the console and the admin API: sign-in, sessions, CSRF, roles, tokens, the audit log.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { resolve as resolvePath } from 'node:path'
import { after, before, test } from 'node:test'
import { sql } from 'kysely'
import { connect } from '../../src/db/connect.ts'
import { MAX_FAILED_SIGN_INS } from '../../src/modules/console/auth/auth.service.ts'
import { verifyPassword } from '../../src/modules/console/auth/password.ts'
import { createTestApp, forEachDialect, freshDatabaseUrl, type TestApp } from '../helper.ts'
import { auth, createOperator, form, PASSWORD, signIn, tokenFor } from './console-helper.ts'

const BIN = resolvePath(import.meta.dirname, '../../bin/gamepay.js')

async function signInForm (t: TestApp, name: string, password: string, headers: Record<string, string> = {}, remoteAddress = '127.0.0.1') {
  const page = await t.app.inject({ url: '/console/sign-in', headers, remoteAddress })
  const token = /name="sign_in_token" value="([^"]+)"/.exec(page.body)?.[1] ?? ''
  return t.app.inject({
    method: 'POST',
    url: '/console/sign-in',
    remoteAddress,
    cookies: { gamepay_sign_in: token },
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    payload: new URLSearchParams({ sign_in_token: token, name, password }).toString(),
  })
}

const auditActions = async (t: TestApp) =>
  (await t.ctx.store.db.selectFrom('audit_log').select(['operator', 'action', 'target']).orderBy('id').execute())

forEachDialect('console access', (dialect) => {
  let t: TestApp
  before(async () => { t = await createTestApp(dialect) })
  after(async () => { await t.close() })

  test('when nobody is signed in, then every admin API path answers 401 UNAUTHORIZED and every console page redirects to sign-in', async () => {
    for (const url of ['/api/admin/me', '/api/admin/audit', '/api/admin/no-such-thing']) {
      const res = await t.app.inject({ url })
      assert.equal(res.statusCode, 401, url)
      assert.equal(res.json().state, 'UNAUTHORIZED')
    }
    const post = await t.app.inject({ method: 'POST', url: '/api/admin/anything', payload: {} })
    assert.equal(post.statusCode, 401)
    for (const url of ['/console', '/console/audit', '/console/no-such-page']) {
      const res = await t.app.inject({ url })
      assert.equal(res.statusCode, 303, url)
      assert.equal(res.headers.location, `/console/sign-in?next=${encodeURIComponent(url)}`)
    }
    // The public routes stay open.
    assert.equal((await t.app.inject({ url: '/api/pay/goods?id=1' })).statusCode, 200)
  })

  test('when an operator signs in with the right password, then the session cookie is HttpOnly and SameSite=Strict, the page shows the operator, and the sign-in is audited', async () => {
    await createOperator(t, 'alice', 'admin')
    const res = await signInForm(t, 'alice', PASSWORD)
    assert.equal(res.statusCode, 303)
    const cookie = res.headers['set-cookie'] as string[]
    const session = cookie.find((c) => c.startsWith('gamepay_session='))
    assert.ok(session)
    assert.match(session, /HttpOnly/)
    assert.match(session, /SameSite=Strict/)
    assert.doesNotMatch(session, /Secure/)
    const page = await t.app.inject({ url: '/console/audit', cookies: { gamepay_session: res.cookies.find((c) => c.name === 'gamepay_session')!.value } })
    assert.equal(page.statusCode, 200)
    assert.match(page.body, /alice \(管理员\)/)
    assert.match(page.headers['content-security-policy'] as string, /frame-ancestors 'none'/)
    const stored = await t.ctx.store.db.selectFrom('operators').select('password_hash').where('name', '=', 'alice').executeTakeFirstOrThrow()
    assert.match(stored.password_hash, /^scrypt\$/)
    assert.ok(await verifyPassword(PASSWORD, stored.password_hash))
    assert.deepEqual((await auditActions(t)).at(-1), { operator: 'alice', action: 'sign-in', target: 'operator:alice' })
  })

  test('when the wrong password or an unknown name is given, then the form says so with 401 and no session is made', async () => {
    const wrong = await signInForm(t, 'alice', 'not the password at all')
    const unknown = await signInForm(t, 'nobody', PASSWORD)
    for (const res of [wrong, unknown]) {
      assert.equal(res.statusCode, 401)
      assert.match(res.body, /用户名或密码错误/)
      assert.equal(res.cookies.find((c) => c.name === 'gamepay_session'), undefined)
    }
    const failed = await t.ctx.store.db.selectFrom('operators').select('failed_sign_ins').where('name', '=', 'alice').executeTakeFirstOrThrow()
    assert.equal(Number(failed.failed_sign_ins), 1)
  })

  test('when the sign-in form comes without its own token (a cross-site post), then it is refused', async () => {
    const res = await t.app.inject({
      method: 'POST',
      url: '/console/sign-in',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ name: 'alice', password: PASSWORD }).toString(),
    })
    assert.equal(res.statusCode, 403)
    assert.equal(res.cookies.find((c) => c.name === 'gamepay_session'), undefined)
  })

  test('when an account gets too many wrong passwords in a row, then even the right one is refused until the lock ends', async () => {
    await createOperator(t, 'mallory-target', 'viewer')
    for (let i = 0; i < MAX_FAILED_SIGN_INS; i++) {
      // Several addresses, so the per-address limit is not what stops it.
      const res = await signInForm(t, 'mallory-target', `wrong password ${i}`, {}, `198.51.100.${i}`)
      assert.equal(res.statusCode, 401)
    }
    const right = await signInForm(t, 'mallory-target', PASSWORD, {}, '198.51.100.200')
    assert.equal(right.statusCode, 401)
    const row = await t.ctx.store.db.selectFrom('operators').select(['failed_sign_ins', 'locked_until']).where('name', '=', 'mallory-target').executeTakeFirstOrThrow()
    assert.ok(Number(row.locked_until) > Date.now())
  })

  test('when a viewer with a session and a token tries a change, then it is FORBIDDEN; a session change without the CSRF token or with another session\'s is FORBIDDEN too', async () => {
    const admin = await signIn(t, 'alice')
    const viewer = await signIn(t, 'victor', 'viewer')
    const viewerToken = await tokenFor(t, 'victor')
    const before = (await auditActions(t)).length
    // No route is needed to prove the gate: it runs before any handler of the console's scope.
    const byViewer = await viewer.inject({ method: 'POST', url: '/api/admin/tokens/1/revoke', payload: {} })
    assert.equal(byViewer.statusCode, 403)
    assert.equal(byViewer.json().state, 'FORBIDDEN')
    const byViewerToken = await t.app.inject({ method: 'POST', url: '/api/admin/tokens/1/revoke', headers: { authorization: `Bearer ${viewerToken}` }, payload: {} })
    assert.equal(byViewerToken.statusCode, 403)
    const noCsrf = await t.app.inject({ method: 'POST', url: '/console/sign-out', cookies: admin.cookies })
    assert.equal(noCsrf.statusCode, 403)
    const otherCsrf = await t.app.inject({
      method: 'POST',
      url: '/console/sign-out',
      cookies: admin.cookies,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `_csrf=${viewer.csrf}`,
    })
    assert.equal(otherCsrf.statusCode, 403)
    assert.match(otherCsrf.body, /CSRF/)
    assert.equal((await auditActions(t)).length, before)
    // The admin's session still works: nothing above signed it out.
    assert.equal((await admin.inject({ url: '/api/admin/me' })).json().data.name, 'alice')
  })

  test('when an API token is used, then it works as its operator until it is revoked, and is stored only as a hash', async () => {
    const { id, token } = await auth(t).createToken({ operator: 'cli:test', sourceIp: 'local', traceId: 't' }, 'alice', 'script')
    const me = await t.app.inject({ url: '/api/admin/me', headers: { authorization: `Bearer ${token}` } })
    assert.deepEqual(me.json().data, { name: 'alice', role: 'admin', via: 'token' })
    const rows = await t.ctx.store.db.selectFrom('operator_tokens').select(['token_hash', 'last_used_at']).where('id', '=', id).execute()
    assert.notEqual(rows[0].token_hash, token)
    assert.equal(rows[0].token_hash.length, 64)
    assert.notEqual(rows[0].last_used_at, null)
    await auth(t).revokeToken({ operator: 'cli:test', sourceIp: 'local', traceId: 't' }, id)
    const revoked = await t.app.inject({ url: '/api/admin/me', headers: { authorization: `Bearer ${token}` } })
    assert.equal(revoked.statusCode, 401)
    assert.equal(revoked.json().state, 'UNAUTHORIZED')
    const wrong = await t.app.inject({ url: '/api/admin/me', headers: { authorization: 'Bearer gp_not-a-token' } })
    assert.equal(wrong.statusCode, 401)
  })

  test('when an admin revokes a token through the API, then it stops working at once and the revocation is audited', async () => {
    const admin = await tokenFor(t, 'alice')
    const { id, token } = await auth(t).createToken({ operator: 'cli:test', sourceIp: 'local', traceId: 't' }, 'victor', 'laptop')
    const listed = await t.app.inject({ url: '/api/admin/tokens', headers: { authorization: `Bearer ${admin}` } })
    const entry = listed.json().data.find((x: { id: number }) => x.id === id)
    assert.deepEqual({ operator: entry.operator, label: entry.label, revoked_at: entry.revoked_at }, { operator: 'victor', label: 'laptop', revoked_at: null })
    assert.equal(JSON.stringify(listed.json()).includes(token), false)
    const res = await t.app.inject({ method: 'POST', url: `/api/admin/tokens/${id}/revoke`, headers: { authorization: `Bearer ${admin}` } })
    assert.equal(res.statusCode, 200)
    assert.equal((await t.app.inject({ url: '/api/admin/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 401)
    const again = await t.app.inject({ method: 'POST', url: `/api/admin/tokens/${id}/revoke`, headers: { authorization: `Bearer ${admin}` } })
    assert.equal(again.statusCode, 400)
    assert.match(again.json().message, /token_id/)
    const audit = await t.ctx.store.db.selectFrom('audit_log').select(['operator', 'action', 'target']).where('action', '=', 'token.revoke').execute()
    assert.deepEqual(audit.at(-1), { operator: 'alice', action: 'token.revoke', target: `token:${id}` })
  })

  test('when an operator signs out, then the session no longer opens anything', async () => {
    const s = await signIn(t, 'alice')
    const out = await form(s, '/console/sign-out', {})
    assert.equal(out.statusCode, 303)
    assert.equal((await t.app.inject({ url: '/api/admin/me', cookies: s.cookies })).statusCode, 401)
    assert.equal((await t.app.inject({ url: '/console/audit', cookies: s.cookies })).statusCode, 303)
  })

  test('when the audit log is read, then it holds who, what, when, from where and the trace id; and the database refuses to change or delete an entry', async () => {
    const s = await signIn(t, 'alice')
    const res = await s.inject({ url: '/api/admin/audit?limit=5' })
    assert.equal(res.statusCode, 200)
    const entry = res.json().data[0]
    assert.equal(entry.operator, 'alice')
    assert.equal(entry.action, 'sign-in')
    assert.equal(entry.source_ip, '127.0.0.1')
    assert.match(entry.at, /^\d{4}-\d\d-\d\dT/)
    assert.ok(entry.trace_id)
    await assert.rejects(sql`update audit_log set operator = 'someone else'`.execute(t.ctx.store.db), /append-only/)
    await assert.rejects(sql`delete from audit_log`.execute(t.ctx.store.db), /append-only/)
    const page = await s.inject({ url: '/console/audit' })
    assert.match(page.body, /sign-in/)
  })

  test('when the language switch or Accept-Language asks for English, then the page is in English', async () => {
    const s = await signIn(t, 'alice')
    const en = await s.inject({ url: '/console/audit', headers: { 'accept-language': 'en-US,en;q=0.9' } })
    assert.match(en.body, /<html lang="en">/)
    assert.match(en.body, /Audit log/)
    const switched = await s.inject({ url: '/console/audit?lang=en' })
    assert.match(switched.body, /Audit log/)
    assert.ok(switched.cookies.some((c) => c.name === 'gamepay_lang' && c.value === 'en'))
  })
})

forEachDialect('console cookies behind TLS', (dialect) => {
  test('when the request came over TLS through a trusted proxy, or CONSOLE_SECURE_COOKIE=always, then the session cookie is Secure', async () => {
    const url = await freshDatabaseUrl(dialect)
    for (const [env, headers] of [
      [{ TRUST_PROXY: '127.0.0.1' }, { 'x-forwarded-proto': 'https' }],
      [{ CONSOLE_SECURE_COOKIE: 'always' }, {}],
    ] as Array<[Record<string, string>, Record<string, string>]>) {
      const t = await createTestApp(dialect, { url, env })
      try {
        if (!(await auth(t).listOperators()).length) await createOperator(t, 'alice', 'admin')
        const res = await signInForm(t, 'alice', PASSWORD, headers)
        assert.equal(res.statusCode, 303)
        assert.match((res.headers['set-cookie'] as string[]).find((c) => c.startsWith('gamepay_session='))!, /; Secure/)
      } finally {
        await t.close()
      }
    }
  })

  test('when one address keeps failing to sign in, then it is refused with 429 and Retry-After after the limit, whatever the name', async () => {
    const t = await createTestApp(dialect)
    try {
      const codes: number[] = []
      let last
      for (let i = 0; i < 12; i++) {
        last = await signInForm(t, `someone${i}`, 'whatever password', {}, '203.0.113.7')
        codes.push(last.statusCode)
      }
      assert.deepEqual(codes.slice(0, 10), Array(10).fill(401))
      assert.deepEqual(codes.slice(10), [429, 429])
      assert.ok(Number(last?.headers['retry-after']) > 0)
      assert.match(last?.body ?? '', /尝试次数过多/)
      // Another address is not affected.
      assert.equal((await signInForm(t, 'someone', 'whatever password', {}, '203.0.113.8')).statusCode, 401)
    } finally {
      await t.close()
    }
  })
})

test('when gamepay admin creates operators and tokens, then the password comes from stdin or is generated, and a revoked token no longer works', async () => {
  const url = await freshDatabaseUrl('sqlite')
  const run = (args: string[], input?: string) => new Promise<{ code: number, stdout: string, stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [BIN, 'admin', ...args], { env: { PATH: process.env.PATH ?? '', DATABASE_URL: url, LOG_LEVEL: 'silent' } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr })
    })
    child.stdin?.end(input ?? '')
  })
  const fromStdin = await run(['create', 'ops', '--role', 'admin'], 'a long enough password\n')
  assert.equal(fromStdin.code, 0, fromStdin.stderr)
  assert.equal(fromStdin.stdout, 'operator ops (admin) created\n')
  const generated = await run(['create', 'watcher', '--role', 'viewer'])
  assert.equal(generated.code, 0, generated.stderr)
  const password = /password: (\S+)/.exec(generated.stdout)?.[1] ?? ''
  assert.ok(password.length >= 12)
  const badRole = await run(['create', 'x', '--role', 'root'], 'a long enough password')
  assert.equal(badRole.code, 1)
  assert.match(badRole.stderr, /role must be admin or viewer/)
  const token = await run(['token', 'ops', '--label', 'deploy'])
  assert.equal(token.code, 0, token.stderr)
  const secret = token.stdout.trim().split('\n').at(-1) ?? ''
  assert.match(secret, /^gp_/)
  assert.equal((await run(['revoke', '1'])).code, 0)
  assert.equal((await run(['revoke', '1'])).code, 1)

  const store = connect(url)
  try {
    const ops = await store.db.selectFrom('operators').select(['name', 'role', 'password_hash']).orderBy('name').execute()
    assert.deepEqual(ops.map((o) => [o.name, o.role]), [['ops', 'admin'], ['watcher', 'viewer']])
    assert.ok(await verifyPassword('a long enough password', ops[0].password_hash))
    assert.ok(await verifyPassword(password, ops[1].password_hash))
    const tokens = await store.db.selectFrom('operator_tokens').selectAll().execute()
    assert.equal(tokens.length, 1)
    assert.notEqual(tokens[0].revoked_at, null)
    const audit = await store.db.selectFrom('audit_log').select(['operator', 'action']).orderBy('id').execute()
    assert.deepEqual(audit.map((a) => a.action), ['operator.create', 'operator.create', 'token.create', 'token.revoke'])
    assert.match(audit[0].operator, /^cli:/)
  } finally {
    await store.close()
  }
})

test('when the sandbox cashier is asked for in production, or CONSOLE_SECURE_COOKIE has another value, then the start is refused naming the variable', async () => {
  const { loadConfig } = await import('../../src/config.ts')
  const base = { CALLBACK_SECRET: 'a-production-secret-long-enough', DATABASE_URL: 'sqlite::memory:' }
  assert.throws(() => loadConfig({ ...base, NODE_ENV: 'production', SANDBOX_CASHIER: 'on' }), /SANDBOX_CASHIER/)
  assert.equal(loadConfig({ ...base, NODE_ENV: 'production' }).sandboxCashier, false)
  assert.equal(loadConfig(base).sandboxCashier, true)
  assert.throws(() => loadConfig({ ...base, CONSOLE_SECURE_COOKIE: 'yes' }), /CONSOLE_SECURE_COOKIE/)
})

forEachDialect('console in the OpenAPI document', (dialect) => {
  test('when /docs/json is read, then the admin API is there with its bearer scheme, and no console page is', async () => {
    const t = await createTestApp(dialect)
    try {
      const doc = (await t.app.inject({ url: '/docs/json' })).json()
      const paths = Object.keys(doc.paths)
      for (const path of ['/api/admin/orders', '/api/admin/orders/{order_no}', '/api/admin/dashboard', '/api/admin/audit', '/api/admin/tokens']) {
        assert.ok(paths.includes(path), path)
      }
      assert.ok(!paths.some((p) => p.startsWith('/console')))
      assert.deepEqual(doc.paths['/api/admin/orders'].get.security, [{ bearer: [] }])
      assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer')
    } finally {
      await t.close()
    }
  })
})
