// Money is held as integer fen (1/100 yuan). Amounts are parsed from their decimal text, never
// through binary floating point arithmetic, so 0.1 + 0.2 style errors cannot reach an order.

/** 10,000,000 yuan, the largest amount. */
export const MAX_FEN = 1_000_000_000

const DECIMAL = /^(\d+)(?:\.(\d+))?$/
// MAX_FEN is 8 digits of yuan; anything longer (after leading zeros) is out of range.
const MAX_YUAN_DIGITS = String(MAX_FEN / 100).length

/**
 * An amount in yuan as integer fen, or null when it is not a valid amount: finite, > 0, at most
 * two decimal places, at most MAX_FEN fen. Numbers are read through String(n), so a number that
 * only looks like two decimals in a float sense (0.30000000000000004) is rejected. Strings
 * (plain `^\d+(\.\d+)?$`) are accepted only with allowString.
 */
export function parseYuan (value: unknown, opts?: { allowString?: boolean }): number | null {
  let text: string
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null
    text = String(value)
  } else if (typeof value === 'string' && opts?.allowString === true) {
    text = value
  } else {
    return null
  }
  return parseDecimalFen(text)
}

function parseDecimalFen (text: string): number | null {
  const match = DECIMAL.exec(text)
  if (match === null) return null
  const whole = match[1].replace(/^0+/, '')
  const fraction = match[2] ?? ''
  // "1.500" is 1.5, but any nonzero digit past the fen is a sub-fen amount.
  if (!/^0*$/.test(fraction.slice(2))) return null
  if (whole.length > MAX_YUAN_DIGITS) return null
  const fen = Number(whole === '' ? '0' : whole) * 100 + Number(fraction.slice(0, 2).padEnd(2, '0'))
  if (fen <= 0 || fen > MAX_FEN) return null
  return fen
}

/**
 * Integer fen as a yuan number for responses (12088 → 120.88, 12800 → 128, 1 → 0.01). The number
 * is built from its decimal text, so it prints with at most two decimals.
 */
export function fenToYuan (fen: number): number {
  if (!Number.isSafeInteger(fen)) throw new RangeError(`fen must be a safe integer, got ${fen}`)
  const sign = fen < 0 ? '-' : ''
  const digits = String(Math.abs(fen)).padStart(3, '0')
  return Number(`${sign}${digits.slice(0, -2)}.${digits.slice(-2)}`)
}
