// WORKERS=2: one `gamepay serve` whose primary process forks two workers on one port, each a whole
// instance with its own leased worker id; the primary restarts a worker that dies, gives up on
// workers that can't start, and on SIGTERM lets every worker finish and give its id back. SQLite
// refuses more than one worker.
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { availableParallelism } from 'node:os'
import { after, before, describe, test } from 'node:test'
import { ConfigError, loadConfig } from '../src/config.ts'
import type { Store } from '../src/db/connect.ts'
import { createOrderAcrossSignal, DIALECTS } from '../test/helper.ts'
import {
  bounded, call, createOrder, forEachSharedDialect, freePort, freshSystemDatabase, openStore, sleep, startInstance, stopAll,
  workerIdOf, MONTH_CARD, type Instance,
} from './processes.ts'

interface Worker { pid: number, workerId: number }

/**
 * The instance's whole log (LOG_LEVEL=info), kept from now on: with a line per request, the last
 * 200 lines the instance keeps soon lose the workers' start-up lines.
 */
function fullLog (instance: Instance) {
  const lines = instance.output().split('\n')
  let partial = ''
  instance.child.stdout?.on('data', (chunk: Buffer) => {
    const text = partial + chunk.toString('utf8')
    const complete = text.split('\n')
    partial = complete.pop() ?? ''
    lines.push(...complete)
  })
  const entries = () => lines.flatMap((line) => {
    try {
      return [JSON.parse(line) as { pid: number, level: number, msg: string }]
    } catch {
      return []
    }
  })
  return {
    /** Every worker that has listened, in order: its pid and the worker id it leased. */
    workers: (): Worker[] => entries().flatMap((e) => {
      const match = /^gamepay listening on \S+ \(database: \w+, worker id (\d+)\)$/.exec(e.msg)
      return match ? [{ pid: e.pid, workerId: Number(match[1]) }] : []
    }),
    said: (pattern: RegExp) => entries().some((e) => pattern.test(e.msg)),
    text: () => lines.join('\n'),
  }
}

