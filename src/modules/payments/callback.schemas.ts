import { Type } from 'typebox'
import { responses, Yuan } from '../envelope.schemas.ts'

const Text = (description: string) => Type.Optional(Type.String({ description }))

// Documents the parameters; they are checked by the callback service in the documented order
// (source, required fields, signType, sign, amount, timestamp), not by schema validation.
const EXAMPLE = {
  game_order_no: '811-107552442731859968',
  gyyx_order_no: '12345567',
  result: 'success',
  result_message: '',
  rmb_yuan: 99.99,
  server_flag: 's1',
  common_param: '',
  timestamp: '1732600000',
  signType: 'MD5',
  sign: '(hex md5 of stringA + "&key=" + CALLBACK_SECRET; `gamepay sign` prints it)',
}

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
}, { additionalProperties: true, examples: [EXAMPLE] })

// The same parameters in the query string, read only when the body is empty (what older
// platforms send); documentation only, like the body schema.
const CallbackQuery = Type.Partial(CallbackParams)

export const callbackSchema = {
  tags: ['payments'],
  summary: 'Signed payment notification (JSON, form, or query string)',
  description: 'Sent by the payment platform. A non-empty body (application/json or application/x-www-form-urlencoded) ' +
    'is the only source; the query string is read only when the body is empty. A parameter repeated in a form or query ' +
    'is INVALID_PARAMS, and so is a value holding "&name=" (URL-encode such values) or a NUL character.',
  consumes: ['application/json', 'application/x-www-form-urlencoded'],
  querystring: CallbackQuery,
  body: CallbackParams,
  response: responses(),
}
