import { GamepayError, GamepayTransportError } from './errors.js'
import type {
  CallbackParams, CancelledOrder, CancelOrderInput, CreatedOrder, CreateOrderInput, Envelope, Goods, PaidOrder,
  VerifyInput,
} from './types.js'

export interface ClientOptions {
  /** Where gamepay answers, e.g. http://127.0.0.1:8080 (a path prefix is kept). */
  baseUrl: string | URL
  /** Per attempt, headers and body included (default 10 000). */
  timeoutMs?: number
  /** Attempts after the first when the answer is 503 (default 2); 4xx and other failures are never retried. */
  retries?: number
  /** First backoff when a 503 carries no Retry-After, doubled each time (default 500). */
  retryDelayMs?: number
  /** The longest wait before a retry (default 30 000); a Retry-After asking for more ends the retries. */
  maxRetryDelayMs?: number
  /** Language of the failure messages (the service's default is zh). */
  language?: 'zh' | 'en'
  /** Sent with every request. */
  headers?: Record<string, string>
  /** Another fetch (a proxy, a custom agent); Node's own by default. */
  fetch?: typeof fetch
  /** Told about every envelope that comes back, retried ones included: for logs and metrics. */
  onResponse?: (info: ResponseInfo) => void
  /** Told before each retry. */
  onRetry?: (info: RetryInfo) => void
}

export interface RequestOptions {
  /** The trace id (X-Request-Id): 1-128 of [A-Za-z0-9._:-]; the same on every retry. */
  requestId?: string
  signal?: AbortSignal
  timeoutMs?: number
  retries?: number
  headers?: Record<string, string>
}

export interface CreateOrderOptions extends RequestOptions {
  /**
   * Repeating a key this user_id used within 24 h returns the first successful answer's data again,
   * whatever the body: safe to resend after a timeout.
   */
  idempotencyKey?: string
}

export interface CallbackOptions extends RequestOptions {
  /** The body's encoding: JSON (default) or application/x-www-form-urlencoded. */
  as?: 'json' | 'form'
}

export interface ResponseInfo {
  method: string
  path: string
  status: number
  result: 'success' | 'fail'
  state: string
  trace_id: string
  attempt: number
}

export interface RetryInfo {
  method: string
  path: string
  /** The attempt that failed, from 1. */
  attempt: number
  delayMs: number
  error: GamepayError | GamepayTransportError
}

interface Call {
  method: 'GET' | 'POST'
  path: string
  body?: { type: string, text: string }
  headers?: Record<string, string>
}

const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  if (signal?.aborted) return reject(signal.reason)
  const timer = setTimeout(() => {
    signal?.removeEventListener('abort', stop)
    resolve()
  }, ms)
  const stop = () => {
    clearTimeout(timer)
    reject(signal?.reason)
  }
  signal?.addEventListener('abort', stop, { once: true })
})

/** Retry-After as seconds: a number of seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter (value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined
  if (/^\s*\d+\s*$/.test(value)) return Number(value)
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000))
}

function isEnvelope (value: unknown): value is Envelope {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return (v.result === 'success' || v.result === 'fail') && typeof v.state === 'string' && typeof v.trace_id === 'string'
}

/** A client for gamepay's five public routes: typed data on success, a GamepayError on failure. */
export class GamepayClient {
  readonly #base: string
  readonly #opts: Required<Pick<ClientOptions, 'timeoutMs' | 'retries' | 'retryDelayMs' | 'maxRetryDelayMs'>> & ClientOptions
  readonly #fetch: typeof fetch

