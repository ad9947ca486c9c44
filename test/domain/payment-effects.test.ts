// decideCallback against the callback effects table, row by row and as properties over
// arbitrary facts: the rows are read top to bottom and the first that matches decides.
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { ANOMALIES, decideCallback, type CallbackFacts, type CallbackOutcome } from '../../src/domain/payment-effects.ts'
import type { OrderStatus } from '../../src/domain/order-state.ts'

const STATUSES: OrderStatus[] = ['unpaid', 'cancelled', 'expired', 'paid']
const ORDER_NO = '811-1'
const NOW = 1_750_000_000_000

function facts (overrides: Partial<CallbackFacts> & { status?: OrderStatus, expireAt?: number } = {}): CallbackFacts {
  const { status = 'unpaid', expireAt = NOW + 60_000, ...rest } = overrides
  return {
    order: { orderNo: ORDER_NO, status, expireAt, amountFen: 3000 },
    paymentOrderNo: undefined,
    amountFen: 3000,
    success: true,
    now: NOW,
    ...rest,
  }
}

// Facts of every kind, with the interesting coincidences (same order, same amount, expiry at now) made likely.
const factsArb: fc.Arbitrary<CallbackFacts> = fc.record({
  hasOrder: fc.boolean(),
  status: fc.constantFrom(...STATUSES),
  expireOffset: fc.oneof(fc.constant(0), fc.integer({ min: -10_000_000, max: 10_000_000 })),
  orderAmount: fc.integer({ min: 1, max: 1_000_000_000 }),
  amountDelta: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -1000, max: 1000 })),
  payment: fc.constantFrom('none', 'same', 'other'),
  success: fc.boolean(),
  now: fc.integer({ min: 0, max: 4_102_444_800_000 }),
}).map((r) => ({
  order: r.hasOrder ? { orderNo: ORDER_NO, status: r.status, expireAt: r.now + r.expireOffset, amountFen: r.orderAmount } : undefined,
  paymentOrderNo: r.payment === 'none' ? undefined : r.payment === 'same' ? ORDER_NO : '811-2',
  amountFen: r.orderAmount + r.amountDelta,
  success: r.success,
  now: r.now,
}))

/** The table, written out again from the contract's wording. */
function table (f: CallbackFacts): CallbackOutcome {
  const o = f.order
  if (o === undefined) return 'order_not_found'
  const samePlatformOrder = f.paymentOrderNo === o.orderNo
  if (f.paymentOrderNo !== undefined && !samePlatformOrder) return 'gyyx_conflict'
  if (f.amountFen !== o.amountFen) return 'amount_mismatch'
  if (!f.success) return 'payment_failed'
  if (samePlatformOrder) return 'already_applied'
  const expired = o.status === 'expired' || (o.status === 'unpaid' && o.expireAt <= f.now)
  if (o.status === 'unpaid' && !expired) return 'paid'
  if (o.status === 'paid') return 'duplicate_payment'
  return 'late_paid'
}

