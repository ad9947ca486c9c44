// The whole flow with the client on every side: a game server asks for goods and creates an order, a
// simulated platform pays it with a callback the client signed, a real `gamepay serve` notifies the
// game server's handler, which verifies the signature, and the game server verifies the order.
import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, before, test } from 'node:test'
import { connect, type Store } from '../../src/db/connect.ts'
import { forEachDialect, freshDatabaseUrl } from '../../test/helper.ts'
import { SECRET as CALLBACK_SECRET, startInstance, type Instance } from '../../test-system/processes.ts'
import { GamepayClient, nodeNotificationHandler, signCallback, type GamepayEvent } from '../src/index.ts'
import { NOTIFY_SECRET } from './fixtures.ts'

/** Events as the game server's handler received them, and a way to wait for one (a hang guard, not a timing). */
function inbox () {
  const events: GamepayEvent[] = []
  const waiting = new Map<string, (event: GamepayEvent) => void>()
  return {
    events,
    receive (event: GamepayEvent) {
      events.push(event)
      if (event.type === 'order.paid') waiting.get(event.data.order)?.(event)
    },
    forOrder (order: string, describe: () => string): Promise<GamepayEvent> {
      const found = events.find((e) => e.type === 'order.paid' && e.data.order === order)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no notification for ${order} in 30 s:\n${describe()}`)), 30_000)
        waiting.set(order, (event) => {
          clearTimeout(timer)
          resolve(event)
        })
      })
    },
  }
}

forEachDialect('the whole flow through the typed client', (dialect) => {
  const received = inbox()
  const refused: unknown[] = []
  let receiver: Server
  let instance: Instance
  let store: Store
  let client: GamepayClient

  before(async () => {
    receiver = createServer(nodeNotificationHandler({ secret: NOTIFY_SECRET, onEvent: received.receive, onError: (err) => refused.push(err) }))
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const url = await freshDatabaseUrl(dialect)
    instance = await startInstance({
      url,
      name: `notifying (${dialect})`,
      env: { NOTIFY_URL: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/gamepay`, NOTIFY_SECRET },
    })
    store = connect(url, { poolSize: 2 })
    client = new GamepayClient({ baseUrl: instance.base })
  })
  after(async () => {
    await instance?.stop()
    await store?.close()
    await new Promise((resolve) => receiver?.close(resolve))
  })

  test('when a player orders, the platform pays and the game server is notified, then the verified event matches the order and verification', async () => {
    const goods = await client.goods(2)
    const created = await client.createOrder({
      user_id: 'flow-player',
      item: goods.item,
      item_id: goods.id,
      single_pric: goods.single_pric,
      server_flag: 's1',
    })
    assert.equal(created.status, 'unpaid')

    // The platform simulator: a success callback signed with the client's signer.
    const gyyx = `PFLOW-${created.order}`
    await client.callback(signCallback({
      game_order_no: created.order,
      gyyx_order_no: gyyx,
      result: 'success',
      rmb_yuan: created.rmb_yuan,
      server_flag: 's1',
      timestamp: String(Math.floor(Date.now() / 1000)),
    }, { secret: CALLBACK_SECRET }))

    const event = await received.forOrder(created.order, () => `${refused.map(String).join('\n')}\n${instance.output()}`)
    assert.equal(event.type, 'order.paid')
    assert.match(event.event_id, /\S/)
    if (event.type !== 'order.paid') return
    const { paid_at: paidAt, ...data } = event.data
    assert.deepEqual(data, {
      order: created.order,
      user_id: 'flow-player',
      item: '月卡',
      item_id: 2,
      amount_num: 1,
      rmb_yuan: 30,
      gyyx_order_no: gyyx,
      status: 'paid',
      server_flag: 's1',
      late_payment: false,
    })
    assert.deepEqual(refused, [])

    const verified = await client.verify({ user_id: 'flow-player', item: goods.item, order: created.order })
    assert.equal(verified.status, 'paid')
    assert.equal(verified.gyyx_order_no, gyyx)
    assert.equal(verified.paid_at, paidAt)
    assert.equal(verified.verify_count, 1)

    // The service recorded the 2xx as the delivery (written once the answer is in: bounded wait).
    let row
    for (let i = 0; i < 100; i++) {
      row = await store.db.selectFrom('notification_events').select(['event_id', 'status', 'type'])
        .where('order_no', '=', created.order).executeTakeFirst()
      if (row?.status === 'delivered') break
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
    assert.deepEqual(row, { event_id: event.event_id, status: 'delivered', type: 'order.paid' })
    const attempts = await store.db.selectFrom('notification_attempts').select(['http_status']).where('event_id', '=', event.event_id).execute()
    assert.deepEqual(attempts.map((a) => Number(a.http_status)), [200])
    const order = await store.db.selectFrom('orders').select(['status', 'gyyx_order_no'])
      .where('order_no', '=', created.order).executeTakeFirstOrThrow()
    assert.deepEqual(order, { status: 'paid', gyyx_order_no: gyyx })
  })

  test('when the platform repeats the callback, then it is accepted again and no second event is made', async () => {
    const created = await client.createOrder({ user_id: 'flow-repeat', item: '月卡', item_id: 2, single_pric: 30 })
    const callback = signCallback({
      game_order_no: created.order,
      gyyx_order_no: `PREP-${created.order}`,
      result: 'success',
      rmb_yuan: 30,
      timestamp: String(Math.floor(Date.now() / 1000)),
    }, { secret: CALLBACK_SECRET, signType: 'MD5' })
    await client.callback(callback)
    const event = await received.forOrder(created.order, () => instance.output())
    await client.callback(callback)
    const events = await store.db.selectFrom('notification_events').select('event_id').where('order_no', '=', created.order).execute()
    assert.deepEqual(events, [{ event_id: event.event_id }])
  })
})
