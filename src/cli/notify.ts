import { parseArgs } from 'node:util'
import { loadConfig, type Config } from '../config.ts'
import { toIso } from '../db/values.ts'
import {
  createNotificationService, NotifyError, NOWHERE, sendTestEvent, type AttemptReport, type NotificationService,
} from '../modules/notifications/notifications.service.ts'
import type { SendResult } from '../modules/notifications/notification-sender.ts'
import type { EventSummary } from '../modules/notifications/outbox.repository.ts'
import { describeVar, type CliEnv } from './cli-env.ts'
import { CliError } from './cli-error.ts'
import { displayDatabaseUrl } from './simulate-payment.ts'

export const NOTIFY_HELP = `gamepay notify <list|resend|test> [options]

The order.paid events gamepay POSTs to the game server (NOTIFY_URL, NOTIFY_URL_<FLAG>), read from
DATABASE_URL with the configuration the server uses (the environment, then .env in this directory).

  list [--failed] [--limit N]    the newest events with their status and last attempt
  resend <order|event_id>        send an event again now, as a new attempt of the same event
  test [--url URL]               send a signed test event to an endpoint (default NOTIFY_URL)

gamepay notify <command> --help tells more. Exit status 0: done (for resend and test: the
endpoint answered 2xx); 1: anything else, with the reason on stderr.`

export const LIST_OPTIONS = {
  failed: { type: 'boolean' },
  limit: { type: 'string', default: '50' },
  help: { type: 'boolean', short: 'h' },
} as const

const LIST_HELP = `gamepay notify list [--failed] [--limit N]

Lists the newest notification events, one a line: event_id, order, server_flag, status
(pending, delivered or failed), attempts, when it was made, and its last attempt's result.
A failed event (its retry schedule ended without a 2xx answer) needs an operator: fix the
receiver, then \`gamepay notify resend <event_id>\`.

  --failed             only the failed events
  --limit N            at most N events (default 50)
  -h, --help           this help`

export const RESEND_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
} as const

const RESEND_HELP = `gamepay notify resend <order|event_id>

Sends the event (by its event_id, or the newest event of the order) again now, to the URL the
configuration gives its server_flag, with the same body and event_id: a new attempt of the same
event. A 2xx answer marks it delivered; otherwise its status and retry schedule stay as they were.
Exit status 0 only when the endpoint answered 2xx.

  -h, --help           this help`

export const TEST_OPTIONS = {
  url: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const

const TEST_HELP = `gamepay notify test [--url URL]

POSTs a signed event of type "test" (no order, stored nowhere) to check an endpoint: that it is
reachable, verifies Gamepay-Signature with NOTIFY_SECRET, and answers 2xx. Exit status 0 only
when it answered 2xx.

  --url URL            the endpoint (default NOTIFY_URL)
  -h, --help           this help`

type Out = (line: string) => void

function loadNotifyConfig (env: CliEnv, url?: string): Config & { notify: NonNullable<Config['notify']> } {
  // --url stands in for NOTIFY_URL, so the secret's rules and the timeout are read as the server reads them.
  const config = loadConfig(url === undefined ? env.vars : { ...env.vars, NOTIFY_URL: url })
  if (!config.notify) {
    throw new CliError(NOWHERE, 'set NOTIFY_URL in .env or the environment, as the server has it')
  }
  return config as Config & { notify: NonNullable<Config['notify']> }
}

async function withService<T> (config: Config, fn: (service: NotificationService) => Promise<T>): Promise<T> {
  const { connect } = await import('../db/connect.ts')
  const { migrateToLatest } = await import('../db/migrate.ts')
  const store = connect(config.databaseUrl)
  try {
    await migrateToLatest(store)
    const { notify, dbStatementTimeoutMs: statementTimeoutMs } = config
    return await fn(createNotificationService({ store, clock: Date.now, notify, statementTimeoutMs }))
  } finally {
    await store.close()
  }
}

const when = (ms: number | null) => ms === null ? '-' : toIso(ms)

function lastResult (e: EventSummary): string {
  const a = e.last
  if (!a) return 'not tried yet'
  const answer = a.httpStatus !== null ? `HTTP ${a.httpStatus}` : ''
  const error = a.error ?? ''
  return [`#${a.attempt} ${a.trigger} ${toIso(a.startedAt)}:`, answer, error].filter(Boolean).join(' ')
}

function printResult (r: SendResult, out: Out) {
  const answer = r.httpStatus !== null ? `${r.httpStatus}` : 'no answer'
  out(`→ ${answer} in ${r.latencyMs} ms${r.error ? ` (${r.error})` : ''}`)
  if (r.head) out(`  ${r.head.replaceAll('\n', ' ')}`)
}

function refusal (r: SendResult, url: string): CliError {
  const why = r.httpStatus !== null ? `it answered ${r.httpStatus}` : r.error ?? 'no answer'
  return new CliError(`${url} did not accept the event: ${why}`,
    r.httpStatus === 401 || r.httpStatus === 403
      ? 'does the receiver verify with the same NOTIFY_SECRET?'
      : 'the receiver must answer 2xx once it has the event; redirects are not followed')
}

async function list (args: string[], env: CliEnv, out: Out) {
  const { values } = parseArgs({ args, options: LIST_OPTIONS })
  if (values.help) return out(LIST_HELP)
  const limit = Number(values.limit)
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
    throw new CliError(`--limit must be a whole number from 1 to 10000, got "${values.limit}"`)
  }
  const config = loadConfig(env.vars)
  const events = await withService(config, (s) => s.list({ failed: values.failed ?? false, limit }))
  if (events.length === 0) {
    out(values.failed ? 'no failed notification events' : 'no notification events')
    return
  }
  for (const e of events) {
    const settled = e.status === 'delivered'
      ? `delivered ${when(e.deliveredAt)}`
      : e.status === 'failed' ? `failed ${when(e.failedAt)}` : `next ${when(e.nextAttemptAt)}`
    const columns = [e.eventId, e.orderNo, e.serverFlag || '-', e.status, `attempts=${e.attempts}`]
    out([...columns, `created ${toIso(e.createdAt)}`, settled, `last: ${lastResult(e)}`].join('  '))
  }
}

