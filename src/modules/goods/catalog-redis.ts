import { randomUUID } from 'node:crypto'
import { closeRedis, createRedis, firstConnection } from '../../plugins/redis.ts'

export interface CatalogRedis {
  /** Tells the other instances the catalog changed (nothing happens while Redis is away). */
  publish: () => void
  close: () => Promise<void>
}

/**
 * "The catalog changed", passed between instances over Redis pub/sub. The channel carries the URL's
 * keyPrefix (ioredis prefixes keys, not channels), so deployments that share a Redis by prefix stay
 * apart. A message published while an instance is disconnected never reaches it: `onMessage` is
 * also called on every (re)subscription.
 */
export async function connectCatalogRedis (url: string, onMessage: () => void): Promise<CatalogRedis> {
  const subscriber = createRedis(url)
  const publisher = createRedis(url)
  const channel = `${subscriber.options.keyPrefix ?? ''}gamepay:catalog`
  // This instance has dropped its own cache already.
  const self = randomUUID()
  subscriber.on('message', (from: string, sender: string) => { if (from === channel && sender !== self) onMessage() })
  const subscribe = () => subscriber.subscribe(channel).then(onMessage, () => {})
  subscriber.on('ready', () => { subscribe().catch(() => {}) })
  await Promise.all([firstConnection(subscriber), firstConnection(publisher)])
  if (subscriber.status === 'ready') await subscribe()
  return {
    publish () {
      if (publisher.status === 'ready') publisher.publish(channel, self).catch(() => {})
    },
    async close () {
      await Promise.all([closeRedis(subscriber), closeRedis(publisher)])
    },
  }
}
