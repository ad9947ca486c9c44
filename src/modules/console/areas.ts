import type { FastifyInstance } from 'fastify'
import { authRoutes } from './auth/auth.routes.ts'
import type { ConsoleDeps } from './console.plugin.ts'

/** The console's areas, each with its pages under /console and its JSON under /api/admin. */
export const consoleAreas: Array<(scope: FastifyInstance, deps: ConsoleDeps) => Promise<void>> = [
  authRoutes,
]
