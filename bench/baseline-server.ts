// What Fastify alone does on this machine: the same kind of child process as `gamepay serve`
// (node + tsx), one GET route answering a small fixed JSON, no logging, no database.
import Fastify from 'fastify'

const app = Fastify({ logger: false })
const body = { result: 'success', state: '', data: { id: 1, item: '商品属性', single_pric: 99.99 } }

app.get('/', async () => body)

const port = Number(process.env.PORT ?? 0)
await app.listen({ port, host: '127.0.0.1' })

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    app.close().then(() => process.exit(0), () => process.exit(1))
  })
}
