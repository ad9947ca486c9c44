import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { ClockMovedBackwardsError, OrderNumberGenerator, SNOWFLAKE_EPOCH_MS, parseOrderNumber } from '../../src/domain/order-number.ts'
import type { OrderNumberOptions } from '../../src/domain/order-number.ts'

const T0 = Date.UTC(2025, 5, 1, 12, 0, 0)

// A clock that moves only when told to, or when a sleep ends: a sleeper wakes at its own
// deadline, so many concurrent sleepers do not push time further than one of them would.
function fakeClock (start = T0) {
  const clock = {
    t: start,
    sleeps: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms)
      const deadline = clock.t + ms
      await Promise.resolve()
      clock.t = Math.max(clock.t, deadline)
    },
  }
  return clock
}

function generator (clock: ReturnType<typeof fakeClock>, opts: Partial<OrderNumberOptions> = {}) {
  return new OrderNumberGenerator({ workerId: 7, prefix: '811', now: clock.now, sleep: clock.sleep, ...opts })
}

function idOf (orderNo: string): bigint {
  const parsed = parseOrderNumber(orderNo, orderNo.slice(0, orderNo.indexOf('-')))
  assert.ok(parsed, `unparseable ${orderNo}`)
  return parsed.id
}

function assertStrictlyIncreasing (orderNos: string[]) {
  const ids = orderNos.map(idOf)
  for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `id ${i} (${ids[i]}) not above ${ids[i - 1]}`)
  assert.equal(new Set(orderNos).size, orderNos.length)
}

// Calls next() n times at once, collecting the numbers in the order they were handed out.
async function concurrently (gen: OrderNumberGenerator, n: number): Promise<string[]> {
  const out: string[] = []
  await Promise.all(Array.from({ length: n }, () => gen.next().then((orderNo) => { out.push(orderNo) })))
  return out
}

