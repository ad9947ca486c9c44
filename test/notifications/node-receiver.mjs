// A game server's endpoint for gamepay's order.paid events: the README's Node example, run by
// test/notifications/readme-examples.test.ts. PORT and HOST say where it listens.
import { createHmac, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'

/** Gamepay-Signature ("t=<unix>,v1=<hex>") against the raw body bytes, with t at most toleranceSeconds from now. */
export function verifyGamepaySignature (header, rawBody, secret, toleranceSeconds = 300) {
  const parts = Object.fromEntries(String(header ?? '').split(',').map((p) => p.trim().split('=', 2)))
  const t = Number(parts.t)
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false
  const expected = createHmac('sha256', secret).update(`${parts.t}.`).update(rawBody).digest()
  const given = Buffer.from(parts.v1 ?? '', 'hex')
  return given.length === expected.length && timingSafeEqual(given, expected)
}

// In production: a table with a unique event_id, written in the transaction that grants the goods.
const granted = new Set()

const server = createServer((req, res) => {
  const chunks = []
  req.on('data', (chunk) => chunks.push(chunk))
  req.on('end', () => {
    const raw = Buffer.concat(chunks) // verify the bytes as they came, before any JSON parsing
    if (!verifyGamepaySignature(req.headers['gamepay-signature'], raw, process.env.NOTIFY_SECRET)) {
      res.writeHead(401).end('bad signature')
      return
    }
    const event = JSON.parse(raw.toString('utf8'))
    if (event.type === 'order.paid' && !granted.has(event.event_id)) {
      // Grant the goods here; answer 2xx only once they are granted (on an error, answer 500).
      const { order, item_id: itemId, amount_num: count, user_id: user, server_flag: flag } = event.data
      console.log(`granted ${order}: item ${itemId} x${count} to ${user} on ${flag}`)
      granted.add(event.event_id)
    }
    res.writeHead(200).end('ok') // a repeated event_id is answered 2xx again, and granted nothing more
  })
})
server.listen(Number(process.env.PORT ?? 9000), process.env.HOST ?? '127.0.0.1', () => {
  const { address, port } = server.address()
  console.log(`listening on ${address}:${port}`)
})
