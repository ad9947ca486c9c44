import type { Store } from '../../../db/connect.ts'
import { AppError, invalidField } from '../../../errors.ts'
import { recordAudit, type Actor } from '../audit.ts'
import { DECOY_HASH, hashPassword, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, verifyPassword } from './password.ts'
import * as repo from './operators.repository.ts'
import { digest, randomSecret } from './secrets.ts'

/** A signed-in session lasts this long, however active: operators sign in again each working day. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000
/** After this many wrong passwords in a row an account refuses sign-in for LOCK_MS, from any address. */
export const MAX_FAILED_SIGN_INS = 10
export const LOCK_MS = 15 * 60 * 1000
export const TOKEN_PREFIX = 'gp_'
const NAME = /^[A-Za-z0-9._@-]{1,64}$/

/** Who is making a console or admin API request. */
export interface Principal {
  operatorId: number
  name: string
  role: repo.Role
  via: 'session' | 'token'
  /** The session's CSRF token (sessions only: a token request carries no ambient credentials). */
  csrfToken: string | null
  sessionId: string | null
}

export function checkName (name: string): string {
  if (!NAME.test(name)) throw invalidField('name', '须为 1-64 个字母、数字或 ._@-', 'must be 1-64 letters, digits or ._@-')
  return name
}

export function checkPassword (password: string): string {
  if (password.length < MIN_PASSWORD_LENGTH || password.length > MAX_PASSWORD_LENGTH) {
    throw invalidField('password', `长度须为 ${MIN_PASSWORD_LENGTH}-${MAX_PASSWORD_LENGTH}`, `must be ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`)
  }
  return password
}

export function checkRole (role: string): repo.Role {
  if (!(repo.ROLES as string[]).includes(role)) throw invalidField('role', '须为 admin 或 viewer', 'must be admin or viewer')
  return role as repo.Role
}

export function createAuthService ({ store, clock }: { store: Store, clock: () => number }) {
  const { db } = store

  return {
    /** Creates an operator (audited as done by `actor`); a name taken already is refused. */
    async createOperator (actor: Actor, name: string, role: string, password: string): Promise<void> {
      checkName(name)
      const r = checkRole(role)
      const passwordHash = await hashPassword(checkPassword(password))
      await store.transaction(async (trx) => {
        if (await repo.findOperatorByName(trx, name)) throw invalidField('name', '已存在', 'is taken already')
        const now = clock()
        await repo.insertOperator(trx, { name, role: r, passwordHash, now })
        await recordAudit(trx, actor, { action: 'operator.create', target: `operator:${name}`, after: { name, role: r } }, now)
      })
    },

    /** Sets a new password and ends the operator's sessions. */
    async setPassword (actor: Actor, name: string, password: string): Promise<void> {
      const passwordHash = await hashPassword(checkPassword(password))
      await store.transaction(async (trx) => {
        const op = await repo.findOperatorByName(trx, name)
        if (!op) throw invalidField('name', '不存在', 'is not an operator')
        const now = clock()
        await repo.updatePassword(trx, op.id, passwordHash, now)
        await repo.deleteSessions(trx, op.id, now)
        await recordAudit(trx, actor, { action: 'operator.password', target: `operator:${name}` }, now)
      })
    },

    listOperators: () => repo.listOperators(db),

    /** A new API token for the operator: returned once, stored only as its SHA-256. */
    async createToken (actor: Actor, name: string, label: string): Promise<{ id: number, token: string }> {
      const token = TOKEN_PREFIX + randomSecret()
      const id = await store.transaction(async (trx) => {
        const op = await repo.findOperatorByName(trx, name)
        if (!op) throw invalidField('name', '不存在', 'is not an operator')
        const now = clock()
        const tokenId = await repo.insertToken(trx, { operatorId: op.id, label: label.slice(0, 64), tokenHash: digest(token), now })
        await recordAudit(trx, actor, { action: 'token.create', target: `operator:${name}`, after: { token_id: tokenId, label } }, now)
        return tokenId
      })
      return { id, token }
    },

    listTokens: (name?: string) => repo.listTokens(db, name),

    async revokeToken (actor: Actor, id: number): Promise<void> {
      await store.transaction(async (trx) => {
        const now = clock()
        if (!await repo.revokeToken(trx, id, now)) throw invalidField('token_id', '不存在或已吊销', 'is no such token, or is revoked already')
        await recordAudit(trx, actor, { action: 'token.revoke', target: `token:${id}`, before: { revoked: false }, after: { revoked: true } }, now)
      })
    },

    /**
     * Checks a name and password: a new session (cookie value and CSRF token) or UNAUTHORIZED,
     * the same answer for an unknown name, a wrong password and a locked account.
     */
    async signIn (name: string, password: string, actor: Omit<Actor, 'operator'>): Promise<{ cookie: string, csrfToken: string, principal: Principal }> {
      const refused = new AppError('UNAUTHORIZED', { zh: '用户名或密码错误，或账号暂时锁定', en: 'wrong name or password, or the account is locked for a while' })
      const op = NAME.test(name) ? await repo.findOperatorByName(db, name) : undefined
      // An unknown name costs a hash too, so timing does not tell which names exist.
      const good = await verifyPassword(password, op?.passwordHash ?? DECOY_HASH)
      const now = clock()
      if (!op || op.disabledAt !== null) throw refused
      if (op.lockedUntil > now || !good) {
        if (!good) {
          await repo.recordFailedSignIn(db, op.id, MAX_FAILED_SIGN_INS, now + LOCK_MS)
          await recordAudit(db, { ...actor, operator: op.name }, { action: 'sign-in.failed', target: `operator:${op.name}` }, now)
        }
        throw refused
      }
      const cookie = randomSecret()
      const csrfToken = randomSecret()
      await store.transaction(async (trx) => {
        await repo.resetFailedSignIns(trx, op.id)
        await repo.insertSession(trx, { id: digest(cookie), operatorId: op.id, csrfToken, sourceIp: actor.sourceIp, now, expiresAt: now + SESSION_TTL_MS })
        await recordAudit(trx, { ...actor, operator: op.name }, { action: 'sign-in', target: `operator:${op.name}` }, now)
      })
      return { cookie, csrfToken, principal: { operatorId: op.id, name: op.name, role: op.role, via: 'session', csrfToken, sessionId: digest(cookie) } }
    },

    async signOut (principal: Principal, actor: Actor): Promise<void> {
      if (principal.sessionId === null) return
      const sessionId = principal.sessionId
      await store.transaction(async (trx) => {
        await repo.deleteSession(trx, sessionId)
        await recordAudit(trx, actor, { action: 'sign-out', target: `operator:${principal.name}` }, clock())
      })
    },

    async fromSession (cookie: string): Promise<Principal | undefined> {
      const id = digest(cookie)
      const s = await repo.findSession(db, id, clock())
      return s && { operatorId: s.operatorId, name: s.name, role: s.role as repo.Role, via: 'session', csrfToken: s.csrfToken, sessionId: id }
    },

    async fromToken (token: string): Promise<Principal | undefined> {
      if (!token.startsWith(TOKEN_PREFIX)) return undefined
      const t = await repo.findTokenOperator(db, digest(token))
      if (!t) return undefined
      await repo.touchToken(db, t.tokenId, clock())
      return { operatorId: t.operatorId, name: t.name, role: t.role as repo.Role, via: 'token', csrfToken: null, sessionId: null }
    },
  }
}

export type AuthService = ReturnType<typeof createAuthService>
