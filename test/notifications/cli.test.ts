// `gamepay notify` as an operator runs it: a real child process, checked by its output, its exit
// code, what the receiver got and what it leaves in the database.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve as resolvePath } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { LIST_OPTIONS, TEST_OPTIONS } from '../../src/cli/notify.ts'
import { createOrder, forEachDialect, pay } from '../helper.ts'
import { closedPortUrl, startReceiver, verifySignature, type Receiver } from './receiver.ts'
import { attemptRows, eventsOf, notifyApp, NOTIFY_SECRET, testClock, type NotifyApp } from './notify-app.ts'

const BIN = resolvePath(import.meta.dirname, '../../bin/gamepay.js')

interface Run { code: number, stdout: string, stderr: string }

/** `node bin/gamepay.js …` in an empty directory with only the given environment. */
function gamepay (args: string[], env: Record<string, string> = {}): Promise<Run> {
  const cwd = mkdtempSync(join(tmpdir(), 'gamepay-notify-cli-'))
  return new Promise((resolve) => {
    const options = { cwd, env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env }, timeout: 60_000 }
    execFile(process.execPath, [BIN, ...args], options, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr })
    })
  })
}

describe('gamepay notify --help', () => {
  test('when help is asked for, then each notify command explains itself and its every flag, exit 0', async () => {
    const [top, viaHelp, list, resend, testRun] = await Promise.all([
      gamepay(['notify', '--help']),
      gamepay(['help', 'notify']),
      gamepay(['notify', 'list', '--help']),
      gamepay(['notify', 'resend', '--help']),
      gamepay(['notify', 'test', '--help']),
    ])
    for (const run of [top, viaHelp, list, resend, testRun]) {
      assert.equal(run.code, 0, run.stderr)
      assert.equal(run.stderr, '')
    }
    assert.equal(viaHelp.stdout, top.stdout)
    for (const command of ['list', 'resend <order|event_id>', 'test']) assert.match(top.stdout, new RegExp(`^  ${command} `, 'm'))
    for (const [run, options] of [[list, LIST_OPTIONS], [testRun, TEST_OPTIONS]] as const) {
      for (const name of Object.keys(options)) assert.match(run.stdout, new RegExp(`^  (-h, )?--${name}\\b`, 'm'), `--${name} is explained`)
    }
    assert.match(resend.stdout, /^gamepay notify resend <order\|event_id>\n/)
    const general = await gamepay(['--help'])
    assert.match(general.stdout, /^ {2}notify resend <order\|event_id> /m)
  })

  test('when the notify command is unknown, then it exits 1 pointing at the help', async () => {
    const run = await gamepay(['notify', 'sned'])
    assert.equal(run.code, 1)
    assert.equal(run.stderr, 'gamepay: unknown notify command "sned"\nhint: gamepay notify --help\n')
  })
})

