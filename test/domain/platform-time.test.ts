// parsePlatformTimestamp: all digits up to 11 are Unix seconds, 12-14 digits are
// milliseconds, otherwise `YYYY-MM-DD HH:mm:ss` in Asia/Shanghai (UTC+8, no daylight saving).
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import fc from 'fast-check'
import { parsePlatformTimestamp } from '../../src/domain/platform-time.ts'

const shanghai = new Intl.DateTimeFormat('sv-SE', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false,
})

describe('parsePlatformTimestamp', () => {
  test('when the value is all digits up to 11, then it is Unix seconds', () => {
    assert.equal(parsePlatformTimestamp('1732600000'), 1_732_600_000_000)
    assert.equal(parsePlatformTimestamp('0'), 0)
    assert.equal(parsePlatformTimestamp('0001732600'), 1_732_600_000)
    assert.equal(parsePlatformTimestamp('99999999999'), 99_999_999_999_000)
  })

  test('when the value is 12 to 14 digits, then it is milliseconds', () => {
    assert.equal(parsePlatformTimestamp('100000000000'), 100_000_000_000)
    assert.equal(parsePlatformTimestamp('1732600000123'), 1_732_600_000_123)
    assert.equal(parsePlatformTimestamp('99999999999999'), 99_999_999_999_999)
  })

  test('when the value is YYYY-MM-DD HH:mm:ss, then it is read in Asia/Shanghai', () => {
    assert.equal(parsePlatformTimestamp('2024-11-26 13:46:40'), 1_732_600_000_000)
    assert.equal(parsePlatformTimestamp('1970-01-01 08:00:00'), 0)
    assert.equal(parsePlatformTimestamp('2024-02-29 00:00:00'), Date.UTC(2024, 1, 28, 16))
    assert.equal(parsePlatformTimestamp('2025-01-01 07:59:59'), Date.UTC(2024, 11, 31, 23, 59, 59))
    // The summer: Shanghai has no daylight saving, so still UTC+8.
    assert.equal(parsePlatformTimestamp('2025-07-01 12:00:00'), Date.UTC(2025, 6, 1, 4))
  })

  test('when the value is none of the three forms, then null', () => {
    const bad = [
      null, undefined, '', ' ', '000000000000000', '123456789012345', '-1', '+1732600000', '1732600000.5', '1.7326e9',
      ' 1732600000', '1732600000 ', '0x10', '１７３２６０００００', 'yesterday', 'NaN', 'Infinity',
      '2024-11-26T13:46:40', '2024-11-26 13:46:40Z', '2024-11-26 13:46:40+08:00', '2024-11-26 13:46:40.123', '2024-11-26', '13:46:40',
      '2024-1-26 13:46:40', '2024-11-26 3:46:40', '2024/11/26 13:46:40', '24-11-26 13:46:40', '2024-11-26  13:46:40',
    ]
    for (const value of bad) assert.equal(parsePlatformTimestamp(value), null, String(value))
  })

  test('when the date or time does not exist, then null rather than a rolled-over date', () => {
    for (const value of ['2023-02-29 00:00:00', '2024-02-30 00:00:00', '2024-04-31 12:00:00', '2024-13-01 00:00:00', '2024-00-10 00:00:00',
      '2024-01-00 00:00:00', '2024-01-01 24:00:00', '2024-01-01 23:60:00', '2024-01-01 23:59:60', '2024-12-32 00:00:00']) {
      assert.equal(parsePlatformTimestamp(value), null, value)
    }
  })

  test('when any whole number of seconds up to 11 digits is given, then it reads back times 1000', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 99_999_999_999 }), (s) => parsePlatformTimestamp(String(s)) === s * 1000))
  })

  test('when any 12-14 digit number is given, then it reads back as milliseconds', () => {
    fc.assert(fc.property(fc.integer({ min: 100_000_000_000, max: 99_999_999_999_999 }), (ms) => parsePlatformTimestamp(String(ms)) === ms))
  })

  test('when any instant is printed in Asia/Shanghai, then it reads back to the second', () => {
    // From 1992: China observed daylight saving in 1986-1991, which the fixed UTC+8 deliberately ignores.
    const instant = fc.integer({ min: Date.UTC(1992, 0, 1), max: Date.UTC(2100, 0, 1) })
    fc.assert(fc.property(instant, (ms) => parsePlatformTimestamp(shanghai.format(new Date(ms))) === Math.floor(ms / 1000) * 1000), { numRuns: 2000 })
  })

  test('when any string is given, then the answer is null or a whole number of milliseconds, never a throw', () => {
    const text = fc.oneof(fc.string(), fc.stringMatching(/^\d{1,16}$/), fc.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/))
    fc.assert(fc.property(text, (value) => {
      const ms = parsePlatformTimestamp(value)
      return ms === null || Number.isSafeInteger(ms)
    }), { numRuns: 2000 })
  })

  test('when a well-formed date-time is accepted, then printing the result in Shanghai gives the same text back', () => {
    fc.assert(fc.property(fc.stringMatching(/^(199[2-9]|20\d\d)-[01]\d-[0-3]\d [0-2]\d:[0-5]\d:[0-5]\d$/), (value) => {
      const ms = parsePlatformTimestamp(value)
      return ms === null || shanghai.format(new Date(ms)) === value
    }), { numRuns: 2000 })
  })
})
