import { sql, type KyselyPlugin } from 'kysely'
import type { Store } from '../../db/connect.ts'
import { CATALOG_CHANNEL } from '../../db/migrations/005_catalog_version.ts'
import { toInt } from '../../db/values.ts'
import { fenToYuan } from '../../domain/money.ts'
import { AppError } from '../../errors.ts'
import { startCatalogListener, type CatalogListener } from './catalog-listener.ts'
import { connectCatalogRedis, type CatalogRedis } from './catalog-redis.ts'
import { findAllGoods, findGoodsById, type Goods } from './goods.repository.ts'

/** What GET /api/pay/goods answers in `data`. */
export interface GoodsData {
  id: number
  item: string
  single_pric: number
  on_sale: boolean
}

export interface CatalogCacheOptions {
  store: Store
  databaseUrl: string
  redisUrl?: string | null
  /**
   * Where no NOTIFY tells of changes: the catalog version is read at most this often before an
   * answer from the cache (default 1000; 0 reads it before every answer).
   */
  checkMs?: number
  /** PostgreSQL: learn of changes by LISTEN (default); false reads the version as elsewhere. */
  listen?: boolean
  /** How often the LISTEN connection is proved alive (default 5000). */
  heartbeatMs?: number
}

export interface CatalogStats {
  /** 'listen': PostgreSQL NOTIFY; 'version': the version row, read at most every checkMs. */
  mode: 'listen' | 'version'
  /** listen mode: whether the LISTEN connection is up (while it is down every answer is read through). */
  listening: boolean
  /** Database queries this cache has made. */
  queries: number
}

export interface CatalogCache {
  /** The goods' answer; GOODS_NOT_FOUND when no goods have the id. */
  get: (id: number) => Promise<GoodsData>
  /** Drops what is held here and tells the other instances; call right after a change to goods commits. */
  changed: () => void
  stats: () => CatalogStats
  close: () => Promise<void>
}

// Frozen: one object answers every request for the goods.
const toData = (g: Goods): GoodsData => Object.freeze({ id: g.id, item: g.item, single_pric: fenToYuan(g.priceFen), on_sale: g.onSale })

const notFound = (id: number) => new AppError('GOODS_NOT_FOUND', `id=${id}`)

/*
 * The goods lookup is served from a snapshot of the whole catalog (a small table): one query fills
 * it, and an id that is not in it is GOODS_NOT_FOUND without a query, so negative answers are
 * cached too (a created goods changes the version like any other change). Every change to goods
 * raises catalog_version in its own transaction (triggers, migration 005), and the snapshot is
 * dropped:
 * - in this process, by changed() right after the change commits (console, catalog import);
 * - PostgreSQL: when the trigger's NOTIFY arrives, which is at commit. While the LISTEN connection
 *   is down nothing is cached: each request reads its row, as without a cache. A link that went
 *   silent without closing is found by the heartbeat (every heartbeatMs, answered within 2 s).
 * - elsewhere: when the version, read at most every checkMs before an answer, has moved. A change
 *   made in another instance (or by the CLI, or by hand in SQL) is therefore seen here at most
 *   checkMs (plus one query) after it commits. With REDIS_URL the changing instance also
 *   publishes, so the others drop their snapshot at once; the version check stays, as Redis
 *   delivers nothing that was sent while it was away or from a writer that is not an instance.
 * A snapshot whose load began before a drop is not kept (the generation), so a read that raced a
 * change is never kept past it.
 * Charging never reads this cache: create-order checks the price against the row in its transaction.
 */
export async function createCatalogCache (opts: CatalogCacheOptions): Promise<CatalogCache> {
  let queries = 0
  const counter: KyselyPlugin = {
    transformQuery: (args) => { queries++; return args.node },
    transformResult: async (args) => args.result,
  }
  const db = opts.store.db.withPlugin(counter)
  const checkMs = opts.checkMs ?? 1000

  let snapshot: Map<number, GoodsData> | null = null
  let generation = 0
  let loading: { generation: number, done: Promise<Map<number, GoodsData>> } | null = null
  let version: string | null = null
  let checkedAt = -Infinity
  let checking: Promise<void> | null = null

  const drop = () => {
    generation++
    snapshot = null
  }

  const load = (): Promise<Map<number, GoodsData>> => {
    if (loading?.generation === generation) return loading.done
    const started = generation
    const done = findAllGoods(db).then((all) => {
      const map = new Map(all.map((g) => [g.id, toData(g)]))
      if (generation === started) snapshot = map
      return map
    }).finally(() => { if (loading?.done === done) loading = null })
    loading = { generation: started, done }
    return done
  }

  const checkVersion = (): Promise<void> => {
    checking ??= (async () => {
      const startedAt = performance.now()
      const { rows } = await sql<{ version: string | number | bigint }>`select version from catalog_version where id = 1`.execute(db)
      const now = rows[0] === undefined ? null : String(toInt(rows[0].version))
      // Without the row no change would show: then every check drops.
      if (now === null || now !== version) {
        version = now
        drop()
      }
      checkedAt = startedAt
    })().finally(() => { checking = null })
    return checking
  }

  const lookup = (map: Map<number, GoodsData>, id: number) => {
    const data = map.get(id)
    if (data === undefined) throw notFound(id)
    return data
  }

  let listener: CatalogListener | null = null
  let redis: CatalogRedis | null = null
  const mode = opts.store.caps.name === 'postgres' && opts.listen !== false ? 'listen' : 'version'
  if (mode === 'listen') {
    // Dropped when listening starts and when it stops: notifications in between were never seen.
    listener = startCatalogListener({
      url: opts.databaseUrl, channel: CATALOG_CHANNEL, onChange: drop, onState: drop, heartbeatMs: opts.heartbeatMs,
    })
    await listener.ready
  } else if (opts.redisUrl) {
    redis = await connectCatalogRedis(opts.redisUrl, () => {
      drop()
      checkedAt = -Infinity
    })
  }

  async function get (id: number): Promise<GoodsData> {
    if (listener) {
      if (!listener.listening) {
        const goods = await findGoodsById(db, id)
        if (!goods) throw notFound(id)
        return toData(goods)
      }
    } else if (performance.now() - checkedAt >= checkMs) {
      await checkVersion()
    }
    return lookup(snapshot ?? await load(), id)
  }

  const cache: CatalogCache = {
    get,
    changed () {
      drop()
      redis?.publish()
    },
    stats: () => ({ mode, listening: listener?.listening ?? false, queries }),
    async close () {
      unregister(opts.store, cache)
      await listener?.close()
      await redis?.close()
    },
  }
  register(opts.store, cache)
  return cache
}

// Every writer of goods holds the store, not the cache: the caches reading through a store are
// found from it, so a change commits and then drops them without being handed the cache.
const caches = new WeakMap<Store, Set<CatalogCache>>()

function register (store: Store, cache: CatalogCache) {
  const set = caches.get(store) ?? new Set()
  set.add(cache)
  caches.set(store, set)
}

function unregister (store: Store, cache: CatalogCache) {
  caches.get(store)?.delete(cache)
}

/** Call right after a transaction that changed goods commits. */
export function catalogChanged (store: Store): void {
  for (const cache of caches.get(store) ?? []) cache.changed()
}
