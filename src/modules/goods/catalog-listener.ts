import type pg from 'pg'
import { loadPackage } from '../../load-package.ts'

export interface CatalogListenerOptions {
  url: string
  channel: string
  /** A NOTIFY arrived: the catalog changed and the change has committed. */
  onChange: () => void
  /**
   * Listening started (true) or stopped (false). Notifications sent while not listening are lost
   * for good, so the owner must trust nothing it read before a `true`.
   */
  onState: (listening: boolean) => void
  /** How often the connection is proved alive (a link that went silent delivers nothing). */
  heartbeatMs?: number
  connectTimeoutMs?: number
}

export interface CatalogListener {
  /** Resolves once the first attempt to listen is over, listening or not. */
  ready: Promise<void>
  readonly listening: boolean
  close: () => Promise<void>
}

const MAX_BACKOFF_MS = 5000

/**
 * A connection of its own that LISTENs on the channel (the pool's connections come and go, and a
 * LISTEN lives only as long as its connection). When it drops, or stops answering the heartbeat,
 * it reconnects with a growing, jittered delay.
 */
export function startCatalogListener (opts: CatalogListenerOptions): CatalogListener {
  const heartbeatMs = opts.heartbeatMs ?? 5000
  const connectTimeoutMs = opts.connectTimeoutMs ?? 2000
  let client: pg.Client | null = null
  let listening = false
  let closed = false
  let failures = 0
  let retry: NodeJS.Timeout | undefined
  let heartbeat: NodeJS.Timeout | undefined

  const setListening = (value: boolean) => {
    if (listening === value) return
    listening = value
    opts.onState(value)
  }

  function drop (c: pg.Client) {
    if (client !== c) return
    client = null
    clearInterval(heartbeat)
    setListening(false)
    c.end().catch(() => {})
    if (closed) return
    const delay = Math.min(100 * 2 ** failures++, MAX_BACKOFF_MS) * (0.5 + Math.random() / 2)
    retry = setTimeout(() => { connect().catch(() => {}) }, delay)
    retry.unref()
  }

  async function connect () {
    if (closed) return
    const c = new (loadPackage('pg') as typeof pg).Client({
      connectionString: opts.url,
      connectionTimeoutMillis: connectTimeoutMs,
      query_timeout: connectTimeoutMs,
      keepAlive: true,
      application_name: 'gamepay catalog listener',
    })
    client = c
    c.on('error', () => drop(c))
    c.on('end', () => drop(c))
    c.on('notification', (msg) => { if (msg.channel === opts.channel) opts.onChange() })
    try {
      await c.connect()
      await c.query(`listen ${opts.channel}`)
    } catch {
      drop(c)
      return
    }
    if (client !== c) return
    failures = 0
    heartbeat = setInterval(() => { c.query('select 1').catch(() => drop(c)) }, heartbeatMs)
    heartbeat.unref()
    setListening(true)
  }

  return {
    ready: connect(),
    get listening () { return listening },
    async close () {
      closed = true
      clearTimeout(retry)
      const c = client
      if (c) {
        client = null
        clearInterval(heartbeat)
        setListening(false)
        await c.end().catch(() => {})
      }
    },
  }
}
