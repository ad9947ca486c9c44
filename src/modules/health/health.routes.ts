import { sql } from 'kysely'
import { Type } from 'typebox'
import type { FastifyInstance } from 'fastify'
import { pendingMigrations } from '../../db/migrate.ts'
import { AppError } from '../../errors.ts'
import { ok } from '../../plugins/envelope.ts'
import type { AppContext } from '../../context.ts'
import { responses } from '../envelope.schemas.ts'

const ReadyData = Type.Object({ database: Type.Boolean(), migrations: Type.Boolean(), worker_id: Type.Integer() })

export async function healthRoutes (app: FastifyInstance, { ctx }: { ctx: AppContext }) {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'The process is alive', response: responses() } }, async (req) => ok(req))

  app.get('/readyz', {
    schema: { tags: ['health'], summary: 'Database reachable, migrations current, worker id held', response: responses(ReadyData) },
  }, async (req) => {
    await sql`select 1`.execute(ctx.store.db)
    if ((await pendingMigrations(ctx.store)).length > 0) throw new AppError('SERVICE_UNAVAILABLE', 'migrations pending')
    if (!ctx.ids.healthy()) throw new AppError('SERVICE_UNAVAILABLE', 'worker id lease not held')
    return ok(req, { database: true, migrations: true, worker_id: ctx.ids.workerId() })
  })
}
