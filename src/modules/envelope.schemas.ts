import { Type, type TSchema } from 'typebox'

const base = {
  result: Type.Union([Type.Literal('success'), Type.Literal('fail')]),
  state: Type.String({ description: '"" on success, else a state of CONTRACT §7' }),
  trace_id: Type.String(),
  // Present on failures; also on a failure answered with HTTP 200 under HTTP_STATUS_MODE=always-200.
  message: Type.Optional(Type.String()),
}

export const FailEnvelope = Type.Object(base, { description: 'Failure: result "fail", a state and a message naming the field' })

/** Response schemas for a route: they serialize (as an allow-list) and document. */
export function responses (data?: TSchema) {
  return {
    200: Type.Object(data ? { ...base, data: Type.Optional(data) } : base),
    '4xx': FailEnvelope,
    '5xx': FailEnvelope,
  }
}

/** No U+0000 in any stored text: PostgreSQL cannot hold it, and no database should. */
export const NO_NUL = '^[^\\u0000]*$'

/** A text field: at most `maxLength` characters, never a NUL. */
export const Text = (opts: { minLength?: number, maxLength: number, description?: string, examples?: string[] }) =>
  Type.String({ ...opts, pattern: NO_NUL })

export const Yuan = Type.Number({ description: 'amount in yuan, at most two decimals', examples: [120.88] })
export const Iso = Type.String({ format: 'date-time' })
