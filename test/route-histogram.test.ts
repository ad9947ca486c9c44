import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { AggregatorRegistry, Registry } from 'prom-client'
import { RouteHistogram } from '../src/route-histogram.ts'

const NAME = 'test_duration_seconds'
const histogram = () => new RouteHistogram(NAME, 'a test histogram', [0.01, 0.1, 1])

/** The sample lines of one exposition, without the HELP and TYPE lines. */
const samplesOf = (text: string) => text.split('\n').filter((line) => line !== '' && !line.startsWith('#'))

describe('the request-duration histogram', () => {
  test('when values are observed, then the scrape has cumulative buckets with le, +Inf, _sum and _count per route and status, as Prometheus reads them', async () => {
    const h = histogram()
    const registry = new Registry()
    registry.registerMetric(h.asMetric())
    // On a bound counts in that bucket (le is "less than or equal").
    for (const seconds of [0.005, 0.01, 0.05, 2]) h.observe('/api/pay/goods', 200, seconds)
    h.observe('/api/pay/goods', 404, 0.02)
    h.observe('unmatched', 404, 0.5)

    const text = await registry.metrics()
    assert.match(text, new RegExp(`^# TYPE ${NAME} histogram$`, 'm'))
    assert.deepEqual(samplesOf(text), [
      `${NAME}_bucket{route="/api/pay/goods",status="200",le="0.01"} 2`,
      `${NAME}_bucket{route="/api/pay/goods",status="200",le="0.1"} 3`,
      `${NAME}_bucket{route="/api/pay/goods",status="200",le="1"} 3`,
      `${NAME}_bucket{route="/api/pay/goods",status="200",le="+Inf"} 4`,
      `${NAME}_sum{route="/api/pay/goods",status="200"} 2.065`,
      `${NAME}_count{route="/api/pay/goods",status="200"} 4`,
      `${NAME}_bucket{route="/api/pay/goods",status="404",le="0.01"} 0`,
      `${NAME}_bucket{route="/api/pay/goods",status="404",le="0.1"} 1`,
      `${NAME}_bucket{route="/api/pay/goods",status="404",le="1"} 1`,
      `${NAME}_bucket{route="/api/pay/goods",status="404",le="+Inf"} 1`,
      `${NAME}_sum{route="/api/pay/goods",status="404"} 0.02`,
      `${NAME}_count{route="/api/pay/goods",status="404"} 1`,
      `${NAME}_bucket{route="unmatched",status="404",le="0.01"} 0`,
      `${NAME}_bucket{route="unmatched",status="404",le="0.1"} 0`,
      `${NAME}_bucket{route="unmatched",status="404",le="1"} 1`,
      `${NAME}_bucket{route="unmatched",status="404",le="+Inf"} 1`,
      `${NAME}_sum{route="unmatched",status="404"} 0.5`,
      `${NAME}_count{route="unmatched",status="404"} 1`,
    ])

    registry.resetMetrics()
    assert.deepEqual(samplesOf(await registry.metrics()), [])
  })

  test('when two workers\' histograms are merged for one scrape, then each bucket, sum and count is the sum of both', async () => {
    const [a, b] = [histogram(), histogram()]
    a.observe('/api/pay/goods', 200, 0.005)
    b.observe('/api/pay/goods', 200, 0.5)
    b.observe('/api/pay/callback', 200, 0.05)
    const merged = AggregatorRegistry.aggregate([[await a.get()], [await b.get()]])
    const text = await merged.metrics()
    assert.match(text, new RegExp(`^${NAME}_bucket\\{route="/api/pay/goods",status="200",le="0.01"\\} 1$`, 'm'))
    assert.match(text, new RegExp(`^${NAME}_bucket\\{route="/api/pay/goods",status="200",le="\\+Inf"\\} 2$`, 'm'))
    assert.match(text, new RegExp(`^${NAME}_sum\\{route="/api/pay/goods",status="200"\\} 0.505$`, 'm'))
    assert.match(text, new RegExp(`^${NAME}_count\\{route="/api/pay/goods",status="200"\\} 2$`, 'm'))
    assert.match(text, new RegExp(`^${NAME}_count\\{route="/api/pay/callback",status="200"\\} 1$`, 'm'))
  })
})
