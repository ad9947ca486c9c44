const SHANGHAI_OFFSET_MS = 8 * 3600 * 1000 // Asia/Shanghai has had no daylight saving since 1991

/**
 * A platform `timestamp` in epoch ms: up to 11 digits are Unix seconds,
 * 12-14 digits milliseconds, otherwise `YYYY-MM-DD HH:mm:ss` in Asia/Shanghai; null if none of these.
 */
export function parsePlatformTimestamp (value: string | null | undefined): number | null {
  if (!value) return null
  if (/^\d{1,11}$/.test(value)) return Number(value) * 1000
  if (/^\d{12,14}$/.test(value)) return Number(value)
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(value)
  if (!m) return null
  const [year, month, day, hour, minute, second] = m.slice(1).map(Number)
  const ms = Date.UTC(year, month - 1, day, hour, minute, second)
  const back = new Date(ms)
  // Reject dates that Date.UTC silently rolls over (2024-02-30, 25:00:00).
  if (back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || back.getUTCHours() !== hour || minute > 59 || second > 59) return null
  return ms - SHANGHAI_OFFSET_MS
}