describe('OrderNumberGenerator', () => {
  it('formats PREFIX-ID with the layout of §4.1', async () => {
    const clock = fakeClock()
    const gen = generator(clock, { workerId: 1023, prefix: 'Ab9' })
    const first = await gen.next()
    assert.match(first, /^Ab9-[1-9]\d*$/)
    const expected = (BigInt(T0 - SNOWFLAKE_EPOCH_MS) << 22n) | (1023n << 12n)
    assert.equal(first, `Ab9-${expected}`)
    assert.deepEqual(parseOrderNumber(first, 'Ab9'), { id: expected, ms: T0, workerId: 1023, sequence: 0 })
    assert.deepEqual(parseOrderNumber(await gen.next(), 'Ab9'), { id: expected + 1n, ms: T0, workerId: 1023, sequence: 1 })
  })

  it('validates its options', () => {
    for (const workerId of [-1, 1024, 1.5, NaN]) {
      assert.throws(() => new OrderNumberGenerator({ workerId, prefix: '811' }), RangeError)
    }
    for (const prefix of ['', '8-1', '81 1', 'a'.repeat(17), '订单']) {
      assert.throws(() => new OrderNumberGenerator({ workerId: 0, prefix }), RangeError)
    }
    assert.throws(() => new OrderNumberGenerator({ workerId: 0, prefix: '811', maxWaitMs: -1 }), RangeError)
    assert.doesNotThrow(() => new OrderNumberGenerator({ workerId: 0, prefix: 'a'.repeat(16) }))
    assert.doesNotThrow(() => new OrderNumberGenerator({ workerId: 1023, prefix: '811' }))
  })

  it('never repeats and strictly increases over many ids on an advancing clock', async () => {
    const clock = fakeClock()
    const gen = generator(clock)
    const ids: string[] = []
    for (let i = 0; i < 20_000; i++) {
      if (i % 7 === 0) clock.t += i % 3
      ids.push(await gen.next())
    }
    assertStrictlyIncreasing(ids)
  })

  it('hands out 5000 ids within one ms by waiting for the next ms on overflow', async () => {
    const clock = fakeClock()
    const gen = generator(clock)
    const ids: string[] = []
    for (let i = 0; i < 5000; i++) ids.push(await gen.next())
    assertStrictlyIncreasing(ids)
    const parsed = ids.map((orderNo) => parseOrderNumber(orderNo, '811'))
    assert.equal(parsed[4095]?.ms, T0)
    assert.equal(parsed[4095]?.sequence, 4095)
    assert.equal(parsed[4096]?.ms, T0 + 1)
    assert.equal(parsed[4096]?.sequence, 0)
    assert.equal(clock.t, T0 + 1)
  })

  it('hands out 5000 ids requested at once without a collision', async () => {
    const clock = fakeClock()
    const ids = await concurrently(generator(clock), 5000)
    assert.equal(ids.length, 5000)
    assertStrictlyIncreasing(ids)
    assert.equal(clock.t, T0 + 1)
  })

  it('waits for a clock that stepped back a little, and does not repeat', async () => {
    const clock = fakeClock()
    const gen = generator(clock)
    const before = [await gen.next(), await gen.next()]
    clock.t -= 5
    const after = await gen.next()
    assert.deepEqual(clock.sleeps, [5])
    assertStrictlyIncreasing([...before, after])
    assert.equal(parseOrderNumber(after, '811')?.ms, T0)
  })

  it('waits the same way for many concurrent callers', async () => {
    const clock = fakeClock()
    const gen = generator(clock)
    const before = await concurrently(gen, 10)
    clock.t -= 50
    const after = await concurrently(gen, 300)
    assertStrictlyIncreasing([...before, ...after])
  })

  it('waits exactly maxWaitMs but throws beyond it, never repeating', async () => {
    const clock = fakeClock()
    const gen = generator(clock, { maxWaitMs: 100 })
    const first = await gen.next()
    clock.t -= 100
    const second = await gen.next()
    assert.deepEqual(clock.sleeps, [100])

    clock.t -= 101
    await assert.rejects(gen.next(), ClockMovedBackwardsError)
    await assert.rejects(gen.next(), (err: Error) => err instanceof ClockMovedBackwardsError && err.name === 'ClockMovedBackwardsError')
    assert.deepEqual(clock.sleeps, [100])

    clock.t += 101
    const third = await gen.next()
    assertStrictlyIncreasing([first, second, third])
  })

  it('throws rather than wait forever when sleep does not let the clock catch up', async () => {
    let sleeps = 0
    let reads = 0
    const gen = new OrderNumberGenerator({
      workerId: 1,
      prefix: '811',
      now: () => (reads++ === 0 ? T0 + 10 : T0),
      sleep: async () => { sleeps++ },
      maxWaitMs: 50,
    })
    await gen.next()
    await assert.rejects(gen.next(), ClockMovedBackwardsError)
    assert.ok(sleeps <= 6, `slept ${sleeps} times`)
  })

  it('uses a default 2000 ms limit', async () => {
    const clock = fakeClock()
    const gen = generator(clock)
    await gen.next()
    clock.t -= 2000
    await gen.next()
    clock.t -= 2001
    await assert.rejects(gen.next(), ClockMovedBackwardsError)
  })

  it('never uses a timestamp below floorMs', async () => {
    const clock = fakeClock()
    const floorMs = T0 + 30
    const gen = generator(clock, { floorMs })
    const first = parseOrderNumber(await gen.next(), '811')
    assert.deepEqual(clock.sleeps, [30])
    assert.equal(first?.ms, floorMs)

    const far = generator(fakeClock(), { floorMs: T0 + 5000 })
    await assert.rejects(far.next(), ClockMovedBackwardsError)

    const behind = fakeClock(T0 + 100)
    const past = generator(behind, { floorMs: T0 })
    assert.equal(parseOrderNumber(await past.next(), '811')?.ms, T0 + 100)
    assert.deepEqual(behind.sleeps, [])
  })

  it('never collides across generators with different worker ids', async () => {
    await fc.assert(fc.asyncProperty(
      fc.uniqueArray(fc.integer({ min: 0, max: 1023 }), { minLength: 2, maxLength: 4 }),
      fc.array(fc.tuple(fc.nat({ max: 3 }), fc.nat({ max: 2 }), fc.integer({ min: 1, max: 50 })), { minLength: 1, maxLength: 30 }),
      async (workerIds, steps) => {
        const clock = fakeClock()
        const gens = workerIds.map((workerId) => generator(clock, { workerId }))
        const perGenerator: string[][] = gens.map(() => [])
        for (const [which, advance, count] of steps) {
          clock.t += advance
          const index = which % gens.length
          perGenerator[index].push(...await concurrently(gens[index], count))
        }
        for (const ids of perGenerator) assertStrictlyIncreasing(ids)
        const all = perGenerator.flat()
        assert.equal(new Set(all).size, all.length)
        assert.equal(new Set(all.map(idOf)).size, all.length)
      }
    ), { numRuns: 100 })
  })

  it('keeps ids unique and increasing under random clock jumps', async () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant('forward' as const), ms: fc.nat({ max: 5 }) }),
      fc.record({ kind: fc.constant('back' as const), ms: fc.integer({ min: 1, max: 40 }) }),
      fc.record({ kind: fc.constant('next' as const), ms: fc.integer({ min: 1, max: 300 }) })
    )
    await fc.assert(fc.asyncProperty(fc.array(step, { maxLength: 40 }), async (steps) => {
      const maxWaitMs = 20
      const clock = fakeClock()
      const gen = generator(clock, { maxWaitMs })
      const ids: string[] = []
      let lastMs = -Infinity
      for (const { kind, ms } of steps) {
        if (kind === 'forward') clock.t += ms
        else if (kind === 'back') clock.t -= ms
        else {
          const behind = lastMs - clock.t
          if (behind > maxWaitMs) {
            await assert.rejects(concurrently(gen, ms), ClockMovedBackwardsError)
          } else {
            const batch = await concurrently(gen, ms)
            ids.push(...batch)
            lastMs = parseOrderNumber(batch[batch.length - 1], '811')?.ms ?? lastMs
          }
        }
      }
      assertStrictlyIncreasing(ids)
    }), { numRuns: 200 })
  })

  it('works with the real clock and sleep', async () => {
    const gen = new OrderNumberGenerator({ workerId: 3, prefix: '811' })
    const ids = await concurrently(gen, 10_000)
    assertStrictlyIncreasing(ids)
    const ms = parseOrderNumber(ids[0], '811')?.ms ?? 0
    assert.ok(Math.abs(ms - Date.now()) < 60_000)
  })
})

