// The order life cycle as one table, so the service, the SQL status guards and
// the tests all read the same rules.

export type OrderStatus = 'unpaid' | 'cancelled' | 'expired' | 'paid'
export type OrderEvent = 'cancel' | 'expire' | 'pay'

interface Edge { to: OrderStatus, late: boolean }

// Cancelling a cancelled or expired order is answered idempotently by the service, not a
// transition; a payment for a cancelled or expired order still lands (the user's money is
// never lost) but is late. Paid is final.
const TABLE: Readonly<Record<OrderStatus, Partial<Record<OrderEvent, Edge>>>> = {
  unpaid: {
    cancel: { to: 'cancelled', late: false },
    expire: { to: 'expired', late: false },
    pay: { to: 'paid', late: false },
  },
  cancelled: { pay: { to: 'paid', late: true } },
  expired: { pay: { to: 'paid', late: true } },
  paid: {},
}

/** The status as of nowMs: an unpaid order is expired from the moment expireAt passes. */
export function effectiveStatus (status: OrderStatus, expireAtMs: number, nowMs: number): OrderStatus {
  return status === 'unpaid' && expireAtMs <= nowMs ? 'expired' : status
}

export function transition (from: OrderStatus, event: OrderEvent): { to: OrderStatus, late: boolean } | null {
  if (!Object.hasOwn(TABLE, from)) return null
  const edges = TABLE[from]
  if (!Object.hasOwn(edges, event)) return null
  const edge = edges[event] as Edge
  return { to: edge.to, late: edge.late }
}