async function resend (args: string[], env: CliEnv, out: Out) {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: RESEND_OPTIONS })
  if (values.help) return out(RESEND_HELP)
  if (positionals.length !== 1) {
    throw new CliError('usage: gamepay notify resend <order|event_id>', 'see gamepay notify resend --help')
  }
  const config = loadNotifyConfig(env)
  out(`database: ${displayDatabaseUrl(config.databaseUrl)} (${describeVar(env, 'DATABASE_URL')})`)
  let report: AttemptReport
  try {
    report = await withService(config, (s) => s.resend(positionals[0]))
  } catch (err) {
    if (err instanceof NotifyError) throw new CliError(err.message, 'see gamepay notify list')
    throw err
  }
  out(`event ${report.eventId} (order ${report.orderNo}): attempt ${report.attempt}, resend`)
  out(`POST ${report.url ?? '(no URL)'}`)
  printResult(report.result, out)
  out(`status: ${report.status}`)
  if (!report.result.ok) throw refusal(report.result, report.url ?? '(no URL)')
}

async function test (args: string[], env: CliEnv, out: Out) {
  const { values } = parseArgs({ args, options: TEST_OPTIONS })
  if (values.help) return out(TEST_HELP)
  if (values.url !== undefined) {
    let url: URL
    try {
      url = new URL(values.url)
    } catch {
      throw new CliError(`--url "${values.url}" is not a URL`, 'pass the endpoint, such as http://127.0.0.1:9000/gamepay')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new CliError(`--url must be http:// or https://, got "${values.url}"`)
    }
  }
  const config = loadNotifyConfig(env, values.url)
  const url = values.url ?? config.notify.url
  if (!url) throw new CliError('NOTIFY_URL is not set', 'pass --url with the endpoint to test')
  out(`secret: ${config.notify.secretIsDevDefault ? 'the development secret' : describeVar(env, 'NOTIFY_SECRET')}`)
  const { eventId, payload, result } = await sendTestEvent(config.notify, url)
  out(`POST ${url}\n${payload}`)
  printResult(result, out)
  if (!result.ok) throw refusal(result, url)
  out(`ok: ${eventId} was accepted`)
}

/** `gamepay notify …`; throws a CliError (exit 1) on any failure. */
export async function notifyCommand (args: string[], env: CliEnv, out: Out = console.log): Promise<void> {
  const [command, ...rest] = args
  switch (command) {
    case 'list': return list(rest, env, out)
    case 'resend': return resend(rest, env, out)
    case 'test': return test(rest, env, out)
    case undefined: case 'help': case '--help': case '-h':
      return out(NOTIFY_HELP)
    default:
      throw new CliError(`unknown notify command "${command}"`, 'gamepay notify --help')
  }
}