describe('gamepay notify test', () => {
  let ok: Receiver
  let refusing: Receiver
  before(async () => {
    ok = await startReceiver(() => ({ status: 200, body: 'received' }))
    refusing = await startReceiver(() => ({ status: 401, body: 'bad signature' }))
  })
  after(async () => {
    await ok.close()
    await refusing.close()
  })

  test('when the endpoint answers 2xx, then it got a signed test event and the command exits 0', async () => {
    const run = await gamepay(['notify', 'test', '--url', ok.url], { NOTIFY_SECRET })
    assert.equal(run.code, 0, run.stderr)
    assert.equal(ok.requests.length, 1)
    const [req] = ok.requests
    assert.ok(verifySignature(req.headers['gamepay-signature'], req.raw, NOTIFY_SECRET).ok)
    assert.equal(req.json.type, 'test')
    assert.match(req.json.event_id, /^evt_[0-9a-f]{32}$/)
    assert.match(run.stdout, /^secret: NOTIFY_SECRET from the environment\n/)
    assert.match(run.stdout, new RegExp(`^POST ${ok.url}\n`, 'm'))
    assert.match(run.stdout, /^→ 200 in \d+ ms\n {2}received\n/m)
    assert.match(run.stdout, new RegExp(`^ok: ${req.json.event_id} was accepted\n$`, 'm'))
    assert.ok(!run.stdout.includes(NOTIFY_SECRET) && !run.stderr.includes(NOTIFY_SECRET), 'the secret is never printed')
  })

  test('when NOTIFY_URL is set, then it is the endpoint tested', async () => {
    const before = ok.requests.length
    const run = await gamepay(['notify', 'test'], { NOTIFY_URL: ok.url })
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^secret: the development secret\n/)
    assert.equal(ok.requests.length, before + 1)
    const last = ok.requests[ok.requests.length - 1]
    assert.ok(verifySignature(last.headers['gamepay-signature'], last.raw, 'gamepay-development-notify-secret').ok)
  })

  test('when the endpoint refuses, cannot be reached or is not given, then it exits 1 saying why', async () => {
    const closed = await closedPortUrl()
    const [refused, unreachable, none, badUrl] = await Promise.all([
      gamepay(['notify', 'test', '--url', refusing.url], { NOTIFY_SECRET }),
      gamepay(['notify', 'test', '--url', closed], { NOTIFY_SECRET }),
      gamepay(['notify', 'test'], { NOTIFY_SECRET }),
      gamepay(['notify', 'test', '--url', 'ftp://example'], { NOTIFY_SECRET }),
    ])
    assert.equal(refused.code, 1)
    assert.match(refused.stdout, /^→ 401 in \d+ ms\n {2}bad signature\n/m)
    assert.equal(refused.stderr, `gamepay: ${refusing.url} did not accept the event: it answered 401\n` +
      'hint: does the receiver verify with the same NOTIFY_SECRET?\n')
    assert.equal(unreachable.code, 1)
    assert.match(unreachable.stderr, /did not accept the event: connection refused \(ECONNREFUSED\)\n/)
    assert.equal(none.code, 1)
    assert.match(none.stderr, /^gamepay: no NOTIFY_URL \(nor NOTIFY_URL_<FLAG>\) is configured/)
    assert.equal(badUrl.code, 1)
    assert.equal(badUrl.stderr, 'gamepay: --url must be http:// or https://, got "ftp://example"\n')
  })
})

