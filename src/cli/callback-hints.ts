import type { SigningKey } from './payment-tools.ts'

export interface Attempt {
  orderNo: string
  /** The server's base URL. */
  server: string
  key: SigningKey
  /** Where rmb_yuan came from: '--amount', or the database it was read from. */
  amountFrom: { flag: true } | { database: string }
  retryAfter: string | null
}

/** What to do when the server answers a simulated callback with `state`: the likely cause and its fix. */
export function callbackHint (state: string | undefined, a: Attempt): string {
  switch (state) {
    case 'SIGN_INVALID':
      if (a.key.type === 'RSA2') return `the server's CALLBACK_RSA_PUBLIC_KEY is not the public half of ${a.key.source}`
      return a.key.source === '--secret'
        ? '--secret is not the secret the server checks with: pass its CALLBACK_SECRET, or leave --secret out and run ' +
          'this tool with the .env the server reads'
        : `the server checks signatures with another secret than this tool's (${a.key.source}): start the server and ` +
          'this tool with the same .env (CALLBACK_SECRET), or pass --secret with the server\'s secret'
    case 'SIGN_TYPE_UNSUPPORTED':
      return `the server does not accept signType ${a.key.type}: its CALLBACK_SIGN_TYPES leaves it out` +
        `${a.key.type === 'RSA2' ? ', or it has no CALLBACK_RSA_PUBLIC_KEY' : ''}; pass --type with a type it accepts`
    case 'ORDER_NOT_FOUND':
      return 'database' in a.amountFrom
        ? `the order is in ${a.amountFrom.database}, where this tool read its amount, but not in the server's database: ` +
          'is the server running with the same DATABASE_URL? Start both with the same .env, or pass --url of the server ' +
          'that uses this database'
        : `the server's database has no order ${a.orderNo}: check the order number, and that the server runs with the ` +
          'same DATABASE_URL as where the order was created'
    case 'AMOUNT_MISMATCH':
      return 'database' in a.amountFrom
        ? `the order's amount in ${a.amountFrom.database} is not the one in the server's database: is the server running ` +
          'with the same DATABASE_URL? Start both with the same .env, or pass --amount'
        : 'pass --amount with the order\'s amount, or leave --amount out to read it from the database (DATABASE_URL)'
    case 'CALLBACK_FORBIDDEN':
      return 'the server refuses callbacks from this address or with this timestamp: add this machine\'s address to ' +
        'its CALLBACK_ALLOW_IPS, or check this machine\'s clock against its CALLBACK_MAX_AGE_SECONDS'
    case 'RATE_LIMITED':
      return 'this address has spent its RATE_LIMIT_PER_MINUTE budget' +
        `${a.retryAfter ? `: retry in ${a.retryAfter} s` : ''}; ` +
        'callbacks from an address in the server\'s CALLBACK_ALLOW_IPS are not limited'
    case 'INVALID_PARAMS':
      return 'the server could not read the callback: see its message above, and check --amount, --gyyx and --result'
    case 'SERVICE_UNAVAILABLE':
      return 'the server cannot use its database right now: retry shortly, and see the server\'s log'
    case 'NOT_FOUND':
    case undefined:
      return `is ${a.server} a gamepay server? It has no callback route; pass --url with gamepay's address`
    default:
      return 'see the server\'s answer above and its log'
  }
}
