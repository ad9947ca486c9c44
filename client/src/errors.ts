import type { State } from './types.js'

/** The service answered with a failure envelope: `state` says what went wrong, `message` names the field. */
export class GamepayError extends Error {
  /** The HTTP status (200 for every answer when the service runs with HTTP_STATUS_MODE=always-200). */
  readonly status: number
  readonly state: State
  readonly trace_id: string
  /** Seconds to wait before trying again, from Retry-After (with RATE_LIMITED and SERVICE_UNAVAILABLE). */
  readonly retryAfter: number | undefined

  constructor (init: { status: number, state: State, message: string, trace_id: string, retryAfter?: number }) {
    super(init.message)
    this.name = 'GamepayError'
    this.status = init.status
    this.state = init.state
    this.trace_id = init.trace_id
    this.retryAfter = init.retryAfter
  }
}

export type TransportFailure = 'timeout' | 'network' | 'bad-response' | 'aborted'

/**
 * No envelope came back: the request timed out, the connection failed, the caller aborted, or the answer
 * was not gamepay's (a proxy's HTML error page). Whether the service acted on the request is unknown.
 */
export class GamepayTransportError extends Error {
  readonly reason: TransportFailure
  /** The HTTP status when an answer came that was not an envelope. */
  readonly status: number | undefined

  constructor (reason: TransportFailure, message: string, opts: { status?: number, cause?: unknown } = {}) {
    super(message, { cause: opts.cause })
    this.name = 'GamepayTransportError'
    this.reason = reason
    this.status = opts.status
  }
}
