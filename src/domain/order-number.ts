// Snowflake order numbers `PREFIX-ID`: 41 bits of ms since SNOWFLAKE_EPOCH_MS,
// 10 bits of worker id, 12 bits of sequence, printed in decimal.

export const SNOWFLAKE_EPOCH_MS = Date.UTC(2024, 0, 1)

const WORKER_BITS = 10n
const SEQUENCE_BITS = 12n
const MAX_WORKER_ID = 1023
const MAX_SEQUENCE = 4095
const MAX_ELAPSED_MS = 2 ** 41 - 1
const MAX_ID = 2n ** 63n - 1n
const PREFIX = /^[A-Za-z0-9]{1,16}$/
const DECIMAL_ID = /^(?:0|[1-9]\d{0,18})$/

export class ClockMovedBackwardsError extends Error {
  override name = 'ClockMovedBackwardsError'
}

export interface OrderNumberOptions {
  workerId: number
  prefix: string
  now?: () => number
  sleep?: (ms: number) => Promise<void>
  /** How far the clock may step back before next() throws instead of waiting; default 2000. */
  maxWaitMs?: number
  /** Ids never use a timestamp below this (the previous lease holder's end), Unix ms, inclusive. */
  floorMs?: number
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

export class OrderNumberGenerator {
  readonly #workerId: bigint
  readonly #prefix: string
  readonly #now: () => number
  readonly #sleep: (ms: number) => Promise<void>
  readonly #maxWaitMs: number
  readonly #floorMs: number
  #lastMs = -Infinity
  #sequence = 0

  constructor (opts: OrderNumberOptions) {
    if (!Number.isInteger(opts.workerId) || opts.workerId < 0 || opts.workerId > MAX_WORKER_ID) {
      throw new RangeError(`workerId must be an integer 0-${MAX_WORKER_ID}, got ${opts.workerId}`)
    }
    if (typeof opts.prefix !== 'string' || !PREFIX.test(opts.prefix)) {
      throw new RangeError(`prefix must be 1-16 characters of [A-Za-z0-9], got ${JSON.stringify(opts.prefix)}`)
    }
    const maxWaitMs = opts.maxWaitMs ?? 2000
    if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) throw new RangeError(`maxWaitMs must be >= 0, got ${maxWaitMs}`)
    const floorMs = opts.floorMs ?? SNOWFLAKE_EPOCH_MS
    if (!Number.isFinite(floorMs)) throw new RangeError(`floorMs must be a finite number, got ${floorMs}`)
    this.#workerId = BigInt(opts.workerId)
    this.#prefix = opts.prefix
    this.#now = opts.now ?? Date.now
    this.#sleep = opts.sleep ?? defaultSleep
    this.#maxWaitMs = maxWaitMs
    this.#floorMs = Math.max(Math.ceil(floorMs), SNOWFLAKE_EPOCH_MS)
  }

  async next (): Promise<string> {
    // Each attempt reads the clock and claims a (ms, sequence) slot synchronously, so calls
    // awaited concurrently interleave only at the sleep and can never claim the same slot.
    let waitedBackMs = 0
    for (;;) {
      const now = Math.floor(this.#now())
      if (!Number.isFinite(now)) throw new RangeError(`clock returned ${now}`)
      const id = this.#claim(now)
      if (id !== null) return `${this.#prefix}-${id}`
      if (now < this.#lowestUsableMs()) {
        const gap = this.#lowestUsableMs() - now
        // Counted over the whole call, so a clock that keeps falling back (or a sleep that
        // does not let time pass) still ends in an error rather than waiting forever.
        waitedBackMs += gap
        if (waitedBackMs > this.#maxWaitMs) {
          throw new ClockMovedBackwardsError(
            `clock is ${gap} ms behind the last order-number timestamp (waited ${waitedBackMs - gap} ms, limit ${this.#maxWaitMs} ms)`
          )
        }
        await this.#sleep(gap)
      } else {
        // Sequence exhausted for this ms: the next ms is a fresh sequence.
        await this.#sleep(1)
      }
    }
  }

  #lowestUsableMs (): number {
    return Math.max(this.#lastMs, this.#floorMs)
  }

  /** The next id at `now`, or null when the caller has to wait. Updates state only on success. */
  #claim (now: number): bigint | null {
    if (now < this.#lowestUsableMs()) return null
    if (now === this.#lastMs) {
      if (this.#sequence >= MAX_SEQUENCE) return null
      this.#sequence++
    } else {
      if (now - SNOWFLAKE_EPOCH_MS > MAX_ELAPSED_MS) throw new RangeError('clock is past the end of the snowflake range')
      this.#lastMs = now
      this.#sequence = 0
    }
    return (BigInt(now - SNOWFLAKE_EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)) |
      (this.#workerId << SEQUENCE_BITS) |
      BigInt(this.#sequence)
  }
}

/**
 * The parts of `PREFIX-ID`, or null when it is not one: wrong prefix, non-digits, leading
 * zeros, above 2^63-1. `ms` is the Unix time (ms) at which the id was generated.
 */
export function parseOrderNumber (value: string, prefix: string): { id: bigint, ms: number, workerId: number, sequence: number } | null {
  if (typeof value !== 'string' || typeof prefix !== 'string' || prefix === '') return null
  if (!value.startsWith(`${prefix}-`)) return null
  const digits = value.slice(prefix.length + 1)
  if (!DECIMAL_ID.test(digits)) return null
  const id = BigInt(digits)
  if (id > MAX_ID) return null
  return {
    id,
    ms: Number(id >> (WORKER_BITS + SEQUENCE_BITS)) + SNOWFLAKE_EPOCH_MS,
    workerId: Number((id >> SEQUENCE_BITS) & BigInt(MAX_WORKER_ID)),
    sequence: Number(id & BigInt(MAX_SEQUENCE)),
  }
}
