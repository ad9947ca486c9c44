import { SIGNATURE_HEADER, signatureHeader } from './notification-signature.ts'

export const RESPONSE_HEAD_BYTES = 512
const ERROR_CHARS = 512

export interface SendResult {
  /** A 2xx answer: the event is delivered. */
  ok: boolean
  httpStatus: number | null
  error: string | null
  latencyMs: number
  /** The first 512 bytes of the answer's body, as text. */
  head: string
  /** The instance was stopping: no answer, and none to be held against the receiver. */
  interrupted: boolean
}

export interface SendOptions {
  secret: string
  timeoutMs: number
  /** Unix seconds for the signature's `t`. */
  unixSeconds: number
  /** Aborted when the instance stops. */
  stop?: AbortSignal
}

/** At most `limit` bytes of the body, then the rest is dropped; a body that breaks off keeps what came. */
async function readHead (body: ReadableStream<Uint8Array> | null, limit: number): Promise<string> {
  if (!body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = body.getReader()
  try {
    while (size < limit) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } catch {}
  reader.cancel().catch(() => {})
  // stream: true holds back a character cut at the limit rather than decoding half of it.
  const text = new TextDecoder().decode(Buffer.concat(chunks).subarray(0, limit), { stream: true })
  // PostgreSQL cannot store U+0000 in text.
  return text.replaceAll('\0', '\uFFFD')
}

function describeFailure (err: unknown, timeoutMs: number): string {
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  if (cause?.code === 'ECONNREFUSED') return 'connection refused (ECONNREFUSED)'
  if (cause?.code) return `${cause.code}: ${cause.message ?? ''}`.trim()
  return (err as Error).message || String(err) || `failed within ${timeoutMs} ms`
}

/**
 * POSTs one signed event. Node's built-in fetch does all this needs (a deadline through AbortSignal,
 * redirects left unfollowed), so no HTTP library is added. Never throws: every outcome is a result.
 */
export async function postEvent (url: string, payload: string, opts: SendOptions): Promise<SendResult> {
  const timeout = AbortSignal.timeout(opts.timeoutMs)
  const signal = opts.stop ? AbortSignal.any([timeout, opts.stop]) : timeout
  const started = performance.now()
  const elapsed = () => Math.round(performance.now() - started)
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signatureHeader(opts.secret, opts.unixSeconds, payload),
        'user-agent': 'gamepay-notify',
      },
      body: payload,
      // A redirect is an answer other than 2xx: tried again later, never followed.
      redirect: 'manual',
      signal,
    })
    const head = await readHead(res.body, RESPONSE_HEAD_BYTES)
    const ok = res.status >= 200 && res.status <= 299
    const location = res.headers.get('location')
    const redirect = res.status >= 300 && res.status <= 399
    const error = redirect ? `redirect not followed${location ? ` (Location: ${location.slice(0, 400)})` : ''}` : null
    return { ok, httpStatus: res.status, error, latencyMs: elapsed(), head, interrupted: false }
  } catch (err) {
    const interrupted = !timeout.aborted && opts.stop?.aborted === true
    const error = timeout.aborted
      ? `no answer within ${opts.timeoutMs} ms`
      : interrupted ? 'interrupted: this instance was stopping' : describeFailure(err, opts.timeoutMs)
    return { ok: false, httpStatus: null, error: error.slice(0, ERROR_CHARS), latencyMs: elapsed(), head: '', interrupted }
  }
}