forEachDialect('gamepay notify list and resend', (dialect) => {
  let receiver: Receiver
  let t: NotifyApp
  let answer = 500
  const clock = testClock()
  const orders = { delivered: '', failed: '' }
  let failedEvent = ''
  const env = () => ({ DATABASE_URL: t.url, NOTIFY_URL: receiver.url, NOTIFY_SECRET })

  before(async () => {
    // The user "cli-failing" is refused until the test says otherwise; everyone else is accepted.
    receiver = await startReceiver((req) => ({ status: req.json?.data?.user_id === 'cli-failing' ? answer : 200, body: `answer ${answer}` }))
    t = await notifyApp(dialect, { notifyUrl: receiver.url, clock: clock.now, env: { NOTIFY_RETRY_SECONDS: '1' } })
    const good = await createOrder(t.app, { user_id: 'cli-ok', server_flag: 's1' })
    const bad = await createOrder(t.app, { user_id: 'cli-failing', server_flag: 's2' })
    orders.delivered = good.order
    orders.failed = bad.order
    assert.equal((await pay(t.app, good.order, 30)).status, 200)
    assert.equal((await pay(t.app, bad.order, 30)).status, 200)
    await t.ctx.notifications.deliverDue()
    clock.advance(1000)
    await t.ctx.notifications.deliverDue()
    const [failed] = await eventsOf(t, bad.order)
    assert.equal(failed.status, 'failed')
    failedEvent = failed.event_id
  })
  after(async () => {
    await t?.close()
    await receiver?.close()
  })

  test('when the events are listed, then each shows its status and last attempt; --failed shows the failed ones only', async () => {
    const [all, failed] = await Promise.all([gamepay(['notify', 'list'], env()), gamepay(['notify', 'list', '--failed'], env())])
    assert.equal(all.code, 0, all.stderr)
    const lines = all.stdout.trim().split('\n')
    assert.equal(lines.length, 2)
    assert.match(lines[0], new RegExp(`^${failedEvent} {2}${orders.failed} {2}s2 {2}failed {2}attempts=2 {2}created 2025-03-01T08:00:00.000Z {2}` +
      'failed 2025-03-01T08:00:01.000Z {2}last: #2 schedule 2025-03-01T08:00:01.000Z: HTTP 500$'))
    assert.match(lines[1], new RegExp(`^evt_[0-9a-f]{32} {2}${orders.delivered} {2}s1 {2}delivered {2}attempts=1 .* last: #1 schedule .*: HTTP 200$`))
    assert.equal(failed.code, 0, failed.stderr)
    assert.equal(failed.stdout, `${lines[0]}\n`)
  })

  test('when a failed event is resent and refused again, then it exits 1, stays failed, and the attempt is recorded as a resend', async () => {
    const run = await gamepay(['notify', 'resend', failedEvent], env())
    assert.equal(run.code, 1, run.stdout)
    const told = `^event ${failedEvent} \\(order ${orders.failed}\\): attempt 3, resend\nPOST ${receiver.url}\n→ 500 in \\d+ ms\n`
    assert.match(run.stdout, new RegExp(told, 'm'))
    assert.match(run.stdout, /^status: failed$/m)
    assert.match(run.stderr, /did not accept the event: it answered 500\n/)
    const [event] = await eventsOf(t, orders.failed)
    assert.deepEqual([event.status, event.attempts, event.lease_owner], ['failed', 3, null])
    const attempts = await attemptRows(t, failedEvent)
    assert.deepEqual(attempts.map((a) => [a.attempt, a.trigger, a.http_status]), [[1, 'schedule', 500], [2, 'schedule', 500], [3, 'resend', 500]])
  })

  test('when a failed event is resent by its order to a receiver that now accepts, then the same event is delivered, exit 0', async () => {
    answer = 200
    const before = receiver.of(failedEvent)
    const run = await gamepay(['notify', 'resend', orders.failed], env())
    assert.equal(run.code, 0, run.stderr)
    assert.match(run.stdout, /^→ 200 in \d+ ms\n {2}answer 200\nstatus: delivered\n$/m)
    const sent = receiver.of(failedEvent)
    assert.equal(sent.length, before.length + 1)
    // The same bytes and event_id as every earlier attempt, freshly signed.
    assert.equal(sent.at(-1)?.raw, before[0].raw)
    assert.ok(verifySignature(sent.at(-1)?.headers['gamepay-signature'], sent.at(-1)?.raw ?? '', NOTIFY_SECRET).ok)
    const [event] = await eventsOf(t, orders.failed)
    assert.equal(event.status, 'delivered')
    assert.equal(event.attempts, 4)
    assert.ok(event.delivered_at !== null)
    assert.deepEqual((await attemptRows(t, failedEvent)).at(-1)?.trigger, 'resend')

    const listed = await gamepay(['notify', 'list', '--failed'], env())
    assert.equal(listed.stdout, 'no failed notification events\n')
  })

  test('when the event is unknown or nowhere is configured, then resend exits 1 and sends nothing', async () => {
    const before = receiver.requests.length
    const [unknown, noUrl] = await Promise.all([
      gamepay(['notify', 'resend', 'evt_nope'], env()),
      gamepay(['notify', 'resend', failedEvent], { DATABASE_URL: t.url }),
    ])
    assert.equal(unknown.code, 1)
    assert.equal(unknown.stderr, 'gamepay: no notification event has the event_id or order "evt_nope"\nhint: see gamepay notify list\n')
    assert.equal(noUrl.code, 1)
    assert.match(noUrl.stderr, /^gamepay: no NOTIFY_URL \(nor NOTIFY_URL_<FLAG>\) is configured/)
    assert.equal(receiver.requests.length, before)
  })
})
