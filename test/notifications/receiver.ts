// A real HTTP receiver on 127.0.0.1 for the notification tests: it records every request and
// answers as the test says, and checks Gamepay-Signature on its own (not with gamepay's code).
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received {
  path: string
  headers: IncomingHttpHeaders
  /** The raw body, exactly as it arrived. */
  raw: string
  json: any
  eventId: string
}

/** What to answer: a status (with a body and headers), or never to answer at all. */
export type Answer = { status: number, body?: string, headers?: Record<string, string> } | 'hang'

export interface Receiver {
  url: string
  requests: Received[]
  /** Requests of one event being answered right now, at most, over the receiver's life. */
  maxConcurrentPerEvent: () => number
  /** All requests open at once, at most. */
  maxOpen: () => number
  open: () => number
  /** The requests to one event. */
  of: (eventId: string) => Received[]
  close: () => Promise<void>
}

export async function startReceiver (answer: (req: Received, nth: number) => Answer | Promise<Answer> = () => ({ status: 200 })): Promise<Receiver> {
  const requests: Received[] = []
  const openPerEvent = new Map<string, number>()
  let maxPerEvent = 0
  let open = 0
  let peak = 0
  const hanging = new Set<ServerResponse>()
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      let json: any = null
      try {
        json = JSON.parse(raw)
      } catch {}
      const received: Received = { path: req.url ?? '', headers: req.headers, raw, json, eventId: String(json?.event_id ?? '') }
      requests.push(received)
      const nth = requests.filter((r) => r.eventId === received.eventId).length
      open++
      peak = Math.max(peak, open)
      const perEvent = (openPerEvent.get(received.eventId) ?? 0) + 1
      openPerEvent.set(received.eventId, perEvent)
      maxPerEvent = Math.max(maxPerEvent, perEvent)
      res.once('close', () => {
        open--
        openPerEvent.set(received.eventId, (openPerEvent.get(received.eventId) ?? 1) - 1)
        hanging.delete(res)
      })
      const a = await answer(received, nth)
      if (a === 'hang') {
        hanging.add(res)
        return
      }
      res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers })
      res.end(a.body ?? '')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}/gamepay/events`,
    requests,
    maxConcurrentPerEvent: () => maxPerEvent,
    maxOpen: () => peak,
    open: () => open,
    of: (eventId) => requests.filter((r) => r.eventId === eventId),
    async close () {
      for (const res of hanging) res.destroy()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

/**
 * The receiver's side of the signature, as the README tells game servers to write it: the header's
 * `t` and `v1`, and HMAC-SHA256 over `t.` + the raw body, compared in constant time.
 */
export function verifySignature (header: string | string[] | undefined, raw: string, secret: string): { ok: boolean, t: number } {
  const parts = new Map(String(header ?? '').split(',').map((p) => p.split('=', 2) as [string, string]))
  const t = Number(parts.get('t'))
  const given = Buffer.from(parts.get('v1') ?? '', 'hex')
  const expected = createHmac('sha256', secret).update(`${parts.get('t')}.${raw}`).digest()
  return { ok: Number.isInteger(t) && given.length === expected.length && timingSafeEqual(given, expected), t }
}

/** A port nothing listens on (one that was just free): a refused connection. */
export async function closedPortUrl (): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return `http://127.0.0.1:${port}/gamepay/events`
}

/** Waits for a condition with a deadline (a hang guard, not a timing assertion). */
export async function until (what: string, cond: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!await cond()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}
