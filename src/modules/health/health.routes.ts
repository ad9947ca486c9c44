import { sql } from 'kysely'
import { Type } from 'typebox'
import type { FastifyInstance } from 'fastify'
import { AppError } from '../../errors.ts'
import { ok } from '../../plugins/envelope.ts'
import type { AppContext } from '../../context.ts'
import { responses } from '../envelope.schemas.ts'

const ReadyData = Type.Object({
  database: Type.Boolean(),
  migrations: Type.Boolean({ description: 'applied before the instance started serving' }),
  worker_id: Type.Integer(),
})

export async function healthRoutes (app: FastifyInstance, { ctx }: { ctx: AppContext }) {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'The process is alive', response: responses() } }, async (req) => ok(req))

  app.get('/readyz', {
    // Cheap enough to probe every second: migrations ran before the instance started serving, so
    // only the database's answer and the worker-id lease can change.
    schema: { tags: ['health'], summary: 'Database reachable, migrations applied, worker id held', response: responses(ReadyData) },
  }, async (req) => {
    await sql`select 1`.execute(ctx.store.db)
    if (!ctx.ids.healthy()) throw new AppError('SERVICE_UNAVAILABLE', 'worker id lease not held')
    return ok(req, { database: true, migrations: true, worker_id: ctx.ids.workerId() })
  })
}
