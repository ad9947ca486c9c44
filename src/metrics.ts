import { collectDefaultMetrics, Counter, Gauge, Registry, type Aggregator } from 'prom-client'
import { clusterMetricsReader } from './cluster-metrics.ts'
import type { PoolStats } from './db/drivers/options.ts'
import { RouteHistogram } from './route-histogram.ts'

/** What the scrape-time gauges read from the database; see plugins/metrics.ts. */
export interface DatabaseProbe {
  poolStats: () => PoolStats
  /** Resolves once the database answered a trivial query. */
  ping: () => Promise<void>
  /** Pending notification events already due, and the age of the oldest pending one (0 when none). */
  outbox: () => Promise<{ due: number, oldestAgeSeconds: number }>
}

/** Longest a scrape waits for one database query: Prometheus gives up on the whole scrape after 10 s. */
const SCRAPE_QUERY_TIMEOUT_MS = 2000

interface Snapshot { up: boolean, outbox: { due: number, oldestAgeSeconds: number } | null }

function withTimeout<T> (promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

async function snapshot (probe: DatabaseProbe): Promise<Snapshot> {
  const up = await withTimeout(probe.ping(), SCRAPE_QUERY_TIMEOUT_MS).then(() => true, () => false)
  // A failed outbox query (the database went away meanwhile, or a schema without the table) leaves
  // the outbox series out of this scrape rather than reporting a made-up zero.
  const outbox = up ? await withTimeout(probe.outbox(), SCRAPE_QUERY_TIMEOUT_MS).catch(() => null) : null
  return { up, outbox }
}

/**
 * The service's Prometheus series, one registry per app (tests build several apps in one
 * process). Counters count what this instance did; the database gauges are read at scrape time,
 * once watchDatabase() has given them a probe.
 */
export function createMetrics () {
  const registry = new Registry()
  // CPU, memory, handles, GC and event-loop delay of this process (lag, and the min/max/mean/
  // p50/p90/p99 of perf_hooks.monitorEventLoopDelay).
  collectDefaultMetrics({ register: registry })
  const registers = [registry]

  let probe: DatabaseProbe | null = null
  // The gauges of one scrape share one round of queries: prom-client calls every collect() at once.
  let current: Promise<Snapshot> | null = null
  const read = (p: DatabaseProbe) => (current ??= snapshot(p).finally(() => { current = null }))

  /** A gauge read at scrape time; a null reading leaves it out of the scrape rather than a made-up 0. */
  // `aggregator`: how the gauges of several workers (WORKERS > 1) make one figure; sum by default.
  const scrapeGauge = (name: string, help: string, reading: (p: DatabaseProbe) => number | null | Promise<number | null>,
    aggregator: Aggregator = 'sum') => {
    const gauge = new Gauge({
      name,
      help,
      registers,
      aggregator,
      async collect () {
        const value = probe ? await reading(probe) : null
        if (value === null) this.remove()
        else this.set(value)
      },
    })
    // Until its first reading; a label-less gauge would otherwise read 0.
    gauge.remove()
  }
  registry.registerMetric(new Gauge({
    name: 'gamepay_db_pool_connections',
    help: 'Database connections of this instance\'s pool: in_use (checked out) or idle (open and free)',
    labelNames: ['state'] as const,
    registers: [],
    collect () {
      if (!probe) return
      const stats = probe.poolStats()
      this.set({ state: 'in_use' }, stats.inUse)
      this.set({ state: 'idle' }, stats.idle)
    },
  }))
  scrapeGauge('gamepay_db_pool_waiting', 'Queries waiting for a free database connection', (p) => p.poolStats().waiting)
  scrapeGauge('gamepay_db_pool_max', 'Connections the pool may open (DB_POOL_SIZE; 1 on SQLite)',
    (p) => p.poolStats().max)
  scrapeGauge('gamepay_db_up', '1 when the database answered this scrape\'s query, else 0',
    async (p) => (await read(p)).up ? 1 : 0, 'min')
  scrapeGauge('gamepay_outbox_due_events', 'Pending notification events whose next attempt is due (absent when the query failed)',
    async (p) => (await read(p)).outbox?.due ?? null, 'max')
  scrapeGauge('gamepay_outbox_oldest_age_seconds',
    'Age of the oldest pending notification event, 0 when none (absent when the query failed)',
    async (p) => (await read(p)).outbox?.oldestAgeSeconds ?? null, 'max')

  const clusterRead = clusterMetricsReader(registry)

  const metrics = {
    registry,
    /** The scrape's text: this process's series, or with WORKERS > 1 those of every worker, merged. */
    text: (): Promise<string> => clusterRead?.() ?? registry.metrics(),
    ordersCreated: new Counter({ name: 'gamepay_orders_created_total', help: 'Orders created (a reused open order is not counted)', registers }),
    ordersPaid: new Counter({ name: 'gamepay_orders_paid_total', help: 'Orders that became paid (late payments included)', registers }),
    callbacks: new Counter({ name: 'gamepay_callbacks_total', help: 'Payment callbacks by the outcome the callback log records', labelNames: ['outcome'] as const, registers }),
    notifications: new Counter({ name: 'gamepay_notifications_total', help: 'Notification deliveries: delivered, retry (to be tried again) or failed (schedule ended)', labelNames: ['result'] as const, registers }),
    httpDuration: new RouteHistogram(
      'gamepay_http_request_duration_seconds',
      'Request duration, from arrival until the answer is handed to the connection, by route pattern and HTTP status',
      [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]),
    /** From now on, scrapes read the pool and the outbox through this probe. */
    watchDatabase (p: DatabaseProbe) { probe = p },
  }
  // Series that alerts and dashboards name start at 0, so the first event after a start is a rise
  // that rate() and increase() see, not the first sample of a new series.
  for (const result of ['delivered', 'retry', 'failed']) metrics.notifications.inc({ result }, 0)
  for (const outcome of ['paid', 'SIGN_INVALID']) metrics.callbacks.inc({ outcome }, 0)
  registry.registerMetric(metrics.httpDuration.asMetric())
  return metrics
}

export type Metrics = ReturnType<typeof createMetrics>