describe('decideCallback, row by row', () => {
  test('when the order is unknown, then order_not_found, whatever else holds', () => {
    assert.equal(decideCallback(facts({ order: undefined })), 'order_not_found')
    assert.equal(decideCallback(facts({ order: undefined, paymentOrderNo: '811-2', success: false })), 'order_not_found')
  })

  test('when the platform order already paid another order, then gyyx_conflict before amount and result', () => {
    for (const status of STATUSES) {
      assert.equal(decideCallback(facts({ status, paymentOrderNo: '811-2' })), 'gyyx_conflict')
      assert.equal(decideCallback(facts({ status, paymentOrderNo: '811-2', amountFen: 1, success: false })), 'gyyx_conflict')
    }
  })

  test('when the amount differs, then amount_mismatch before the result', () => {
    for (const status of STATUSES) {
      assert.equal(decideCallback(facts({ status, amountFen: 3001 })), 'amount_mismatch')
      assert.equal(decideCallback(facts({ status, amountFen: 2999, success: false })), 'amount_mismatch')
      assert.equal(decideCallback(facts({ status, amountFen: 3001, paymentOrderNo: ORDER_NO })), 'amount_mismatch')
    }
  })

  test('when the result is not a success, then payment_failed, for any status', () => {
    for (const status of STATUSES) {
      assert.equal(decideCallback(facts({ status, success: false })), 'payment_failed')
      assert.equal(decideCallback(facts({ status, success: false, paymentOrderNo: ORDER_NO })), 'payment_failed')
    }
  })

  test('when an unpaid order gets a success, then paid', () => {
    assert.equal(decideCallback(facts()), 'paid')
    assert.equal(decideCallback(facts({ expireAt: NOW + 1 })), 'paid')
  })

  test('when the same platform order arrives again, then already_applied, whatever the status now', () => {
    for (const status of STATUSES) assert.equal(decideCallback(facts({ status, paymentOrderNo: ORDER_NO })), 'already_applied')
  })

  test('when a paid order gets a success under a new platform order, then duplicate_payment', () => {
    assert.equal(decideCallback(facts({ status: 'paid', expireAt: NOW - 1 })), 'duplicate_payment')
  })

  test('when a cancelled or expired order gets a success, then late_paid', () => {
    assert.equal(decideCallback(facts({ status: 'cancelled' })), 'late_paid')
    assert.equal(decideCallback(facts({ status: 'expired' })), 'late_paid')
  })

  test('when an unpaid order reaches its expiry, then a success from that moment on is late', () => {
    assert.equal(decideCallback(facts({ expireAt: NOW })), 'late_paid')
    assert.equal(decideCallback(facts({ expireAt: NOW - 1 })), 'late_paid')
  })

  test('when the outcome is an anomaly, then operators see it flagged', () => {
    assert.deepEqual([...ANOMALIES].sort(), ['amount_mismatch', 'duplicate_payment', 'gyyx_conflict', 'late_paid'])
  })
})

describe('decideCallback, as properties', () => {
  test('when any facts are given, then the outcome is the first matching row of the table', () => {
    fc.assert(fc.property(factsArb, (f) => decideCallback(f) === table(f)), { numRuns: 2000 })
  })

  test('when the order is paid or the platform order already recorded, then the order never moves to paid again', () => {
    fc.assert(fc.property(factsArb, (f) => {
      const outcome = decideCallback(f)
      const movesToPaid = outcome === 'paid' || outcome === 'late_paid'
      if (f.order?.status === 'paid' || f.paymentOrderNo !== undefined) return !movesToPaid
      return true
    }), { numRuns: 1000 })
  })

  test('when a callback moves an order to paid, then it was a success for the exact amount under an unused platform order', () => {
    fc.assert(fc.property(factsArb, (f) => {
      const outcome = decideCallback(f)
      if (outcome !== 'paid' && outcome !== 'late_paid' && outcome !== 'duplicate_payment') return true
      return f.success && f.order !== undefined && f.amountFen === f.order.amountFen && f.paymentOrderNo === undefined
    }), { numRuns: 1000 })
  })

  test('when the same facts are decided twice, then the answer is the same and the facts are untouched', () => {
    fc.assert(fc.property(factsArb, (f) => {
      const copy = structuredClone(f)
      const first = decideCallback(f)
      assert.deepEqual(f, copy)
      return decideCallback(f) === first
    }), { numRuns: 500 })
  })

  test('when a success is applied, then the same callback decided again is already_applied', () => {
    // Replays the service: after paid/late_paid/duplicate_payment the payment row exists for this order.
    fc.assert(fc.property(factsArb, (f) => {
      const outcome = decideCallback(f)
      if (f.order === undefined || !['paid', 'late_paid', 'duplicate_payment'].includes(outcome)) return true
      const after: CallbackFacts = {
        ...f,
        order: { ...f.order, status: outcome === 'duplicate_payment' ? f.order.status : 'paid' },
        paymentOrderNo: f.order.orderNo,
      }
      return decideCallback(after) === 'already_applied'
    }), { numRuns: 1000 })
  })
})
