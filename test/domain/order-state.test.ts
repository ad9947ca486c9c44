import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { effectiveStatus, transition } from '../../src/domain/order-state.ts'
import type { OrderEvent, OrderStatus } from '../../src/domain/order-state.ts'

const STATUSES: OrderStatus[] = ['unpaid', 'cancelled', 'expired', 'paid']
const EVENTS: OrderEvent[] = ['cancel', 'expire', 'pay']

describe('transition', () => {
  it('follows the table of §6', () => {
    assert.deepEqual(transition('unpaid', 'cancel'), { to: 'cancelled', late: false })
    assert.deepEqual(transition('unpaid', 'expire'), { to: 'expired', late: false })
    assert.deepEqual(transition('unpaid', 'pay'), { to: 'paid', late: false })
    assert.deepEqual(transition('cancelled', 'pay'), { to: 'paid', late: true })
    assert.deepEqual(transition('expired', 'pay'), { to: 'paid', late: true })
  })

  it('has no other transitions', () => {
    const allowed = new Set(['unpaid/cancel', 'unpaid/expire', 'unpaid/pay', 'cancelled/pay', 'expired/pay'])
    for (const from of STATUSES) {
      for (const event of EVENTS) {
        if (!allowed.has(`${from}/${event}`)) assert.equal(transition(from, event), null, `${from}/${event}`)
      }
    }
    assert.equal(transition('toString' as OrderStatus, 'pay'), null)
    assert.equal(transition('unpaid', 'constructor' as OrderEvent), null)
  })

  it('hands out copies, so callers cannot corrupt the table', () => {
    const edge = transition('unpaid', 'pay')
    assert.ok(edge)
    edge.to = 'cancelled'
    assert.deepEqual(transition('unpaid', 'pay'), { to: 'paid', late: false })
  })
})

describe('effectiveStatus', () => {
  it('expires an unpaid order from the moment expireAt passes', () => {
    assert.equal(effectiveStatus('unpaid', 1000, 999), 'unpaid')
    assert.equal(effectiveStatus('unpaid', 1000, 1000), 'expired')
    assert.equal(effectiveStatus('unpaid', 1000, 1001), 'expired')
  })

  it('leaves every other status alone', () => {
    fc.assert(fc.property(fc.constantFrom<OrderStatus>('cancelled', 'expired', 'paid'), fc.integer(), fc.integer(), (status, expireAt, now) =>
      effectiveStatus(status, expireAt, now) === status
    ))
  })
})

// A model of the service: the stored status, plus what the public API does with it.
interface ModelOrder { stored: OrderStatus, expireAt: number, paidTransitions: number, history: OrderStatus[] }

type Command =
  | { kind: 'create', ttl: number }
  | { kind: 'cancel' | 'pay' | 'expire', order: number }
  | { kind: 'advance', ms: number }

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), ttl: fc.integer({ min: 0, max: 50 }) }),
  fc.record({ kind: fc.constantFrom('cancel' as const, 'pay' as const, 'expire' as const), order: fc.nat({ max: 9 }) }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.nat({ max: 30 }) })
)

describe('order life cycle', () => {
  it('holds its invariants over random sequences of commands', () => {
    fc.assert(fc.property(fc.array(commandArb, { maxLength: 80 }), (commands) => {
      let now = 0
      const orders: ModelOrder[] = []
      for (const command of commands) {
        if (command.kind === 'advance') {
          now += command.ms
        } else if (command.kind === 'create') {
          orders.push({ stored: 'unpaid', expireAt: now + command.ttl, paidTransitions: 0, history: ['unpaid'] })
        } else if (orders.length > 0) {
          const order = orders[command.order % orders.length]
          // Callers decide on the effective status: an unpaid order past its expiry is expired.
          const from = effectiveStatus(order.stored, order.expireAt, now)
          const edge = transition(from, command.kind)

          if (command.kind === 'pay') {
            if (from === 'paid') {
              assert.equal(edge, null, 'paid is final')
            } else {
              assert.ok(edge, `a payment lands from ${from}`)
              assert.equal(edge.to, 'paid')
              assert.equal(edge.late, from === 'cancelled' || from === 'expired')
            }
          }
          if (command.kind === 'cancel' && from !== 'unpaid') assert.equal(edge, null)
          if (command.kind === 'expire') {
            assert.equal(edge === null, from !== 'unpaid')
          }

          if (edge !== null) {
            assert.notEqual(order.stored, 'paid', 'nothing leaves paid')
            if (edge.to === 'paid') order.paidTransitions++
            order.stored = edge.to
            order.history.push(edge.to)
          }
        }

        for (const order of orders) {
          assert.ok(order.paidTransitions <= 1, 'at most one transition to paid')
          const firstPaid = order.history.indexOf('paid')
          if (firstPaid !== -1) assert.ok(order.history.slice(firstPaid).every((status) => status === 'paid'), 'paid stays paid')
          assert.equal(order.paidTransitions, firstPaid === -1 ? 0 : 1)
          if (order.stored === 'paid') assert.equal(effectiveStatus(order.stored, order.expireAt, now), 'paid')
        }
      }
    }), { numRuns: 1000 })
  })

  it('ends paid after a pay from any non-paid status, whatever came before', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom<OrderEvent>('cancel', 'expire'), { maxLength: 5 }), (events) => {
      let status: OrderStatus = 'unpaid'
      for (const event of events) status = transition(status, event)?.to ?? status
      const paid = transition(status, 'pay')
      assert.ok(paid)
      assert.equal(paid.to, 'paid')
      assert.equal(paid.late, status !== 'unpaid')
      for (const event of EVENTS) assert.equal(transition(paid.to, event), null)
    }))
  })
})
