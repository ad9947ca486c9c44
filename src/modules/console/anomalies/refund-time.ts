// Asia/Shanghai has kept UTC+8 with no daylight saving since 1991: a fixed offset reads its wall clock.
const SHANGHAI_OFFSET_MINUTES = 8 * 60
const TIME = /^(\d{4})-(\d{2})-(\d{2})([T ])(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2})?$/i

/**
 * When a refund was made, as an operator types it: ISO 8601 with an offset, or a wall-clock time
 * without one (`YYYY-MM-DD HH:mm[:ss]`, or a datetime-local field's `YYYY-MM-DDTHH:mm`) read as
 * Asia/Shanghai. Epoch ms, or null when it is not such a time.
 */
export function parseRefundTime (value: string): number | null {
  const m = TIME.exec(value.trim())
  if (m === null) return null
  const [year, month, day, hour, minute, second] = [m[1], m[2], m[3], m[5], m[6], m[7] ?? '0'].map(Number)
  const millis = Number((m[8] ?? '').slice(0, 3).padEnd(3, '0'))
  const wall = Date.UTC(year, month - 1, day, hour, minute, second, millis)
  const back = new Date(wall)
  // Date.UTC rolls 2024-02-30 over into March and 24:00 into the next day: such a time is a typo.
  if (year < 1970 || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day || back.getUTCHours() !== hour ||
    minute > 59 || second > 59) return null
  const offset = m[9]
  let offsetMinutes = SHANGHAI_OFFSET_MINUTES
  if (offset !== undefined && offset.toUpperCase() === 'Z') offsetMinutes = 0
  else if (offset !== undefined) {
    const digits = offset.slice(1).replace(':', '')
    const hours = Number(digits.slice(0, 2))
    const minutes = Number(digits.slice(2))
    if (hours > 14 || minutes > 59) return null
    offsetMinutes = (offset[0] === '-' ? -1 : 1) * (hours * 60 + minutes)
  }
  return wall - offsetMinutes * 60_000
}
