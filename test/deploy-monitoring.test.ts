// The example monitoring in deploy/: the Prometheus alert rules and the Grafana dashboard. promtool
// (Debian's prometheus package; .ci/run installs it) checks the rules, the dashboard's queries and
// what the alerts do on made-up series; without it, here, those tests skip, and in CI they fail.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test, type TestContext } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse, stringify } from 'yaml'
import { createTestApp } from './helper.ts'

const RULES_FILE = fileURLToPath(new URL('../deploy/prometheus-rules.yml', import.meta.url))
const DASHBOARD_FILE = fileURLToPath(new URL('../deploy/grafana-dashboard.json', import.meta.url))

interface Rule {
  alert?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
interface Target { refId: string, expr: string, datasource?: { type: string, uid: string } }
interface Panel { id: number, title: string, type: string, gridPos: { x: number, y: number, w: number, h: number }, targets?: Target[] }

const rules = (parse(readFileSync(RULES_FILE, 'utf8')) as { groups: { name: string, rules: Rule[] }[] }).groups.flatMap((g) => g.rules)
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
  title: string, uid: string, panels: Panel[], templating: { list: { name: string, type: string, query?: unknown, definition?: string }[] }
}
const targets = dashboard.panels.flatMap((p) => p.targets ?? [])

// Words of PromQL that are not metric names (functions are recognised by their parenthesis).
const KEYWORDS = new Set([
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'inf', 'nan',
])

/** The metric names a PromQL expression selects. */
function metricNamesIn (expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // label values
    .replace(/\{[^}]*\}/g, ' ') // label matchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ') // label lists
  return [...bare.matchAll(/(?<![\w.$:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]|\s*\()/g)]
    .map((m) => m[1])
    .filter((word) => !KEYWORDS.has(word.toLowerCase()) && !/^\d/.test(word))
}

/** The dashboard's query as Prometheus sees it: Grafana's variables filled in. */
const asPromql = (expr: string) => expr.replace(/\$__(rate_interval|interval|range)/g, '5m').replace(/\$\{?\w+\}?/g, '.*')

function promtool (args: string[], input?: string) {
  return spawnSync('promtool', args, { encoding: 'utf8', input })
}

/** True when promtool can run; otherwise skips the test, except in CI, where its absence fails it. */
function havePromtool (t: TestContext): boolean {
  const probe = promtool(['--version'])
  if (!probe.error) return true
  if (process.env.CI) assert.fail('promtool is not installed: .ci/run installs Debian\'s prometheus package for it')
  t.skip('promtool is not installed (apt-get install prometheus)')
  return false
}

const scratch = () => mkdtempSync(join(tmpdir(), 'gamepay-monitoring-'))

