import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { ok } from '../../../plugins/envelope.ts'
import { responses } from '../../envelope.schemas.ts'
import { render, type ConsoleDeps } from '../console.plugin.ts'
import { yuanText } from '../display.ts'
import { dashboard, type DayFigures } from './dashboard.repository.ts'
import { barChart } from './svg-chart.ts'
import './messages.ts'

const percent = (ratio: number | null) => ratio === null ? '–' : `${(ratio * 100).toFixed(1)}%`

const dayJson = (d: DayFigures) => ({
  day: d.day, created: d.created, created_paid: d.createdPaid, conversion: d.conversion, paid: d.paid, revenue: yuanText(d.revenueFen),
})

const Day = Type.Object({
  day: Type.String({ description: 'Asia/Shanghai calendar day' }),
  created: Type.Integer(),
  created_paid: Type.Integer({ description: 'orders created that day and paid by now' }),
  conversion: Type.Union([Type.Number(), Type.Null()]),
  paid: Type.Integer({ description: 'orders paid that day' }),
  revenue: Type.String({ description: 'yuan, two decimals' }),
})

export async function dashboardRoutes (app: FastifyInstance, { ctx }: ConsoleDeps) {
  app.get('/api/admin/dashboard', {
    schema: {
      tags: ['admin'],
      summary: 'Today and the last 30 days: orders created and paid, conversion, revenue, callbacks by outcome',
      security: [{ bearer: [] }],
      response: responses(Type.Object({
        today: Day,
        days: Type.Array(Day),
        callbacks: Type.Object({ today: Type.Record(Type.String(), Type.Integer()), last_30_days: Type.Record(Type.String(), Type.Integer()) }),
      })),
    },
  }, async (req) => {
    const d = await dashboard(ctx.store.db, ctx.clock())
    return ok(req, { today: dayJson(d.today), days: d.days.map(dayJson), callbacks: { today: d.callbacks.today, last_30_days: d.callbacks.days } })
  })

  app.get('/console/dashboard', { schema: { hide: true } }, async (_req, reply) => {
    const t = reply.locals!.t
    const d = await dashboard(ctx.store.db, ctx.clock())
    const labels = d.days.map((x) => x.day.slice(5))
    const sum = (pick: (x: DayFigures) => number) => d.days.reduce((a, x) => a + pick(x), 0)
    const created30 = sum((x) => x.created)
    const outcomes = [...new Set([...Object.keys(d.callbacks.days), ...Object.keys(d.callbacks.today)])].sort()
    return render(reply, 'dashboard', {
      title: t('dashboard.title'),
      today: { ...d.today, conversionText: percent(d.today.conversion), revenue: yuanText(d.today.revenueFen) },
      month: {
        created: created30,
        paid: sum((x) => x.paid),
        conversionText: percent(created30 === 0 ? null : sum((x) => x.createdPaid) / created30),
        revenue: yuanText(sum((x) => x.revenueFen)),
      },
      days: d.days.map((x) => ({ ...x, conversionText: percent(x.conversion), revenue: yuanText(x.revenueFen) })).reverse(),
      outcomes: outcomes.map((o) => ({ outcome: o, today: d.callbacks.today[o] ?? 0, days: d.callbacks.days[o] ?? 0 })),
      revenueChart: barChart({
        title: t('dashboard.revenue_chart'),
        labels,
        series: [{ name: t('dashboard.revenue'), colour: '#0b5cad', values: d.days.map((x) => x.revenueFen) }],
        format: yuanText,
      }),
      ordersChart: barChart({
        title: t('dashboard.orders_chart'),
        labels,
        series: [
          { name: t('dashboard.created'), colour: '#9bb7d8', values: d.days.map((x) => x.created) },
          { name: t('dashboard.paid'), colour: '#137333', values: d.days.map((x) => x.paid) },
        ],
      }),
    })
  })
}
