import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { Config } from '../config.ts'
import { fenToYuan, parseYuan } from '../domain/money.ts'
import { callbackHint, type Attempt } from './callback-hints.ts'
import { describeVar, type CliEnv } from './cli-env.ts'
import { CliError } from './cli-error.ts'
import { KEY_HELP, KEY_OPTIONS, keyedConfigReader, signingKey, signParams } from './payment-tools.ts'

export const SIMULATE_OPTIONS = {
  url: { type: 'string' },
  amount: { type: 'string' },
  gyyx: { type: 'string' },
  result: { type: 'string', default: 'success' },
  ...KEY_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const

export const SIMULATE_HELP = `gamepay simulate-payment <order> [options]

Sends a running gamepay server a correctly signed payment callback for <order>, as the payment
platform would, and exits 0 only when the server answers success.

It reads the configuration the server reads (the environment, then .env in this directory): the
server's address from HOST and PORT, the order's amount from DATABASE_URL, and the secret from
CALLBACK_SECRET. Run it where the server runs and no option is needed.

  --url URL            the server (default http://HOST:PORT, with 0.0.0.0 and :: as loopback)
  --amount YUAN        rmb_yuan to pay (default: the order's amount, read from DATABASE_URL)
  --gyyx NO            gyyx_order_no, the platform's order number (default SIM<milliseconds>)
  --result VALUE       result (default success; another value records a failed payment attempt)
${KEY_HELP}
  -h, --help           this help

It prints the server, where the secret came from (never the secret), the database, the request and
the answer. Exit status 0: the server answered success. 1: anything else (a refusal, no server, a
bad option or configuration), with the reason and a hint on stderr.`

const TIMEOUT_MS = 30_000

/** Where the server listens, as a URL this machine can reach: a wildcard address means loopback. */
function serverBase (flag: string | undefined, env: CliEnv, config: () => Config): { base: string, source: string } {
  if (flag !== undefined) {
    let url: URL
    try {
      url = new URL(flag)
    } catch {
      throw new CliError(`--url "${flag}" is not a URL`, 'pass the server\'s address, such as http://127.0.0.1:8080')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CliError(`--url must be http:// or https://, got "${flag}"`)
    }
    return { base: url.href.replace(/\/+$/, ''), source: '--url' }
  }
  const { host, port } = config()
  const source = `${describeVar(env, 'HOST')}, ${describeVar(env, 'PORT')}`
  if (port === 0) {
    throw new CliError(`PORT=0 (${source}) lets the server choose its port, which cannot be known here`, 'pass --url')
  }
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' || host === '[::]' ? '::1' : host
  const literal = reachable.includes(':') && !reachable.startsWith('[') ? `[${reachable}]` : reachable
  return { base: `http://${literal}:${port}`, source }
}

/** A database URL fit to print: without its password. */
export function displayDatabaseUrl (url: string): string {
  if (url.startsWith('sqlite:')) return url
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.href
  } catch {
    return url.replace(/\/\/[^/]*@/, '//***@')
  }
}

const NOT_LOCAL_HINT = 'pass --amount <yuan>, or point DATABASE_URL at the server\'s database (run this tool where the ' +
  'server\'s .env is)'

/** The order's amount in yuan, from the database the server is configured with. */
async function orderAmount (orderNo: string, databaseUrl: string, database: string): Promise<number> {
  if (databaseUrl === 'sqlite::memory:') {
    throw new CliError(`${database} is private to each process: the order's amount cannot be read here`,
      'pass --amount <yuan>')
  }
  // Connecting would create an empty file: say that it is missing instead.
  if (databaseUrl.startsWith('sqlite:') && !existsSync(databaseUrl.slice('sqlite:'.length))) {
    throw new CliError(`order ${orderNo}: ${database} does not exist here`, NOT_LOCAL_HINT)
  }
  const { connect } = await import('../db/connect.ts')
  const { findOrder } = await import('../modules/orders/orders.repository.ts')
  const store = connect(databaseUrl)
  try {
    const order = await findOrder(store.db, orderNo, false)
    if (!order) throw new CliError(`order ${orderNo} is not in ${database}`, NOT_LOCAL_HINT)
    return fenToYuan(order.amountFen)
  } catch (err) {
    if (err instanceof CliError) throw err
    throw new CliError(`cannot read order ${orderNo} from ${database}: ${(err as Error).message}`, NOT_LOCAL_HINT)
  } finally {
    await store.close()
  }
}