describe('deploy monitoring', () => {
  test('when the alert rules are read, then each is a named alert with an expression, a severity and a summary', () => {
    assert.ok(rules.length >= 4)
    const names = rules.map((r) => r.alert)
    assert.equal(new Set(names).size, names.length, 'alert names are unique')
    for (const rule of rules) {
      assert.match(rule.alert ?? '', /^Gamepay[A-Z][A-Za-z]+$/)
      assert.equal(typeof rule.expr, 'string')
      assert.ok(['warning', 'critical'].includes(rule.labels?.severity ?? ''), `${rule.alert} severity`)
      assert.ok(rule.annotations?.summary && rule.annotations.description, `${rule.alert} summary and description`)
      if (rule.for !== undefined) assert.match(rule.for, /^\d+[smh]$/, `${rule.alert} for`)
    }
    // The four situations operators asked to be woken for.
    for (const [name, metric] of [
      ['GamepayBadSignatureBurst', 'gamepay_callbacks_total{outcome="SIGN_INVALID"}'],
      ['GamepayCallbacksFailing', 'route="/api/pay/callback", status=~"5.."'],
      ['GamepayOutboxStale', 'gamepay_outbox_oldest_age_seconds) > 300'],
      ['GamepayDatabaseUnavailable', 'gamepay_db_up'],
    ]) assert.ok(rules.find((r) => r.alert === name)?.expr.includes(metric), `${name} uses ${metric}`)
  })

  test('when the dashboard is read, then it has the panels operators need, each query on the chosen Prometheus data source', () => {
    assert.equal(dashboard.uid, 'gamepay-overview')
    assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource'))
    const ids = dashboard.panels.map((p) => p.id)
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique')
    for (const panel of dashboard.panels) {
      assert.ok(panel.gridPos.x >= 0 && panel.gridPos.w > 0 && panel.gridPos.x + panel.gridPos.w <= 24, `${panel.title} fits the grid`)
      assert.ok((panel.targets ?? []).length > 0, `${panel.title} has queries`)
      const refIds = panel.targets!.map((t) => t.refId)
      assert.equal(new Set(refIds).size, refIds.length, `${panel.title} refIds`)
      // Grafana's own variable syntax, not a template literal.
      const chosen = { type: 'prometheus', uid: '$' + '{datasource}' }
      for (const target of panel.targets!) assert.deepEqual(target.datasource, chosen)
    }
    const panel = (title: RegExp) => {
      const found = dashboard.panels.find((p) => title.test(p.title))
      assert.ok(found, `a panel titled ${title}`)
      return found.targets!.map((t) => t.expr).join('\n')
    }
    assert.match(panel(/orders created and paid per minute/i), /gamepay_orders_created_total[\s\S]*gamepay_orders_paid_total/)
    assert.match(panel(/callbacks by outcome/i), /by \(outcome\)/)
    const latency = panel(/p50 \/ p99 by route/i)
    assert.match(latency, /histogram_quantile\(0\.5, sum by \(route, le\)/)
    assert.match(latency, /histogram_quantile\(0\.99, sum by \(route, le\)/)
    assert.match(panel(/backlog: due/i), /gamepay_outbox_due_events/)
    assert.match(panel(/backlog: oldest/i), /gamepay_outbox_oldest_age_seconds/)
    assert.match(panel(/failures/i), /gamepay_notifications_total/)
    assert.match(panel(/event-loop delay/i), /nodejs_eventloop_lag_p99_seconds/)
  })

  test('when the dashboard and the rules name metrics, then /metrics exposes every one of them', async () => {
    const t = await createTestApp('sqlite')
    let text: string
    try {
      text = (await t.app.inject({ url: '/metrics' })).body
    } finally {
      await t.close()
    }
    const exposed = new Set<string>()
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
      exposed.add(name)
      if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) exposed.add(name + suffix)
      if (type === 'summary') for (const suffix of ['_sum', '_count']) exposed.add(name + suffix)
    }
    const variables = dashboard.templating.list.map((v) => v.definition ?? '').filter(Boolean)
    const used = new Map<string, string>()
    for (const rule of rules) for (const name of metricNamesIn(rule.expr)) used.set(name, `rule ${rule.alert}`)
    for (const target of targets) for (const name of metricNamesIn(asPromql(target.expr))) used.set(name, `dashboard ${target.expr}`)
    for (const definition of variables) {
      for (const [, name] of definition.matchAll(/label_values\(\s*([a-zA-Z_:][\w:]*)\s*,/g)) used.set(name, `dashboard variable ${definition}`)
    }
    // The extraction finds what the files are known to use, so an empty result cannot pass unnoticed.
    const known = ['gamepay_callbacks_total', 'gamepay_http_request_duration_seconds_bucket', 'gamepay_db_up', 'nodejs_eventloop_lag_p99_seconds']
    for (const name of known) {
      assert.ok(used.has(name), `${name} found in the files`)
    }
    for (const [name, where] of used) assert.ok(exposed.has(name), `${name} (${where}) is not exposed by /metrics`)
  })

  test('when promtool checks the alert rules and the dashboard\'s queries, then they are valid PromQL', (t) => {
    if (!havePromtool(t)) return
    const checked = promtool(['check', 'rules', RULES_FILE])
    assert.equal(checked.status, 0, checked.stdout + checked.stderr)
    assert.match(checked.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`))

    // Each dashboard query as a recording rule, so promtool parses it too.
    const file = join(scratch(), 'dashboard-queries.yml')
    const recorded = targets.map((target, i) => ({ record: `gamepay_dashboard:query_${i}`, expr: asPromql(target.expr) }))
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules: recorded }] }))
    const queries = promtool(['check', 'rules', file])
    assert.equal(queries.status, 0, queries.stdout + queries.stderr)
  })

  test('when the alerts are fed the series of a bad hour, then each fires, and on a quiet hour none does', (t) => {
    if (!havePromtool(t)) return
    // Per alert: the series that make it fire and the ones that must not, one sample a minute; the
    // labels it fires with.
    const scenarios: Record<string, { bad: Record<string, string>, quiet: Record<string, string>, labels: Record<string, string> }> = {
      GamepayBadSignatureBurst: {
        bad: { 'gamepay_callbacks_total{outcome="SIGN_INVALID", instance="a"}': '0+10x20' },
        quiet: { 'gamepay_callbacks_total{outcome="SIGN_INVALID", instance="a"}': '0+1x20' },
        labels: { instance: 'a' },
      },
      GamepayCallbacksFailing: {
        bad: {
          'gamepay_http_request_duration_seconds_count{route="/api/pay/callback", status="200", instance="a"}': '0+10x20',
          'gamepay_http_request_duration_seconds_count{route="/api/pay/callback", status="503", instance="a"}': '0+5x20',
        },
        quiet: {
          'gamepay_http_request_duration_seconds_count{route="/api/pay/callback", status="200", instance="a"}': '0+10x20',
          'gamepay_http_request_duration_seconds_count{route="/api/pay/callback", status="503", instance="a"}': '0x20',
          'gamepay_http_request_duration_seconds_count{route="/api/pay/create-order", status="500", instance="a"}': '0+10x20',
        },
        labels: { instance: 'a' },
      },
      GamepayOutboxStale: {
        bad: { 'gamepay_outbox_oldest_age_seconds{instance="a"}': '0+60x20' },
        quiet: { 'gamepay_outbox_oldest_age_seconds{instance="a"}': '0 15 0 60 0 15 75 135 0 15 0x10' },
        labels: {},
      },
      GamepayNotificationsFailed: {
        bad: { 'gamepay_notifications_total{result="failed", instance="a"}': '0x8 1x12' },
        quiet: {
          'gamepay_notifications_total{result="failed", instance="a"}': '0x20',
          'gamepay_notifications_total{result="retry", instance="a"}': '0+3x20',
        },
        labels: {},
      },
      GamepayDatabaseUnavailable: {
        bad: { 'gamepay_db_up{instance="a"}': '1x4 0x16' },
        quiet: { 'gamepay_db_up{instance="a"}': '1x20' },
        labels: { instance: 'a' },
      },
    }
    assert.deepEqual(Object.keys(scenarios).sort(), rules.map((r) => r.alert).sort(), 'every alert has a scenario')

    const expected = (rule: Rule, labels: Record<string, string>) => ({
      exp_labels: { ...rule.labels, ...labels },
      exp_annotations: Object.fromEntries(Object.entries(rule.annotations ?? {})
        .map(([k, v]) => [k, v.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, label: string) => labels[label] ?? '')])),
    })
    const tests = Object.entries(scenarios).flatMap(([alert, s]) => {
      const rule = rules.find((r) => r.alert === alert)!
      const series = (values: Record<string, string>) => Object.entries(values).map(([name, v]) => ({ series: name, values: v }))
      const at10m = (expAlerts: unknown[]) => [{ eval_time: '10m', alertname: alert, exp_alerts: expAlerts }]
      return [
        { name: `${alert} on a bad hour`, interval: '1m', input_series: series(s.bad), alert_rule_test: at10m([expected(rule, s.labels)]) },
        { name: `${alert} on a quiet hour`, interval: '1m', input_series: series(s.quiet), alert_rule_test: at10m([]) },
      ]
    })
    const file = join(scratch(), 'alerts.test.yml')
    writeFileSync(file, stringify({ rule_files: [RULES_FILE], evaluation_interval: '1m', tests }))
    const run = promtool(['test', 'rules', file])
    assert.equal(run.status, 0, run.stdout + run.stderr)
  })

  test('when promtool lints the output of /metrics, then the service\'s own series follow Prometheus\' naming rules', async (t) => {
    if (!havePromtool(t)) return
    const app = await createTestApp('sqlite')
    let text: string
    try {
      await app.app.inject({ url: '/api/pay/goods?id=1' })
      text = (await app.app.inject({ url: '/metrics' })).body
    } finally {
      await app.close()
    }
    const lint = promtool(['check', 'metrics'], text)
    // prom-client's own process metrics draw a few complaints (nodejs_active_handles_total is a gauge); ours none.
    const ours = (lint.stdout + lint.stderr).split('\n').filter((line) => line.startsWith('gamepay_'))
    assert.deepEqual(ours, [])
  })
})