  constructor (options: ClientOptions) {
    this.#base = String(options.baseUrl).replace(/\/+$/, '')
    this.#opts = {
      ...options,
      timeoutMs: options.timeoutMs ?? 10_000,
      retries: options.retries ?? 2,
      retryDelayMs: options.retryDelayMs ?? 500,
      maxRetryDelayMs: options.maxRetryDelayMs ?? 30_000,
    }
    // Looked up per call, never called detached from globalThis (some runtimes' fetch needs that).
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init))
  }

  /** GET /api/pay/goods: the goods and their current price. */
  goods (id: number | string, opts?: RequestOptions): Promise<Goods> {
    return this.#send({ method: 'GET', path: `/api/pay/goods?id=${encodeURIComponent(String(id))}` }, opts)
  }

  /** POST /api/pay/create-order: a new unpaid order, or the user's open one (reused: true). */
  createOrder (input: CreateOrderInput, opts: CreateOrderOptions = {}): Promise<CreatedOrder> {
    const headers = opts.idempotencyKey === undefined ? undefined : { 'idempotency-key': opts.idempotencyKey }
    return this.#send({ method: 'POST', path: '/api/pay/create-order', body: json(input), headers }, opts)
  }

  /** POST /api/pay/cancel-order: idempotent; a paid order is ORDER_ALREADY_PAID. */
  cancelOrder (input: CancelOrderInput, opts?: RequestOptions): Promise<CancelledOrder> {
    return this.#send({ method: 'POST', path: '/api/pay/cancel-order', body: json(input) }, opts)
  }

  /** POST /api/pay/verification: the paid order, else ORDER_NOT_PAID. Counts as a verification. */
  verify (input: VerifyInput, opts?: RequestOptions): Promise<PaidOrder> {
    return this.#send({ method: 'POST', path: '/api/pay/verification', body: json(input) }, opts)
  }

  /** POST /api/pay/callback with signed parameters (see signCallback): what a payment platform sends. */
  async callback (params: CallbackParams, opts: CallbackOptions = {}): Promise<void> {
    const body = opts.as === 'form' ? form(params) : json(params)
    await this.#send({ method: 'POST', path: '/api/pay/callback', body }, opts)
  }

  async #send<T> (call: Call, opts: RequestOptions = {}): Promise<T> {
    const retries = opts.retries ?? this.#opts.retries
    for (let attempt = 1; ; attempt++) {
      let error: GamepayError | GamepayTransportError
      try {
        return await this.#attempt<T>(call, opts, attempt)
      } catch (err) {
        if (!(err instanceof GamepayError || err instanceof GamepayTransportError)) throw err
        error = err
      }
      // Only 503 is retried: the service did not do the work and says when to come back. A 4xx will
      // answer the same again, and after a timeout or a dropped connection the outcome is unknown.
      const unavailable = error.status === 503 || (error instanceof GamepayError && error.state === 'SERVICE_UNAVAILABLE')
      if (!unavailable || attempt > retries) throw error
      const delayMs = this.#delay(error, attempt)
      if (delayMs === undefined) throw error
      this.#opts.onRetry?.({ method: call.method, path: call.path, attempt, delayMs, error })
      try {
        await sleep(delayMs, opts.signal)
      } catch (reason) {
        throw new GamepayTransportError('aborted', `${call.method} ${call.path}: aborted`, { cause: reason })
      }
    }
  }

  // Retry-After wins (never sooner than asked); without it, exponential backoff with jitter.
  #delay (error: GamepayError | GamepayTransportError, attempt: number): number | undefined {
    const asked = error instanceof GamepayError ? error.retryAfter : undefined
    if (asked !== undefined) return asked * 1000 <= this.#opts.maxRetryDelayMs ? asked * 1000 : undefined
    const backoff = Math.min(this.#opts.maxRetryDelayMs, this.#opts.retryDelayMs * 2 ** (attempt - 1))
    return Math.round(backoff / 2 + Math.random() * backoff / 2)
  }

  async #attempt<T> (call: Call, opts: RequestOptions, attempt: number): Promise<T> {
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...this.#opts.headers,
      ...call.headers,
      ...opts.headers,
    }
    if (this.#opts.language) headers['accept-language'] = this.#opts.language
    if (opts.requestId !== undefined) headers['x-request-id'] = opts.requestId
    if (call.body) headers['content-type'] = call.body.type
    const timeoutMs = opts.timeoutMs ?? this.#opts.timeoutMs
    const timeout = AbortSignal.timeout(timeoutMs)
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout
    const what = `${call.method} ${call.path}`

    let status: number
    let text: string
    let retryAfter: string | null
    try {
      const res = await this.#fetch(`${this.#base}${call.path}`, {
        method: call.method,
        headers,
        body: call.body?.text,
        signal,
        redirect: 'manual',
      })
      status = res.status
      retryAfter = res.headers.get('retry-after')
      text = await res.text()
    } catch (err) {
      if (opts.signal?.aborted) throw new GamepayTransportError('aborted', `${what}: aborted`, { cause: err })
      if (timeout.aborted) {
        throw new GamepayTransportError('timeout', `${what}: no answer within ${timeoutMs} ms`, { cause: err })
      }
      const detail = (err as Error & { cause?: { code?: string } }).cause?.code ?? (err as Error).message
      throw new GamepayTransportError('network', `${what}: ${detail}`, { cause: err })
    }

    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {}
    if (!isEnvelope(body)) {
      const head = text.slice(0, 200)
      throw new GamepayTransportError('bad-response', `${what}: HTTP ${status} without gamepay's envelope: ${head}`, { status })
    }
    const { result, state, trace_id: traceId } = body
    this.#opts.onResponse?.({ method: call.method, path: call.path, status, result, state, trace_id: traceId, attempt })
    if (body.result === 'success') return body.data as T
    throw new GamepayError({
      status,
      state: body.state,
      message: body.message ?? body.state,
      trace_id: body.trace_id,
      retryAfter: parseRetryAfter(retryAfter),
    })
  }
}

function json (value: unknown) {
  return { type: 'application/json', text: JSON.stringify(value) }
}

// Values as they are signed: numbers as String(n), booleans as "true"/"false"; null and undefined
// are left out, as they are not signed.
function form (params: CallbackParams) {
  const out = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue
    out.append(name, String(value))
  }
  return { type: 'application/x-www-form-urlencoded', text: out.toString() }
}
