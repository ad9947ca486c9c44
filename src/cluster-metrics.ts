// With WORKERS > 1 a scrape reaches one worker, but Prometheus should see the whole service: the
// worker asks the primary, whose prom-client AggregatorRegistry collects every worker's registry
// over the cluster's IPC channel and merges them (counters and histograms summed, each gauge as
// its `aggregator` says). prom-client does the collecting and merging; this module only carries
// the scraping worker's request to the primary and the answer back.
import cluster from 'node:cluster'
import { AggregatorRegistry, type Registry } from 'prom-client'

const REQUEST = 'gamepay:metrics-request'
const RESPONSE = 'gamepay:metrics-response'
/** prom-client gives up on a worker after 5 s; the asking worker waits a little longer. */
const ANSWER_MS = 6000

interface Request { type: typeof REQUEST, id: number }
interface Response { type: typeof RESPONSE, id: number, text?: string, error?: string }

const isMessage = <T extends { type: string }> (message: unknown, type: T['type']): message is T =>
  typeof message === 'object' && message !== null && (message as { type?: unknown }).type === type

/** In the primary: answers each worker's request with the merged metrics of all workers. */
export function answerClusterMetrics (): void {
  const aggregator = new AggregatorRegistry()
  cluster.on('message', (worker, message: unknown) => {
    if (!isMessage<Request>(message, REQUEST)) return
    const reply = (answer: Omit<Response, 'type' | 'id'>) => {
      if (worker.isConnected()) worker.send({ type: RESPONSE, id: message.id, ...answer }, () => {})
    }
    aggregator.clusterMetrics().then((text) => reply({ text }), (err: Error) => reply({ error: err.message }))
  })
}

/**
 * In a worker: lets the primary read `registry`, and returns how to read the whole service's
 * metrics through the primary. Null outside a cluster's worker: a process's own registry is all.
 */
export function clusterMetricsReader (registry: Registry): (() => Promise<string>) | null {
  if (!cluster.isWorker) return null
  // prom-client makes a worker answer the primary's requests once one is constructed there.
  new AggregatorRegistry() // eslint-disable-line no-new
  AggregatorRegistry.setRegistries([registry])
  const waiting = new Map<number, (answer: Response) => void>()
  let next = 0
  process.on('message', (message: unknown) => {
    if (isMessage<Response>(message, RESPONSE)) waiting.get(message.id)?.(message)
  })
  return () => new Promise((resolve, reject) => {
    const id = next++
    const timer = setTimeout(() => settle({ type: RESPONSE, id, error: `no answer within ${ANSWER_MS} ms` }), ANSWER_MS)
    function settle (answer: Response) {
      clearTimeout(timer)
      waiting.delete(id)
      if (answer.text !== undefined) resolve(answer.text)
      else reject(new Error(`the metrics of all workers: ${answer.error ?? 'no answer'}`))
    }
    waiting.set(id, settle)
    process.send?.({ type: REQUEST, id } satisfies Request)
  })
}
