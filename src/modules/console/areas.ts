import type { FastifyInstance } from 'fastify'
import { anomaliesRoutes } from './anomalies/anomalies.routes.ts'
import { authRoutes } from './auth/auth.routes.ts'
import type { ConsoleDeps } from './console.plugin.ts'
import { dashboardRoutes } from './dashboard/dashboard.routes.ts'
import { goodsAdminRoutes } from './goods/goods-admin.routes.ts'
import { ordersRoutes } from './orders/orders.routes.ts'
import { reconciliationRoutes } from './reconciliation/reconciliation.routes.ts'
import { sandboxRoutes } from './sandbox/sandbox.routes.ts'

/** The console's areas, each with its pages under /console and its JSON under /api/admin. */
export const consoleAreas: Array<(scope: FastifyInstance, deps: ConsoleDeps) => Promise<void>> = [
  authRoutes,
  dashboardRoutes,
  ordersRoutes,
  anomaliesRoutes,
  goodsAdminRoutes,
  reconciliationRoutes,
  sandboxRoutes,
]
