import type { FastifyBaseLogger } from 'fastify'
import { ConfigError, type Config } from './config.ts'
import { connect, type Store } from './db/connect.ts'
import { migrateToLatest } from './db/migrate.ts'
import { createMetrics, type Metrics } from './metrics.ts'
import { createCatalogCache, type CatalogCache } from './modules/goods/catalog-cache.ts'
import { DEMO_CATALOG, importCatalog, readCatalogFile } from './modules/goods/goods.service.ts'
import { createRetention } from './modules/maintenance/retention.ts'
import { startDeliveryLoop, type DeliveryLoop } from './modules/notifications/delivery-loop.ts'
import { createNotificationService, type NotificationService } from './modules/notifications/notifications.service.ts'
import { startOrderNumbers, type OrderNumbers } from './modules/orders/order-numbers.ts'
import { createOrderService, type OrderService } from './modules/orders/orders.service.ts'
import { createCallbackService, type CallbackService } from './modules/payments/callback.service.ts'

export interface AppContext {
  config: Config
  store: Store
  ids: OrderNumbers
  clock: () => number
  /** GET /api/pay/goods reads through it; never used to charge. */
  catalog: CatalogCache
  orders: OrderService
  callbacks: CallbackService
  metrics: Metrics
  notifications: NotificationService
  close: () => Promise<void>
}

export interface ContextOptions {
  clock?: () => number
  /** Run the background sweep, order expiry and the retention purge (off in tests, which call them themselves). */
  sweepMs?: number
  /** Most rows the sweep purges per table and run (default 500). */
  purgeBatchSize?: number
  /**
   * Run the notification delivery loop, looking for due events this often (and right after a
   * payment here). Off in tests, which call ctx.notifications.deliverDue() themselves.
   */
  deliverMs?: number
  log?: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>
  /** The goods lookup's cache: the version check's interval, and LISTEN on PostgreSQL or not. */
  catalog?: { checkMs?: number, listen?: boolean, heartbeatMs?: number }
}

/** The GOODS_SEED catalog; a file that cannot be read or parsed stops the start naming the variable. */
function readGoodsSeed (file: string) {
  try {
    return readCatalogFile(file)
  } catch (err) {
    throw new ConfigError('GOODS_SEED', (err as Error).message)
  }
}

/** Everything the routes, the CLI and the background jobs share: database, ids, services. */
export async function createContext (config: Config, opts: ContextOptions = {}): Promise<AppContext> {
  const clock = opts.clock ?? Date.now
  const store = connect(config.databaseUrl, { poolSize: config.dbPoolSize, statementTimeoutMs: config.dbStatementTimeoutMs })
  let ids: OrderNumbers | undefined
  let catalog: CatalogCache | undefined
  try {
    await migrateToLatest(store)
    // Before the seed, so that the seed's changes reach the other instances over Redis too.
    catalog = await createCatalogCache({ store, databaseUrl: config.databaseUrl, redisUrl: config.redisUrl, ...opts.catalog })
    if (config.goodsSeed) await importCatalog(store, readGoodsSeed(config.goodsSeed), clock())
    else if (!config.production) await importCatalog(store, DEMO_CATALOG, clock(), false)
    // Order numbers and worker-id leases follow the real clock, whatever clock the orders' times use.
    ids = await startOrderNumbers(store, { prefix: config.orderPrefix, fixedWorkerId: config.workerId, leaseTtlMs: config.workerLeaseTtlMs })
  } catch (err) {
    await catalog?.close()
    await store.close()
    throw err
  }

  const metrics = createMetrics()
  const notifications = createNotificationService({
    store,
    clock,
    notify: config.notify,
    statementTimeoutMs: config.dbStatementTimeoutMs,
    metrics,
    log: opts.log,
  })
  let delivery: DeliveryLoop | undefined
  const orders = createOrderService({ store, ids, clock, orderTtlSeconds: config.orderTtlSeconds, metrics })
  const callbacks = createCallbackService({
    store,
    clock,
    secret: config.callbackSecret,
    signTypes: config.callbackSignTypes,
    rsaPublicKey: config.callbackRsaPublicKey,
    successResults: config.callbackSuccessResults,
    maxAgeSeconds: config.callbackMaxAgeSeconds,
    metrics,
    outbox: { recordPaid: notifications.recordPaid, wake: () => delivery?.wake(), makesEvents: config.notify !== null },
  })

  const retention = createRetention({
    store, clock, rejectedCallbackDays: config.callbackRejectRetentionDays, batchSize: opts.purgeBatchSize,
  })
  let sweep: NodeJS.Timeout | undefined
  if (opts.sweepMs) {
    let purging = false
    sweep = setInterval(() => {
      orders.expireDueOrders().catch((err) => opts.log?.warn({ err: (err as Error).message }, 'expiry sweep failed'))
      // One batch per run, never two at once: a backlog drains over the next runs.
      if (purging) return
      purging = true
      retention.purgeExpired()
        .catch((err) => opts.log?.warn({ err: (err as Error).message }, 'retention purge failed'))
        .finally(() => { purging = false })
    }, opts.sweepMs)
    sweep.unref()
  }

  if (opts.deliverMs && config.notify) {
    if (config.notify.secretIsDevDefault) {
      opts.log?.warn('NOTIFY_SECRET is not set: notifications are signed with the development secret, ' +
        'allowed only on loopback outside production')
    }
    const { concurrency } = config.notify
    delivery = startDeliveryLoop({ service: notifications, concurrency, pollMs: opts.deliverMs, log: opts.log })
  }

  const heldIds = ids
  const heldCatalog = catalog
  return {
    config,
    store,
    ids: heldIds,
    clock,
    catalog: heldCatalog,
    orders,
    callbacks,
    metrics,
    notifications,
    async close () {
      clearInterval(sweep)
      // In-flight deliveries are interrupted and recorded before the database goes.
      await delivery?.close()
      await heldIds.close()
      await heldCatalog.close()
      await store.close()
    },
  }
}
