import { invalidField } from '../../errors.ts'
import { shanghaiTime } from '../orders/order-view.ts'

// What every console page and export shows the same way: money as yuan text, times and days in
// Asia/Shanghai (UTC+8 with no daylight saving since 1991, so a fixed offset reads its calendar).
const SHANGHAI_OFFSET_MS = 8 * 3_600_000
export const DAY_MS = 86_400_000

/** Integer fen as yuan text with two decimals (3000 → "30.00", 5 → "0.05"), by string, never float. */
export function yuanText (fen: number): string {
  if (!Number.isSafeInteger(fen)) throw new RangeError(`fen must be a safe integer, got ${fen}`)
  const digits = String(Math.abs(fen)).padStart(3, '0')
  return `${fen < 0 ? '-' : ''}${digits.slice(0, -2)}.${digits.slice(-2)}`
}

/** Epoch ms as "2024-11-26 13:46:40", Asia/Shanghai; '' for none. */
export const timeText = (ms: number | null): string => ms === null ? '' : shanghaiTime(ms)

/** The first millisecond of a Shanghai calendar day given as YYYY-MM-DD; `field` is named when it is not one. */
export function shanghaiDay (value: string, field: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value)
  const utc = m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) : NaN
  if (!m || Number.isNaN(utc) || new Date(utc).toISOString().slice(0, 10) !== value) {
    throw invalidField(field, '须为 YYYY-MM-DD 日期', 'must be a date YYYY-MM-DD')
  }
  return utc - SHANGHAI_OFFSET_MS
}

/** The Shanghai calendar day (YYYY-MM-DD) holding `ms`. */
export const shanghaiDate = (ms: number): string => new Date(ms + SHANGHAI_OFFSET_MS).toISOString().slice(0, 10)

const TIME = /^(\d{4})([-/])(\d{1,2})\2(\d{1,2})([T ])(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/i

/**
 * Epoch ms of a time as a statement or an operator writes it, or null: ISO 8601 with an offset, or
 * a wall-clock `YYYY-MM-DD HH:mm[:ss]` (or with `/`, one-digit parts as Excel writes them back)
 * read as Asia/Shanghai. A `T` form without an offset (a datetime-local field) only with `bareT`.
 */
export function parseShanghaiTime (value: string, { bareT = false } = {}): number | null {
  const m = TIME.exec(value)
  if (m === null) return null
  const [year, month, day, hour, minute, second] = [m[1], m[3], m[4], m[6], m[7], m[8] ?? '0'].map(Number)
  const [separator, fraction, offset] = [m[5], m[9] ?? '', m[10]]
  if (separator.toUpperCase() === 'T' && ((offset === undefined && !bareT) || m[2] === '/')) return null
  const local = Date.UTC(year, month - 1, day, hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, '0')))
  const back = new Date(local)
  // Date.UTC silently rolls 2024-02-30 over into March, and 24:00 into the next day.
  if (year < 1970 || back.getUTCFullYear() !== year || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day ||
    back.getUTCHours() !== hour || minute > 59 || second > 59) return null
  let offsetMinutes = SHANGHAI_OFFSET_MS / 60_000
  if (offset !== undefined && offset.toUpperCase() === 'Z') offsetMinutes = 0
  else if (offset !== undefined) {
    const digits = offset.slice(1).replace(':', '')
    const hours = Number(digits.slice(0, 2))
    const minutes = Number(digits.slice(2) || '0')
    if (hours > 14 || minutes > 59) return null
    offsetMinutes = (offset[0] === '-' ? -1 : 1) * (hours * 60 + minutes)
  }
  return local - offsetMinutes * 60_000
}
