import type { Executor } from '../../../db/database.ts'
import { toInt, toIntOrNull } from '../../../db/values.ts'

export type Role = 'admin' | 'viewer'
export const ROLES: readonly Role[] = ['admin', 'viewer']

export interface Operator {
  id: number
  name: string
  role: Role
  passwordHash: string
  failedSignIns: number
  lockedUntil: number
  disabledAt: number | null
}

export interface TokenRow {
  id: number
  operatorId: number
  operatorName: string
  label: string
  createdAt: number
  lastUsedAt: number | null
  revokedAt: number | null
}

const operatorColumns = ['id', 'name', 'role', 'password_hash', 'failed_sign_ins', 'locked_until', 'disabled_at'] as const

function toOperator (r: { id: unknown, name: string, role: string, password_hash: string, failed_sign_ins: unknown, locked_until: unknown, disabled_at: unknown }): Operator {
  return {
    id: toInt(r.id as number),
    name: r.name,
    role: r.role as Role,
    passwordHash: r.password_hash,
    failedSignIns: toInt(r.failed_sign_ins as number),
    lockedUntil: toInt(r.locked_until as number),
    disabledAt: toIntOrNull(r.disabled_at as number | null),
  }
}

export async function findOperatorByName (db: Executor, name: string): Promise<Operator | undefined> {
  const row = await db.selectFrom('operators').select(operatorColumns).where('name', '=', name).executeTakeFirst()
  return row && toOperator(row)
}

export async function findOperatorById (db: Executor, id: number): Promise<Operator | undefined> {
  const row = await db.selectFrom('operators').select(operatorColumns).where('id', '=', id).executeTakeFirst()
  return row && toOperator(row)
}

export async function listOperators (db: Executor) {
  const rows = await db.selectFrom('operators').select([...operatorColumns, 'created_at']).orderBy('name').execute()
  return rows.map((r) => ({ ...toOperator(r), createdAt: toInt(r.created_at) }))
}

export async function insertOperator (db: Executor, o: { name: string, role: Role, passwordHash: string, now: number }) {
  await db.insertInto('operators').values({
    name: o.name, role: o.role, password_hash: o.passwordHash, failed_sign_ins: 0, locked_until: 0, created_at: o.now, updated_at: o.now, disabled_at: null,
  }).execute()
}

export async function updatePassword (db: Executor, id: number, passwordHash: string, now: number) {
  await db.updateTable('operators').set({ password_hash: passwordHash, failed_sign_ins: 0, locked_until: 0, updated_at: now }).where('id', '=', id).execute()
}

/** Counts a failed sign-in; from `maxFailures` on, the account refuses sign-in until `lockUntil`. */
export async function recordFailedSignIn (db: Executor, id: number, maxFailures: number, lockUntil: number) {
  await db.updateTable('operators')
    .set((eb) => ({
      failed_sign_ins: eb('failed_sign_ins', '+', 1),
      locked_until: eb.case().when('failed_sign_ins', '>=', maxFailures - 1).then(lockUntil).else(eb.ref('locked_until')).end(),
    }))
    .where('id', '=', id).execute()
}

export async function resetFailedSignIns (db: Executor, id: number) {
  await db.updateTable('operators').set({ failed_sign_ins: 0, locked_until: 0 }).where('id', '=', id).execute()
}

export async function insertSession (db: Executor, s: { id: string, operatorId: number, csrfToken: string, sourceIp: string, now: number, expiresAt: number }) {
  await db.insertInto('operator_sessions').values({
    id: s.id, operator_id: s.operatorId, csrf_token: s.csrfToken, source_ip: s.sourceIp.slice(0, 64), created_at: s.now, expires_at: s.expiresAt,
  }).execute()
}

/** The live session's operator (not disabled) and its CSRF token. */
export async function findSession (db: Executor, id: string, now: number) {
  const row = await db.selectFrom('operator_sessions as s')
    .innerJoin('operators as o', 'o.id', 's.operator_id')
    .select(['s.csrf_token', 's.expires_at', 'o.id', 'o.name', 'o.role'])
    .where('s.id', '=', id).where('s.expires_at', '>', now).where('o.disabled_at', 'is', null)
    .executeTakeFirst()
  return row && { operatorId: toInt(row.id), name: row.name, role: row.role, csrfToken: row.csrf_token }
}

export async function deleteSession (db: Executor, id: string) {
  await db.deleteFrom('operator_sessions').where('id', '=', id).execute()
}

/** Ends the operator's sessions (a new password, a disabled account) and expired ones of anybody. */
export async function deleteSessions (db: Executor, operatorId: number, now: number) {
  await db.deleteFrom('operator_sessions').where((eb) => eb.or([eb('operator_id', '=', operatorId), eb('expires_at', '<=', now)])).execute()
}

export async function insertToken (db: Executor, t: { operatorId: number, label: string, tokenHash: string, now: number }): Promise<number> {
  await db.insertInto('operator_tokens').values({
    operator_id: t.operatorId, label: t.label, token_hash: t.tokenHash, created_at: t.now, last_used_at: null, revoked_at: null,
  }).execute()
  const row = await db.selectFrom('operator_tokens').select('id').where('token_hash', '=', t.tokenHash).executeTakeFirstOrThrow()
  return toInt(row.id)
}

/** The operator of a token that is not revoked (and whose operator is not disabled). */
export async function findTokenOperator (db: Executor, tokenHash: string) {
  const row = await db.selectFrom('operator_tokens as t')
    .innerJoin('operators as o', 'o.id', 't.operator_id')
    .select(['t.id as token_id', 'o.id', 'o.name', 'o.role'])
    .where('t.token_hash', '=', tokenHash).where('t.revoked_at', 'is', null).where('o.disabled_at', 'is', null)
    .executeTakeFirst()
  return row && { tokenId: toInt(row.token_id), operatorId: toInt(row.id), name: row.name, role: row.role }
}

export async function touchToken (db: Executor, id: number, now: number) {
  await db.updateTable('operator_tokens').set({ last_used_at: now }).where('id', '=', id).execute()
}

export async function listTokens (db: Executor, operatorName?: string): Promise<TokenRow[]> {
  let q = db.selectFrom('operator_tokens as t').innerJoin('operators as o', 'o.id', 't.operator_id')
    .select(['t.id', 't.operator_id', 'o.name', 't.label', 't.created_at', 't.last_used_at', 't.revoked_at'])
  if (operatorName !== undefined) q = q.where('o.name', '=', operatorName)
  const rows = await q.orderBy('t.id').execute()
  return rows.map((r) => ({
    id: toInt(r.id),
    operatorId: toInt(r.operator_id),
    operatorName: r.name,
    label: r.label,
    createdAt: toInt(r.created_at),
    lastUsedAt: toIntOrNull(r.last_used_at),
    revokedAt: toIntOrNull(r.revoked_at),
  }))
}

/** Revokes a token; false when there is no such token or it was revoked already. */
export async function revokeToken (db: Executor, id: number, now: number): Promise<boolean> {
  const result = await db.updateTable('operator_tokens').set({ revoked_at: now }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}