describe('parseOrderNumber', () => {
  it('round-trips every id', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 2 ** 41 - 1 }),
      fc.integer({ min: 0, max: 1023 }),
      fc.integer({ min: 0, max: 4095 }),
      fc.stringMatching(/^[A-Za-z0-9]{1,16}$/),
      (elapsed, workerId, sequence, prefix) => {
        const id = (BigInt(elapsed) << 22n) | (BigInt(workerId) << 12n) | BigInt(sequence)
        assert.deepEqual(parseOrderNumber(`${prefix}-${id}`, prefix), { id, ms: SNOWFLAKE_EPOCH_MS + elapsed, workerId, sequence })
      }
    ))
  })

  it('reads back what the generator wrote', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: SNOWFLAKE_EPOCH_MS, max: SNOWFLAKE_EPOCH_MS + 2 ** 41 - 1 }),
      fc.integer({ min: 0, max: 1023 }),
      fc.stringMatching(/^[A-Za-z0-9]{1,16}$/),
      fc.integer({ min: 1, max: 20 }),
      async (start, workerId, prefix, count) => {
        const clock = fakeClock(start)
        const gen = generator(clock, { workerId, prefix })
        for (let sequence = 0; sequence < count; sequence++) {
          const parsed = parseOrderNumber(await gen.next(), prefix)
          assert.ok(parsed)
          assert.deepEqual({ ms: parsed.ms, workerId: parsed.workerId, sequence: parsed.sequence }, { ms: start, workerId, sequence })
        }
      }
    ))
  })

  it('rejects anything malformed', () => {
    const bad = [
      '', '811', '811-', '-123', '812-123', '811123', '811-0123', '811-00', '811-12a', '811- 12', '811-12 ', '811--12',
      '811-+12', '811-1e5', '811-1.0', '811-9223372036854775808', '811-99999999999999999999', '811-١٢٣', ' 811-12', '8111-12',
    ]
    for (const value of bad) assert.equal(parseOrderNumber(value, '811'), null, JSON.stringify(value))
    assert.equal(parseOrderNumber('811-12', ''), null)
    assert.equal(parseOrderNumber(12 as unknown as string, '811'), null)
  })

  it('accepts the bounds', () => {
    assert.equal(parseOrderNumber('811-9223372036854775807', '811')?.id, 2n ** 63n - 1n)
    assert.equal(parseOrderNumber('811-0', '811')?.id, 0n)
    assert.equal(parseOrderNumber('811-107552442731859968', '811')?.id, 107552442731859968n)
  })
})
