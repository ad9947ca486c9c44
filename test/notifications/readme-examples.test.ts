// The receivers the README shows game-server developers (node-receiver.mjs, go-receiver/main.go),
// run as real processes and sent real events: a good signature is granted once however often it
// comes, a wrong secret is refused and retried.
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import type { DialectName } from '../../src/db/dialect.ts'
import { createOrder, forEachDialect, freshDatabaseUrl, pay } from '../helper.ts'
import { until } from './receiver.ts'
import { attemptRows, eventsOf, notifyApp, NOTIFY_SECRET } from './notify-app.ts'

interface Example { name: string, command: () => string[] | null, env: (addr: { host: string, port: string }) => Record<string, string> }

const hasGo = spawnSync('go', ['version']).status === 0
const goBuild = join(mkdtempSync(join(tmpdir(), 'gamepay-go-receiver-')), 'receiver')

const EXAMPLES: Example[] = [
  { name: 'Node', command: () => [process.execPath, join(import.meta.dirname, 'node-receiver.mjs')], env: (a) => ({ HOST: a.host, PORT: a.port }) },
  { name: 'Go', command: () => hasGo ? [goBuild] : null, env: (a) => ({ ADDR: `${a.host}:${a.port}` }) },
]

/** Starts the example on a free port and resolves with its URL and what it printed. */
async function startExample (example: Example): Promise<{ url: string, output: () => string, child: ChildProcess }> {
  const [file, ...args] = example.command() as string[]
  const env = { PATH: process.env.PATH ?? '', NOTIFY_SECRET, ...example.env({ host: '127.0.0.1', port: '0' }) }
  const child = spawn(file, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (c: Buffer) => { out += c.toString('utf8') })
  child.stderr?.on('data', (c: Buffer) => { out += c.toString('utf8') })
  await until(`the ${example.name} example listens`, () => /listening on /.test(out) || child.exitCode !== null)
  const address = /listening on (\S+)/.exec(out)?.[1]
  if (!address) throw new Error(`the ${example.name} example did not start:\n${out}`)
  return { url: `http://${address}/gamepay/events`, output: () => out, child }
}

function exampleStories (dialect: DialectName, example: Example) {
  describe(`the README's ${example.name} receiver`, { skip: example.command() === null && `${example.name} is not installed` }, () => {
    let receiver: Awaited<ReturnType<typeof startExample>>
    let url: string
    before(async () => {
      if (example.name === 'Go') {
        const built = spawnSync('go', ['build', '-o', goBuild, join(import.meta.dirname, 'go-receiver', 'main.go')],
          { env: { ...process.env, GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'gamepay-go-cache') } })
        assert.equal(built.status, 0, built.stderr?.toString())
      }
      receiver = await startExample(example)
      url = await freshDatabaseUrl(dialect)
    })
    after(() => { receiver?.child.kill() })

    test('when an order is paid, then the example verifies the signature and grants it once, however often the event comes', async () => {
      const t = await notifyApp(dialect, { url, notifyUrl: receiver.url })
      try {
        const o = await createOrder(t.app, { user_id: `readme-${example.name}`, server_flag: 's1' })
        assert.equal((await pay(t.app, o.order, 30)).status, 200)
        const [report] = await t.ctx.notifications.deliverDue()
        assert.deepEqual([report.outcome, report.result.httpStatus], ['delivered', 200])
        // The same event again (as after a lost answer): 2xx, and nothing granted twice.
        const again = await t.ctx.notifications.resend(report.eventId)
        assert.deepEqual([again.outcome, again.result.httpStatus], ['delivered', 200])
        const [event] = await eventsOf(t, o.order)
        assert.equal(event.status, 'delivered')
        assert.equal(receiver.output().split(`granted ${o.order}: item 2 x1 to readme-${example.name} on s1\n`).length, 2, receiver.output())
      } finally {
        await t.close()
      }
    })

    test('when the events are signed with another secret, then the example refuses them with 401 and they are retried', async () => {
      const t = await notifyApp(dialect, { url, notifyUrl: receiver.url, env: { NOTIFY_SECRET: 'not-the-receivers-secret-16+' } })
      try {
        const o = await createOrder(t.app, { user_id: `readme-bad-${example.name}` })
        assert.equal((await pay(t.app, o.order, 30)).status, 200)
        const [report] = await t.ctx.notifications.deliverDue()
        assert.deepEqual([report.outcome, report.result.httpStatus], ['retry', 401])
        assert.equal((await attemptRows(t, report.eventId))[0].http_status, 401)
        assert.doesNotMatch(receiver.output(), new RegExp(`granted ${o.order}`))
      } finally {
        await t.close()
      }
    })
  })
}

forEachDialect('receiving notifications as the README shows', (dialect) => {
  for (const example of EXAMPLES) exampleStories(dialect, example)
})
