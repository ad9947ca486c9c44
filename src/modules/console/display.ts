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
