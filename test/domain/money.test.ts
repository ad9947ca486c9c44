import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { MAX_FEN, fenToYuan, parseYuan } from '../../src/domain/money.ts'

const fenArb = fc.integer({ min: 1, max: MAX_FEN })

function twoDecimals (fen: number): string {
  const digits = String(fen).padStart(3, '0')
  return `${digits.slice(0, -2)}.${digits.slice(-2)}`
}

describe('parseYuan', () => {
  it('reads numbers through their decimal text', () => {
    assert.equal(parseYuan(120.88), 12088)
    assert.equal(parseYuan(1.5), 150)
    assert.equal(parseYuan(128), 12800)
    assert.equal(parseYuan(0.01), 1)
    assert.equal(parseYuan(99.99), 9999)
    assert.equal(parseYuan(10_000_000), MAX_FEN)
    assert.equal(parseYuan(0.1 + 0.2), null)
    assert.equal(parseYuan(0.30000000000000004), null)
    assert.equal(parseYuan(1.005), null)
    assert.equal(parseYuan(1e-7), null)
    assert.equal(parseYuan(0.001), null)
  })

  it('rejects non-positive, non-finite and out-of-range numbers', () => {
    for (const value of [0, -0, -1, -0.01, NaN, Infinity, -Infinity, 10_000_000.01, 1e21, Number.MAX_VALUE]) {
      assert.equal(parseYuan(value), null, String(value))
    }
  })

  it('rejects non-numbers, and strings unless allowed', () => {
    for (const value of [true, false, null, undefined, {}, [], [1], { valueOf: () => 1 }, 1n, Symbol('x'), () => 1]) {
      assert.equal(parseYuan(value), null)
      assert.equal(parseYuan(value, { allowString: true }), null)
    }
    assert.equal(parseYuan('120.88'), null)
    assert.equal(parseYuan('120.88', { allowString: false }), null)
  })

  it('reads plain decimal strings when allowed', () => {
    const ok: Array<[string, number]> = [
      ['120.88', 12088], ['30.00', 3000], ['1.500', 150], ['1.5', 150], ['128', 12800],
      ['007.5', 750], ['0.01', 1], ['10000000', MAX_FEN], ['10000000.000', MAX_FEN], ['000000000001', 100],
    ]
    for (const [text, fen] of ok) assert.equal(parseYuan(text, { allowString: true }), fen, text)
    const bad = [
      '', '1.', '.5', '1.505', '1.005', '0', '0.00', '000', '-1', '+1', '1e2', '1E2', ' 1', '1 ', '1,5',
      '0x10', 'Infinity', 'NaN', '10000000.01', '100000000', '1.2.3', '１２', '1_000', '\n1',
    ]
    for (const text of bad) assert.equal(parseYuan(text, { allowString: true }), null, JSON.stringify(text))
  })

  it('round-trips every fen amount through fenToYuan', () => {
    fc.assert(fc.property(fenArb, (fen) => parseYuan(fenToYuan(fen)) === fen), { numRuns: 2000 })
  })

  it('round-trips every fen amount through its two-decimal string', () => {
    fc.assert(fc.property(fenArb, fc.nat({ max: 3 }), fc.nat({ max: 3 }), (fen, leadingZeros, trailingZeros) => {
      const text = '0'.repeat(leadingZeros) + twoDecimals(fen) + '0'.repeat(trailingZeros)
      return parseYuan(twoDecimals(fen), { allowString: true }) === fen &&
        parseYuan(text, { allowString: true }) === fen
    }), { numRuns: 2000 })
  })

  it('multiplies price by quantity exactly in fen', () => {
    fc.assert(fc.property(fenArb, fc.integer({ min: 1, max: 999 }), (price, quantity) => {
      const fen = parseYuan(fenToYuan(price))
      assert.ok(fen !== null)
      const total = fen * quantity
      assert.ok(Number.isSafeInteger(total))
      assert.equal(BigInt(total), BigInt(price) * BigInt(quantity))
      // Within range the total survives the trip to the wire and back.
      if (total <= MAX_FEN) assert.equal(parseYuan(fenToYuan(total)), total)
    }), { numRuns: 2000 })
  })

  it('rejects amounts with a nonzero digit past the fen', () => {
    const subFen = fc.tuple(
      fc.stringMatching(/^[0-9]{1,8}$/),
      fc.stringMatching(/^[0-9]{2}$/),
      fc.stringMatching(/^[0-9]{0,5}[1-9][0-9]{0,5}$/)
    ).map(([whole, fen, rest]) => `${whole}.${fen}${rest}`)
    fc.assert(fc.property(subFen, (text) => {
      if (parseYuan(text, { allowString: true }) !== null) return false
      // As a number it is rejected too, unless the double itself lost the extra digits.
      const value = Number(text)
      return parseYuan(value) === null || !/\.\d{3}/.test(String(value))
    }), { numRuns: 2000 })
  })

  it('rejects any string that is not plain decimal digits', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 12 }), (text) => {
      const result = parseYuan(text, { allowString: true })
      return result === null || /^\d+(\.\d+)?$/.test(text)
    }), { numRuns: 2000 })
  })

  it('rejects non-integral fen from arbitrary doubles', () => {
    fc.assert(fc.property(fc.double({ noNaN: false }), (value) => {
      const fen = parseYuan(value)
      if (fen === null) return true
      return Number.isSafeInteger(fen) && fen >= 1 && fen <= MAX_FEN && fenToYuan(fen) === value
    }), { numRuns: 5000 })
  })
})

describe('fenToYuan', () => {
  it('prints at most two decimals', () => {
    assert.equal(fenToYuan(12088), 120.88)
    assert.equal(fenToYuan(12800), 128)
    assert.equal(fenToYuan(1), 0.01)
    assert.equal(fenToYuan(10), 0.1)
    assert.equal(fenToYuan(0), 0)
    assert.equal(fenToYuan(MAX_FEN), 10_000_000)
    assert.equal(String(fenToYuan(12088)), '120.88')
  })

  it('never prints more than two decimals in range', () => {
    fc.assert(fc.property(fenArb, (fen) => /^\d+(\.\d{1,2})?$/.test(String(fenToYuan(fen)))), { numRuns: 2000 })
  })

  it('refuses non-integer fen', () => {
    assert.throws(() => fenToYuan(1.5), RangeError)
    assert.throws(() => fenToYuan(NaN), RangeError)
  })
})
