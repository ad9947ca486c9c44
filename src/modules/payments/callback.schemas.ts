import { Type } from 'typebox'
import { responses, Yuan } from '../envelope.schemas.ts'

const Text = (description: string) => Type.Optional(Type.String({ description }))

// Documents the parameters; they are checked by the callback service in the contract's order
// (source, required fields, signType, sign, amount, timestamp), not by schema validation.
export const CallbackParams = Type.Object({
  game_order_no: Type.String({ description: 'our order number' }),
  gyyx_order_no: Type.String({ description: "the platform's order number" }),
  result: Type.String({ description: 'success values: CALLBACK_SUCCESS_RESULTS' }),
  result_message: Text('result text'),
  rmb_yuan: Type.Union([Yuan, Type.String()], { description: 'paid amount in yuan' }),
  server_flag: Text('server'),
  common_param: Text('pass-through parameter'),
  timestamp: Text('Unix seconds, milliseconds or YYYY-MM-DD HH:mm:ss (Asia/Shanghai)'),
  sign: Type.String({ description: 'signature over stringA (README: signing)' }),
  signType: Type.String({ description: 'MD5, HMAC-SHA256 or RSA2; sign_type is accepted too' }),
}, { additionalProperties: true })

export const callbackSchema = {
  tags: ['payments'],
  summary: 'Signed payment notification (JSON, form, or query string)',
  description: 'Sent by the payment platform. A non-empty body (application/json or application/x-www-form-urlencoded) is the only source; the query string is read when the body is empty.',
  body: CallbackParams,
  response: responses(),
}
