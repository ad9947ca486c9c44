// deploy/nginx.conf, run by Debian's nginx in front of two instances, carries the whole flow.
import assert from 'node:assert/strict'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import type { GamepayClient } from '@gamepay/client'
import type { Store } from '../src/db/connect.ts'
import {
  assertEnvelope, call, clientFor, createOrder, fetchFrom, forEachSharedDialect, freePort, freshSystemDatabase, openStore,
  paidCallback, payOrder, sleep, startInstance, stopAll, workerIdOf, MONTH_CARD, ROOT, type Instance, type Reply,
} from './processes.ts'

const NGINX = '/usr/sbin/nginx'
// CI installs nginx (.ci/run) and must run this file; a developer without nginx is told why it skipped.
const skip = !existsSync(NGINX) && !process.env.CI ? 'nginx is not installed (apt-get install nginx)' : false
const ok = (res: Reply) => res.status === 200 && res.body.result === 'success' && res.body.state === ''

// The client's own address on loopback: nginx must hand this one to the service, not its own.
const CLIENT_IP = '127.0.0.7'

interface Nginx {
  base: string
  dir: string
  accessLog: () => string
  stop: () => Promise<void>
}

/** deploy/nginx.conf with only its addresses and log path rewritten, under a scratch prefix. */
async function startNginx (upstreams: [number, number]): Promise<Nginx> {
  const dir = mkdtempSync(join(tmpdir(), 'gamepay-nginx-'))
  chmodSync(dir, 0o755) // nginx's workers drop root and still need the temp directories
  const port = await freePort()
  const replacements: [string, string][] = [
    ['server 127.0.0.1:8081 ', `server 127.0.0.1:${upstreams[0]} `],
    ['server 127.0.0.1:8082 ', `server 127.0.0.1:${upstreams[1]} `],
    ['listen 127.0.0.1:8080;', `listen 127.0.0.1:${port};`],
    ['/var/log/nginx/gamepay.access.log', join(dir, 'access.log')],
  ]
  let site = readFileSync(join(ROOT, 'deploy', 'nginx.conf'), 'utf8')
  for (const [from, to] of replacements) {
    assert.equal(site.split(from).length, 2, `deploy/nginx.conf should contain "${from}" exactly once`)
    site = site.replace(from, to)
  }
  writeFileSync(join(dir, 'gamepay.conf'), site)
  // What Debian's /etc/nginx/nginx.conf around conf.d/ provides, in the scratch prefix.
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 256; }
http {
  client_body_temp_path ${join(dir, 'client_body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  include ${join(dir, 'gamepay.conf')};
}
`)
  const args = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')]
  const checked = spawnSync(NGINX, [...args, '-t'], { encoding: 'utf8' })
  assert.equal(checked.status, 0, `nginx -t refused the configuration:\n${checked.stderr}`)

  const child: ChildProcess = spawn(NGINX, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
  let exited = false
  const done = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve() }))
  const base = `http://127.0.0.1:${port}`
  const nginx: Nginx = {
    base,
    dir,
    accessLog: () => (existsSync(join(dir, 'access.log')) ? readFileSync(join(dir, 'access.log'), 'utf8') : ''),
    async stop () {
      if (exited) return
      child.kill('SIGQUIT') // graceful: finish the requests in flight
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await done
      clearTimeout(timer)
    },
  }
  process.once('exit', () => { if (!exited) child.kill('SIGKILL') })
  for (let i = 0; ; i++) {
    if (exited) throw new Error(`nginx exited at start:\n${stderr}\n${readFileSync(join(dir, 'error.log'), 'utf8')}`)
    try {
      if ((await call(base, 'GET', '/healthz', { timeoutMs: 2000 })).status === 200) return nginx
    } catch {}
    if (i > 100) {
      await nginx.stop()
      throw new Error(`nginx did not answer:\n${stderr}`)
    }
    await sleep(100)
  }
}

forEachSharedDialect('two instances behind nginx', (dialect) => {
  let url: string
  let store: Store
  let instances: Instance[]
  let nginx: Nginx
  // A game server and the payment platform, at the client address, through nginx.
  let client: GamepayClient
  const workerIds = new Set<number>()

  before(async () => {
    if (skip) return
    url = await freshSystemDatabase(dialect)
    store = openStore(url)
    const env = { TRUST_PROXY: '127.0.0.1', CALLBACK_ALLOW_IPS: CLIENT_IP, LOG_LEVEL: 'info' }
    instances = await Promise.all([1, 2].map((n) => startInstance({ url, name: `upstream ${n} (${dialect})`, env })))
    for (const instance of instances) workerIds.add((await call(instance.base, 'GET', '/readyz')).body.data.worker_id)
    nginx = await startNginx([instances[0].port, instances[1].port])
    client = clientFor(nginx.base, { fetch: fetchFrom(CLIENT_IP) })
  })
  after(async () => {
    await nginx?.stop()
    await stopAll('kill')
    await store?.close()
  })

  const via = { localAddress: CLIENT_IP }

  test('when a player orders, the platform pays and the game verifies through nginx, then the whole flow succeeds', { skip }, async () => {
    const goods = await client.goods(2)
    assert.deepEqual({ ...goods, on_sale: true }, { id: 2, item: MONTH_CARD.item, single_pric: MONTH_CARD.single_pric, on_sale: true })

    const { order } = await client.createOrder({ user_id: 'lb-player', ...MONTH_CARD })
    await client.callback(paidCallback(order, `PLB-${order}`))
    const verified = await client.verify({ user_id: 'lb-player', item: MONTH_CARD.item, order })
    assert.equal(verified.status, 'paid')
    assert.equal(verified.gyyx_order_no, `PLB-${order}`)

    const other = await client.createOrder({ user_id: 'lb-player-2', ...MONTH_CARD })
    const cancelled = await client.cancelOrder({ user_id: 'lb-player-2', order: other.order })
    assert.deepEqual(cancelled, { order: other.order, status: 'cancelled' })

    const row = await store.db.selectFrom('orders').select(['status', 'gyyx_order_no', 'verify_count']).where('order_no', '=', order).executeTakeFirstOrThrow()
    assert.deepEqual({ ...row, verify_count: Number(row.verify_count) }, { status: 'paid', gyyx_order_no: `PLB-${order}`, verify_count: 1 })
    const log = await store.db.selectFrom('callbacks').select(['source_ip', 'outcome']).where('game_order_no', '=', order).execute()
    assert.deepEqual(log, [{ source_ip: CLIENT_IP, outcome: 'paid' }], 'the service saw the client address nginx forwarded')
    const gone = await store.db.selectFrom('orders').select('status').where('order_no', '=', other.order).executeTakeFirstOrThrow()
    assert.equal(gone.status, 'cancelled')
  })

  test('when requests keep coming, then nginx spreads them over both instances and order numbers stay unique', { skip }, async () => {
    const made = await Promise.all(Array.from({ length: 20 }, (_, i) => client.createOrder({ user_id: `lb-spread-${i}`, ...MONTH_CARD })))
    const numbers = made.map((created) => created.order)
    assert.equal(new Set(numbers).size, numbers.length)
    assert.deepEqual(new Set(numbers.map(workerIdOf)), workerIds, 'both instances served orders')
  })

  test('when a caller sends X-Request-Id, then the same id comes back, reaches the instance\'s log and nginx\'s access log', { skip }, async () => {
    const res = await call(nginx.base, 'GET', '/api/pay/goods?id=2', { ...via, headers: { 'x-request-id': 'lb-trace-42' } })
    assert.ok(ok(res))
    assert.equal(res.body.trace_id, 'lb-trace-42')
    assert.equal(res.headers['x-request-id'], 'lb-trace-42')
    // Both log lines are written once the response is out: wait for them (bounded).
    const logged = () => instances.some((i) => i.output().includes('"trace_id":"lb-trace-42"')) && /request_id=lb-trace-42 /.test(nginx.accessLog())
    for (let i = 0; i < 50 && !logged(); i++) await sleep(100)
    assert.ok(instances.some((i) => i.output().includes('"trace_id":"lb-trace-42"')), 'an instance logged the request under that id')
    assert.match(nginx.accessLog(), /request_id=lb-trace-42 /)

    const fresh = await call(nginx.base, 'GET', '/api/pay/goods?id=2', via)
    assert.match(fresh.body.trace_id, /^[0-9a-f]{32}$/, 'no id sent: nginx\'s $request_id is the trace id')
    assert.equal(fresh.headers['x-request-id'], fresh.body.trace_id)
  })

  test('when a caller forges X-Forwarded-For, then nginx replaces it and the callback allow-list still holds', { skip }, async () => {
    const { order } = await client.createOrder({ user_id: 'lb-forger', ...MONTH_CARD })
    // From 127.0.0.1, claiming to be the allowed platform address.
    const forged = await payOrder(nginx.base, order, `PF-${order}`, { headers: { 'x-forwarded-for': CLIENT_IP } })
    assertEnvelope(forged, 'CALLBACK_FORBIDDEN', 403)
    const row = await store.db.selectFrom('orders').select('status').where('order_no', '=', order).executeTakeFirstOrThrow()
    assert.equal(row.status, 'unpaid')
    const log = await store.db.selectFrom('callbacks').select(['source_ip', 'outcome']).where('game_order_no', '=', order).execute()
    assert.deepEqual(log, [{ source_ip: '127.0.0.1', outcome: 'CALLBACK_FORBIDDEN' }])
  })

  test('when one instance stops, then nginx sends everything to the other and the flow still succeeds', { skip }, async () => {
    await instances[1].stop()
    const survivor = (await call(instances[0].base, 'GET', '/readyz')).body.data.worker_id
    for (let i = 0; i < 6; i++) {
      const { order } = await client.createOrder({ user_id: `lb-failover-${i}`, ...MONTH_CARD })
      assert.equal(workerIdOf(order), survivor)
      await client.callback(paidCallback(order, `PFO-${order}`))
    }
    const paid = await store.db.selectFrom('orders').select('order_no').where('user_id', 'like', 'lb-failover-%').where('status', '=', 'paid').execute()
    assert.equal(paid.length, 6)
  })

  test('when no instance is up, then nginx itself answers 503 in the envelope', { skip }, async () => {
    await instances[0].stop()
    const res = await createOrder(nginx.base, 'lb-nobody', { ...via, headers: { 'x-request-id': 'lb-down-1' } })
    assertEnvelope(res, 'SERVICE_UNAVAILABLE', 503)
    assert.equal(res.body.trace_id, 'lb-down-1')
    assert.equal(res.headers['retry-after'], '1')
  })
})
