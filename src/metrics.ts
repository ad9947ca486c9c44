import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client'

/**
 * The service's Prometheus series, one registry per app (tests build several apps in one
 * process). Counters count what this instance did.
 */
export function createMetrics () {
  const registry = new Registry()
  // CPU, memory, handles, GC and event-loop delay of this process.
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  return {
    registry,
    ordersCreated: new Counter({ name: 'gamepay_orders_created_total', help: 'Orders created (a reused open order is not counted)', registers }),
    ordersPaid: new Counter({ name: 'gamepay_orders_paid_total', help: 'Orders that became paid (late payments included)', registers }),
    callbacks: new Counter({ name: 'gamepay_callbacks_total', help: 'Payment callbacks by the outcome the callback log records', labelNames: ['outcome'] as const, registers }),
    notifications: new Counter({ name: 'gamepay_notifications_total', help: 'Notification deliveries: delivered, retry (to be tried again) or failed (schedule ended)', labelNames: ['result'] as const, registers }),
    httpDuration: new Histogram({
      name: 'gamepay_http_request_duration_seconds',
      help: 'Request duration by route pattern and HTTP status',
      labelNames: ['route', 'status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
  }
}

export type Metrics = ReturnType<typeof createMetrics>
