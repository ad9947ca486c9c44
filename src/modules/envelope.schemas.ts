import { Type, type TSchema } from 'typebox'
import { STATES, type State } from '../errors.ts'

const TraceId = Type.String({ description: "the request's trace id, also in the X-Request-Id header" })

// Under HTTP_STATUS_MODE=always-200 a failure is answered with HTTP 200 too, so the 200 schema
// serializes both; the 4xx/5xx ones are failures only.
const base = {
  result: Type.Union([Type.Literal('success'), Type.Literal('fail')], { description: '"fail" only under HTTP_STATUS_MODE=always-200' }),
  state: Type.String({ description: '"" on success' }),
  trace_id: TraceId,
  message: Type.Optional(Type.String()),
}

export const FailEnvelope = Type.Object({
  result: Type.Literal('fail'),
  state: Type.Unsafe<State>({ type: 'string', enum: Object.keys(STATES), description: 'what went wrong (README: states)' }),
  trace_id: TraceId,
  message: Type.String({ description: 'zh-CN, or English with Accept-Language: en; names the field at fault' }),
}, { description: 'Failure: result "fail", a state and a message naming the field' })

/** Response schemas for a route: they serialize (as an allow-list) and document. */
export function responses (data?: TSchema) {
  return {
    200: Type.Object(data ? { ...base, data: Type.Optional(data) } : base, { description: 'Success: result "success", state ""' }),
    '4xx': FailEnvelope,
    '5xx': FailEnvelope,
  }
}

/** No U+0000 in any stored text: PostgreSQL cannot hold it, and no database should. */
export const NO_NUL = '^[^\\u0000]*$'

/** A text field: at most `maxLength` characters, never a NUL. */
export const Text = (opts: { minLength?: number, maxLength: number, description?: string, examples?: string[] }) =>
  Type.String({ ...opts, pattern: NO_NUL })

export const Yuan = Type.Number({ description: 'amount in yuan, at most two decimals', examples: [99.99] })
export const Iso = Type.String({ format: 'date-time' })