/** Polls until `done` holds; a hang guard, not a timing assertion. */
async function until (what: string, done: () => boolean, log: ReturnType<typeof fullLog>) {
  const deadline = Date.now() + 45_000
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}:\n${log.text()}`)
    await sleep(100)
  }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** One request on a connection of its own, so each is handed to a worker afresh. */
const createOnNewConnection = (base: string, user: string) =>
  call(base, 'POST', '/api/pay/create-order', { body: { user_id: user, ...MONTH_CARD }, headers: { connection: 'close' } })

/** GET /metrics on a connection of its own, so that either worker may take it. */
const scrape = (base: string) => new Promise<string>((resolve, reject) => {
  request(`${base}/metrics`, { agent: false }, (res) => {
    let text = ''
    res.setEncoding('utf8')
    res.on('data', (chunk: string) => { text += chunk })
    res.on('end', () => res.statusCode === 200 ? resolve(text) : reject(new Error(`/metrics answered ${res.statusCode}: ${text}`)))
  }).on('error', reject).end()
})

forEachSharedDialect('WORKERS=2', (dialect) => {
  let url: string
  let store: Store
  let instance: Instance
  let log: ReturnType<typeof fullLog>
  let first: Worker[]
  let victim: Worker

  before(async () => {
    url = await freshSystemDatabase(dialect)
    store = openStore(url)
    // A lease far longer than the test, so a killed worker's id is still leased at the end.
    instance = await startInstance({ url, name: `WORKERS=2 (${dialect})`, env: { WORKERS: '2', LOG_LEVEL: 'info', WORKER_LEASE_TTL_MS: '600000' } })
    log = fullLog(instance)
  })
  after(async () => {
    await stopAll('kill')
    await store?.close()
  })

  test('when it starts, then two worker processes each lease their own worker id, and requests land on both', async () => {
    await until('two workers listening', () => log.workers().length === 2, log)
    first = log.workers()
    assert.equal(new Set(first.map((w) => w.pid)).size, 2)
    assert.ok(first.every((w) => w.pid !== instance.pid), 'the primary serves nothing itself')
    assert.equal(new Set(first.map((w) => w.workerId)).size, 2, `worker ids: ${first.map((w) => w.workerId)}`)

    const leases = await store.db.selectFrom('worker_leases').select(['worker_id', 'owner', 'expires_at']).execute()
    const held = leases.filter((l) => Number(l.expires_at) > Date.now())
    assert.deepEqual(held.map((l) => Number(l.worker_id)).sort(), first.map((w) => w.workerId).sort())
    for (const w of first) assert.ok(held.some((l) => Number(l.worker_id) === w.workerId && l.owner.includes(`:${w.pid}:`)), `worker ${w.pid} holds its lease`)

    const users = Array.from({ length: 60 }, (_, i) => `cluster-${i}`)
    const results = await bounded(users, 12, (user) => createOrder(instance.base, user))
    const numbers = results.map((r, i) => {
      assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason))
      const reply = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof createOrder>>>).value
      assert.equal(reply.status, 200, JSON.stringify(reply.body))
      assert.equal(reply.body.data.user_id, users[i])
      return reply.body.data.order as string
    })
    assert.equal(new Set(numbers).size, 60)
    assert.deepEqual(new Set(numbers.map(workerIdOf)), new Set(first.map((w) => w.workerId)), 'both workers made orders')
    const stored = await store.db.selectFrom('orders').select('order_no').execute()
    assert.deepEqual(new Set(stored.map((o) => o.order_no)), new Set(numbers))
  })

  test('when /metrics is scraped, then whichever worker answers counts what both workers did', async () => {
    // The 60 orders of the test before, made by both workers.
    for (let i = 0; i < 4; i++) {
      const text = await scrape(instance.base)
      assert.match(text, /^gamepay_orders_created_total 60$/m)
      assert.match(text, /^gamepay_http_request_duration_seconds_count\{route="\/api\/pay\/create-order",status="200"\} 60$/m)
      assert.match(text, /^gamepay_db_up 1$/m)
    }
  })

  test('when a worker is killed with SIGKILL, then the service keeps answering and the primary starts another with a new worker id', async () => {
    victim = first[0]
    const survivor = first[1]
    process.kill(victim.pid, 'SIGKILL')
    await until('the primary to see the worker die', () => log.said(new RegExp(`^worker ${victim.pid} exited \\(signal SIGKILL\\)`)), log)

    const meanwhile = []
    for (let i = 0; i < 10; i++) meanwhile.push(await createOnNewConnection(instance.base, `meanwhile-${i}`))
    for (const reply of meanwhile) assert.equal(reply.status, 200, JSON.stringify(reply.body))

    await until('a third worker listening', () => log.workers().length === 3, log)
    const newcomer = log.workers()[2]
    assert.ok(alive(newcomer.pid))
    assert.ok(!alive(victim.pid))
    // The killed worker's lease runs until it expires, so the newcomer cannot take its id.
    assert.ok(![victim.workerId, survivor.workerId].includes(newcomer.workerId), `new worker id ${newcomer.workerId}`)

    const users = Array.from({ length: 40 }, (_, i) => `after-${i}`)
    const results = await bounded(users, 12, (user) => createOrder(instance.base, user))
    const ids = new Set(results.map((r) => {
      assert.equal(r.status, 'fulfilled', String((r as PromiseRejectedResult).reason))
      const reply = (r as PromiseFulfilledResult<Awaited<ReturnType<typeof createOrder>>>).value
      assert.equal(reply.status, 200, JSON.stringify(reply.body))
      return workerIdOf(reply.body.data.order)
    }))
    assert.deepEqual(ids, new Set([survivor.workerId, newcomer.workerId]))
    assert.ok(instance.running())
    assert.equal(Number((await store.db.selectFrom('orders').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n), 110)
  })

  test('when the primary gets SIGTERM during a request, then that request completes, every worker stops and gives its worker id back', async () => {
    const running = log.workers().slice(1)
    // A request whose body is still arriving when the signal comes.
    const body = JSON.stringify({ user_id: 'in-flight', ...MONTH_CARD })
    const inFlight = createOrderAcrossSignal(instance.port, body, () => instance.child.kill('SIGTERM'))
    const done = await inFlight
    assert.equal(done.status, 200, done.text)
    const order = JSON.parse(done.text).data.order as string
    const { code } = await instance.exited
    assert.equal(code, 0, log.text())
    for (const w of running) assert.ok(!alive(w.pid), `worker ${w.pid} stopped`)
    assert.ok(log.said(/^all workers stopped$/))

    const stored = await store.db.selectFrom('orders').select('status').where('order_no', '=', order).executeTakeFirst()
    assert.equal(stored?.status, 'unpaid', 'the in-flight order was stored')
    const leases = await store.db.selectFrom('worker_leases').select(['worker_id', 'expires_at']).execute()
    const now = Date.now()
    for (const w of running) {
      const lease = leases.find((l) => Number(l.worker_id) === w.workerId)
      assert.ok(lease && Number(lease.expires_at) <= now, `worker id ${w.workerId} was given back`)
    }
    const crashed = leases.find((l) => Number(l.worker_id) === victim.workerId)
    assert.ok(crashed && Number(crashed.expires_at) > now, 'the killed worker\'s id stays leased until its lease runs out')
  })
})

describe('WORKERS configuration', () => {
  const pg = 'postgres://postgres@127.0.0.1:5432/gamepay'
  const refuses = (env: Record<string, string>, variable: string, message: RegExp) => assert.throws(() => loadConfig(env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err))
    assert.ok(err.message.startsWith(`${variable}:`), err.message)
    assert.match(err.message, message)
    return true
  })

  test('when WORKERS is unset, a count or auto, then that many processes serve; with a fixed WORKER_ID or a bad value it is refused', () => {
    assert.equal(loadConfig({}).workers, 1)
    assert.equal(loadConfig({ DATABASE_URL: pg, WORKERS: '3' }).workers, 3)
    assert.equal(loadConfig({ DATABASE_URL: pg, WORKERS: 'auto' }).workers, availableParallelism())
    assert.equal(loadConfig({ DATABASE_URL: 'sqlite::memory:', WORKERS: '1', WORKER_ID: '7' }).workerId, 7)
    refuses({ DATABASE_URL: pg, WORKERS: '2', WORKER_ID: '7' }, 'WORKER_ID', /each of the 2 worker processes leases its own worker id/)
    refuses({ DATABASE_URL: pg, WORKERS: '0' }, 'WORKERS', /between 1 and 256/)
    refuses({ DATABASE_URL: pg, WORKERS: 'many' }, 'WORKERS', /whole number/)
  })

  test('when WORKERS is more than 1 on SQLite, then the configuration is refused: one SQLite file takes one writer', () => {
    refuses({ DATABASE_URL: 'sqlite:./data/gamepay.db', WORKERS: '2' }, 'WORKERS', /must be 1 with SQLite/)
    if (availableParallelism() > 1) refuses({ WORKERS: 'auto' }, 'WORKERS', /must be 1 with SQLite/)
    else assert.equal(loadConfig({ WORKERS: 'auto' }).workers, 1)
  })

  if (DIALECTS.includes('sqlite')) {
    test('when `gamepay serve` starts with WORKERS=2 on SQLite, then it exits 1 naming WORKERS before forking anything', async () => {
      const url = await freshSystemDatabase('sqlite')
      const refused = await startInstance({ url, env: { WORKERS: '2', LOG_LEVEL: 'info' }, expectExit: true })
      assert.equal((await refused.exited).code, 1)
      assert.match(refused.output(), /^configuration error: WORKERS: must be 1 with SQLite/m)
      assert.doesNotMatch(refused.output(), /starting 2 workers/)
    })
  }

  test('when workers keep dying before they listen, then the primary gives up and exits 1', async () => {
    // A database server that is not there: every worker fails its start the same way.
    const nowhere = `postgres://postgres@127.0.0.1:${await freePort()}/gamepay`
    const gaveUp = await startInstance({ url: nowhere, env: { WORKERS: '2' }, expectExit: true })
    assert.equal((await gaveUp.exited).code, 1)
    assert.match(gaveUp.output(), /workers exited before listening 5 times in a row \(the last: code 1\); giving up/)
  })
})
