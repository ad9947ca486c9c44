/** A database integer as a JS number, refusing any value a double could not hold exactly. */
export function toInt (value: number | bigint | string): number {
  const n = Number(value)
  if (!Number.isSafeInteger(n)) throw new RangeError(`integer out of safe range: ${String(value)}`)
  return n
}

export function toIntOrNull (value: number | bigint | string | null): number | null {
  return value === null ? null : toInt(value)
}

export const toIso = (ms: number): string => new Date(ms).toISOString()