async function post (url: string, body: unknown, server: string): Promise<Response> {
  try {
    return await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'accept-language': 'en' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(TIMEOUT_MS),
    })
  } catch (err) {
    const cause = (err as { cause?: NodeJS.ErrnoException }).cause
    if (cause?.code === 'ECONNREFUSED') {
      throw new CliError(`no server is listening at ${server} (connection refused)`,
        'start one with `npm start` in this directory (the same .env), or pass --url with the server\'s address')
    }
    const why = (err as Error).name === 'TimeoutError'
      ? `no answer within ${TIMEOUT_MS / 1000} s`
      : cause?.message ?? (err as Error).message
    throw new CliError(`cannot reach ${server}: ${why}`, 'check --url, or HOST and PORT')
  }
}

/**
 * Sends a signed callback for an order, as the platform would. Prints (through `out`) what it used
 * and what the server answered; throws a CliError unless the server answered success.
 */
export async function simulatePayment (args: string[], env: CliEnv,
  out: (line: string) => void = console.log): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: SIMULATE_OPTIONS })
  if (values.help) return out(SIMULATE_HELP)
  const orderNo = positionals[0]
  if (!orderNo || positionals.length > 1) {
    throw new CliError('usage: gamepay simulate-payment <order> [options]', 'see gamepay simulate-payment --help')
  }
  if (values.amount !== undefined && parseYuan(values.amount, { allowString: true }) === null) {
    throw new CliError(`--amount must be yuan with at most two decimals, such as 30 or 6.48, got "${values.amount}"`)
  }
  const config = keyedConfigReader(values, env,
    (withOwnKey) => withOwnKey ? '--url and --amount' : '--secret, --url and --amount')

  const { base, source } = serverBase(values.url, env, config)
  out(`server:   ${base} (${source})`)
  const key = signingKey(values, env, config)
  out(`secret:   ${key.source}`)
  let amount: string | number
  let amountFrom: Attempt['amountFrom']
  if (values.amount !== undefined) {
    amount = values.amount
    amountFrom = { flag: true }
    out(`amount:   ${amount} yuan (--amount; no database read)`)
  } else {
    const { databaseUrl } = config()
    const database = `${displayDatabaseUrl(databaseUrl)} (${describeVar(env, 'DATABASE_URL')})`
    out(`database: ${database}`)
    amount = await orderAmount(orderNo, databaseUrl, database)
    amountFrom = { database }
    out(`amount:   ${amount} yuan (the order's, from the database)`)
  }

  const { body } = signParams({
    game_order_no: orderNo,
    gyyx_order_no: values.gyyx ?? `SIM${Date.now()}`,
    result: values.result,
    result_message: 'simulated',
    rmb_yuan: amount,
    server_flag: '',
    common_param: '',
    timestamp: String(Math.floor(Date.now() / 1000)),
  }, key.type, key)
  const url = `${base}/api/pay/callback`
  out(`POST ${url}\n${JSON.stringify(body)}`)
  const response = await post(url, body, base)
  const text = await response.text()
  out(`→ ${response.status} ${text}`)

  let answer: { result?: unknown, state?: unknown, message?: unknown } | null = null
  try {
    answer = JSON.parse(text)
  } catch {}
  if (answer?.result === 'success') return
  const state = typeof answer?.state === 'string' && answer.state ? answer.state : undefined
  const told = typeof answer?.message === 'string' ? `: ${answer.message}` : ''
  throw new CliError(`the server refused the callback: ${response.status} ${state ?? '(not a gamepay answer)'}${told}`,
    callbackHint(state, { orderNo, server: base, key, amountFrom, retryAfter: response.headers.get('retry-after') }))
}
