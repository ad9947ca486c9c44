// Load benchmark of gamepay's hot paths against a ceiling (never part of `npm test`).
//
//   npm run bench -- [--db sqlite,postgres,mysql] [--only goods,create-order,callback,verification]
//                    [--rounds 3] [--duration 10] [--connections 50] [--workers N] [--gamepay-dir DIR] [--profile]
//
// For each database and hot path, two servers run side by side on a fresh database: gamepay
// (`node bin/gamepay.js serve`, NODE_ENV=production) and the ceiling (bench/ceiling/server.ts: the
// same framework, schemas, driver and durability doing only the statements the request cannot do
// without). Both are warmed up (a round that is checked but not counted), then rounds measure one
// after the other, with new bodies and orders: odd rounds the ceiling first, even rounds gamepay, so
// neither a machine busy with something else nor the order favours one. Each round is followed by a
// check of the database against every answer. Prints each round, then the medians as a markdown table.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, type Store } from '../src/db/connect.ts'
import { runLoad, wrkInstalled, type GeneratorName, type LoadRun } from './generator.ts'
import {
  DEFAULT_BENCH_DATABASE, databaseVersion, freshBenchDatabase, machine, ROOT, startServer, type BenchDialect, type ServerProcess,
} from './lib.ts'
import { parseOptions, runMain, UsageError, wholeNumber } from './options.ts'
import { SECRET } from './payments.ts'
import { cpuSeconds, fileSystemOf, peakRssMb, processTree } from './procstat.ts'
import { selfTimes } from './profile.ts'
import { BENCH_GOODS, PATHS, prepareRound, type HotPath } from './scenarios.ts'

const DIALECTS: BenchDialect[] = ['sqlite', 'postgres', 'mysql']
const DIALECT_NAMES: Record<BenchDialect, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL', mysql: 'MariaDB' }
const SERVERS = ['ceiling', 'gamepay'] as const
type ServerName = typeof SERVERS[number]

const USAGE = `npm run bench -- [options]
Each hot path on each database: gamepay against a ceiling server (the same framework, driver and
durability doing only the essential statements), in alternating rounds, each checked against the database.
  --db D[,D...]        ${DIALECTS.join(', ')} (default all three)
  --only P[,P...]      ${Object.keys(PATHS).join(', ')} (default all)
  --rounds N           rounds per server (default 3; an even number weighs both orders alike),
                       after a warm-up: ceiling, gamepay, then gamepay, ceiling, ...
  --duration N         seconds per round (default 10)
  --connections N      concurrent connections (default 50)
  --workers N          start gamepay with WORKERS=N (or auto); SQLite, which gamepay serves from one
                       process only, runs without it
  --gamepay-dir DIR    run gamepay from that checkout's bin/gamepay.js (default this one), built first
  --profile            run gamepay under node --cpu-prof and print its top 25 functions by self time
  --ceiling-group-commit
                       SQLite ceiling: the requests of one event-loop turn share one commit
                       (default: a commit, so an fsync, per request)
  --db-name NAME       PostgreSQL/MariaDB database to drop and fill (default ${DEFAULT_BENCH_DATABASE}, or the
                       one in BENCH_PG_URL / BENCH_MYSQL_URL)
  --generator G        wrk (the default when /usr/bin/wrk is installed) or autocannon
  --threads N          wrk threads (default 1)
Load stays on 127.0.0.1; each round lasts --duration, plus the preparation of its orders.`

// A database that does not match the answers: explained by its message alone, no stack trace.
class ConsistencyError extends Error {}

function list<T extends string> (name: string, raw: string[] | undefined, all: readonly T[]): T[] {
  const given = (raw ?? []).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean)
  for (const s of given) if (!all.includes(s as T)) throw new UsageError(`--${name}: unknown "${s}"; one of ${all.join(', ')}`)
  return all.filter((s) => given.length === 0 || given.includes(s))
}

function options () {
  const values = parseOptions({
    db: { type: 'string', multiple: true },
    only: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    workers: { type: 'string' },
    'gamepay-dir': { type: 'string' },
    profile: { type: 'boolean', default: false },
    'ceiling-group-commit': { type: 'boolean', default: false },
    'db-name': { type: 'string' },
    generator: { type: 'string' },
    threads: { type: 'string', default: '1' },
  }, USAGE)
  const whole = (name: string, raw: string, max: number) => wholeNumber(name, raw, 1, max)
  const generator = (values.generator ?? (wrkInstalled() ? 'wrk' : 'autocannon')) as GeneratorName
  if (generator !== 'wrk' && generator !== 'autocannon') throw new UsageError(`--generator must be wrk or autocannon, got "${generator}"`)
  if (generator === 'wrk' && !wrkInstalled()) throw new UsageError('--generator wrk: /usr/bin/wrk is not installed (apt-get install wrk)')
  const dbName = values['db-name']
  if (dbName !== undefined && !/^[A-Za-z0-9_]+$/.test(dbName)) throw new UsageError(`--db-name must be letters, digits and _, got "${dbName}"`)
  const gamepayDir = resolve(values['gamepay-dir'] ?? ROOT)
  if (!existsSync(join(gamepayDir, 'bin', 'gamepay.js'))) throw new UsageError(`--gamepay-dir: ${gamepayDir}/bin/gamepay.js not found`)
  return {
    dbs: list('db', values.db, DIALECTS),
    paths: list('only', values.only, Object.keys(PATHS) as HotPath[]),
    rounds: whole('rounds', values.rounds, 20),
    durationMs: whole('duration', values.duration, 600) * 1000,
    connections: whole('connections', values.connections, 1000),
    workers: values.workers === undefined ? null : values.workers === 'auto' ? 'auto' : String(whole('workers', values.workers, 256)),
    threads: whole('threads', values.threads, 16),
    gamepayDir,
    profile: values.profile,
    ceilingGroupCommit: values['ceiling-group-commit'],
    dbName,
    generator,
  }
}
type Options = ReturnType<typeof options>

interface Measured {
  path: HotPath
  db: BenchDialect
  server: ServerName
  run: LoadRun
  serverCpuS: number
  rssMb: number
  check?: { ok: boolean, detail: string }
}

const fmt = (n: number, digits = 2) => n.toFixed(digits)
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`
const share = (cpuS: number, wallS: number) => `${fmt((100 * cpuS) / wallS, 0)}%`
const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

// First guess of a round's requests per second, to size its bodies and orders (a server's first
// round: this or the ceiling's rate, whichever is higher); later rounds are sized by the server's
// fastest round so far, and a round that used them all up runs again with more.
const FIRST_GUESS: Record<HotPath, number> = { goods: 0, 'create-order': 10_000, callback: 4_000, verification: 6_000 }
const SIZE_MARGIN = 2
const WARM_UP_MS = 3000
const RETRY_FACTOR = 2.5
const ATTEMPTS = 3

async function main () {
  const opts = options()
  const tmp = mkdtempSync(join(tmpdir(), 'gamepay-bench-'))
  const servers: ServerProcess[] = []
  const stopAll = () => Promise.all(servers.splice(0).map((s) => s.stop()))
  process.once('SIGINT', () => { stopAll().finally(() => process.exit(130)) })
  const measured: Measured[] = []
  const failures: string[] = []
  const profiles: Array<{ path: HotPath, db: BenchDialect, dir: string }> = []
  const versions: string[] = []
  try {
    buildCheckout(opts.gamepayDir)
    const goodsFile = join(tmp, 'goods.json')
    writeFileSync(goodsFile, JSON.stringify(BENCH_GOODS))
    const m = machine()
    console.log(`gamepay bench: ${opts.paths.join(', ')} on ${opts.dbs.join(', ')}; ${plural(opts.rounds, 'round')} of ${opts.durationMs / 1000} s per server, ` +
      `${opts.connections} connections, ${opts.generator}${opts.generator === 'wrk' ? ` (${plural(opts.threads, 'thread')})` : ''}; ` +
      `gamepay from ${opts.gamepayDir}${opts.workers ? ` with WORKERS=${opts.workers}` : ''}` +
      `${opts.ceilingGroupCommit && opts.dbs.includes('sqlite') ? '; SQLite ceiling with group commit' : ''}; ${m.cpu}, ${m.cores} cores`)

    for (const db of opts.dbs) {
      if (db === 'sqlite' && opts.workers) console.log(`sqlite: gamepay runs as one process (WORKERS=${opts.workers} is for PostgreSQL and MariaDB)`)
      const url = await freshBenchDatabase(db, tmp, opts.dbName)
      const env = { DATABASE_URL: url, CALLBACK_SECRET: SECRET, GOODS_SEED: goodsFile, NODE_ENV: 'production', LOG_LEVEL: 'warn' }
      migrate(opts.gamepayDir, env)
      const store = connect(url)
      try {
        versions.push(await databaseVersion(store) + (db === 'sqlite' ? ` (file on ${fileSystemOf(tmp)})` : ` (database ${new URL(url).pathname.slice(1)})`))
        for (const path of opts.paths) {
          const profileDir = opts.profile ? join(tmp, `profile-${db}-${path}`) : null
          if (profileDir) mkdirSync(profileDir)
          const start = (name: ServerName) => name === 'ceiling'
            ? startServer('ceiling', ['--import', 'tsx', 'bench/ceiling/server.ts'],
              { ...env, CEILING_GROUP_COMMIT: opts.ceilingGroupCommit ? '1' : '0' }, '/readyz')
            : startServer('gamepay', [...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []), 'bin/gamepay.js', 'serve'],
              // WORKERS always set, so one exported in the shell does not slip in.
              { ...env, WORKERS: (db === 'sqlite' ? null : opts.workers) ?? '1' }, '/readyz', opts.gamepayDir)
          // Each server's fastest round so far sizes its next one.
          const fastest: Partial<Record<ServerName, number>> = {}
          const rateOf = (name: ServerName) => fastest[name] ?? Math.max(FIRST_GUESS[path], fastest.ceiling ?? 0)
          try {
            const started: Partial<Record<ServerName, ServerProcess>> = {}
            for (const name of SERVERS) servers.push(started[name] = await start(name))
            // Unmeasured (but checked): the first seconds of a process are the JIT's.
            for (const name of SERVERS) await measureRound({ opts, tmp, store, failures }, path, db, name, started[name]!, 0, rateOf(name), true)
            for (let round = 1; round <= opts.rounds; round++) {
              // Odd rounds measure the ceiling first, even rounds gamepay: the order weighs on both alike.
              for (const name of round % 2 === 1 ? SERVERS : [...SERVERS].reverse()) {
                const { result, rateSeen } = await measureRound({ opts, tmp, store, failures }, path, db, name, started[name]!, round, rateOf(name))
                fastest[name] = Math.max(fastest[name] ?? 0, rateSeen)
                measured.push(result)
              }
            }
          } finally {
            await stopAll()
          }
          if (profileDir) profiles.push({ path, db, dir: profileDir })
        }
      } finally {
        await store.close()
      }
    }

    printTable(measured, opts)
    console.log('')
    console.log(`${m.cpu}, ${m.cores} cores, Node ${m.node}; ${versions.join('; ')}. ${opts.generator} on the same machine, ` +
      `${opts.durationMs / 1000} s per round, ${opts.connections} connections; medians of ${plural(opts.rounds, 'round')}.`)
    for (const p of profiles) printProfile(p.path, p.db, p.dir)
  } finally {
    await stopAll()
    rmSync(tmp, { recursive: true, force: true })
  }
  if (failures.length > 0) throw new ConsistencyError(`the database disagrees with the answers:\n  ${failures.join('\n  ')}`)
}

/** gamepay runs from the checkout's dist/, built here from its sources (a no-op when they have not changed). */
function buildCheckout (dir: string) {
  if (!existsSync(join(dir, 'node_modules'))) throw new UsageError(`--gamepay-dir: ${dir} has no node_modules; run npm ci there first`)
  // As the test runner builds: a type error is the type-check's to report, not a reason to measure nothing.
  const built = spawnSync(process.execPath, ['scripts/build.js', '--allow-type-errors'], { cwd: dir, stdio: 'inherit' })
  if (built.status !== 0) throw new Error(`building ${dir} failed (node scripts/build.js ended with ${built.status})`)
}

/** The tables, from gamepay's own migrations, before either server starts. */
function migrate (dir: string, env: Record<string, string>) {
  const run = spawnSync(process.execPath, ['bin/gamepay.js', 'migrate'], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`gamepay migrate failed (${run.status}):\n${run.stdout}${run.stderr}`)
}

interface Bench {
  opts: Options
  /** Where wrk's bodies and results go. */
  tmp: string
  /** The benchmark's own connection, for the orders it prepares and the checks. */
  store: Store
  /** Checks that failed, every attempt's. */
  failures: string[]
}

/** One round of one server: bodies and orders prepared, the load, the check (again with more bodies when they ran out). */
async function measureRound ({ opts, tmp, store, failures }: Bench, path: HotPath, db: BenchDialect, name: ServerName, server: ServerProcess,
  round: number, rate: number, warmUp = false): Promise<{ result: Measured, rateSeen: number }> {
  const durationMs = warmUp ? WARM_UP_MS : opts.durationMs
  const durationS = durationMs / 1000
  let count = Math.ceil(rate * durationS * SIZE_MARGIN) + 1000
  // An attempt that ran out of requests still tells (at least) how fast the server went.
  let rateSeen = 0
  for (let attempt = 0; ; attempt++) {
    // Unique per round, server and attempt: the rows each round made are told apart by it.
    const tag = `${path.slice(0, 2)}${round}${warmUp ? 'w' : ''}${name[0]}${attempt}`
    const prepStarted = performance.now()
    const prepared = await prepareRound(path, store, tag, count)
    const prepS = (performance.now() - prepStarted) / 1000
    const pids = processTree(server.pid)
    const cpuBefore = cpuSeconds(pids)
    const run = await runLoad(opts.generator, {
      origin: server.origin,
      path: PATHS[path].url,
      durationMs,
      connections: opts.connections,
      threads: opts.threads,
      bodies: prepared.bodies,
      dir: tmp,
    })
    const serverCpuS = cpuSeconds(pids) - cpuBefore
    // Requests the generator left in flight finish on the server before the database is read.
    await quiesce(pids)
    const rssMb = peakRssMb(processTree(server.pid))
    const check = prepared.check && run.outcomes ? await prepared.check(run.outcomes) : undefined
    if (check && !check.ok) failures.push(`${db} ${path} ${name} round ${round}${warmUp ? ' warm-up' : ''}: ${check.detail}`)
    const result: Measured = { path, db, server: name, run, serverCpuS, rssMb, check }
    report(result, warmUp ? 'warm-up' : `${round}/${opts.rounds}`, prepared.bodies ? `${count} ${path === 'create-order' ? 'bodies' : 'orders'} in ${fmt(prepS, 1)} s` : '')
    rateSeen = Math.max(rateSeen, run.reqPerSec)
    if (!run.exhausted || attempt + 1 >= ATTEMPTS) return { result, rateSeen }
    count = Math.ceil(count * RETRY_FACTOR)
    console.log(`  every prepared request was sent before the round ended: again with ${count}`)
  }
}

/** Waits until the processes have used no CPU for 200 ms (at most 5 s). */
async function quiesce (pids: number[]) {
  const until = performance.now() + 5000
  let last = cpuSeconds(pids)
  let still = 0
  while (still < 2 && performance.now() < until) {
    await sleep(100)
    const now = cpuSeconds(pids)
    still = now === last ? still + 1 : 0
    last = now
  }
}

function report (m: Measured, round: string, prepared: string) {
  const r = m.run
  console.log(`${m.db.padEnd(8)} ${m.path.padEnd(12)} ${round} ${m.server.padEnd(7)} ${fmt(r.reqPerSec, 0).padStart(7)} req/s  ` +
    `p50 ${fmt(r.p50)} ms  p99 ${fmt(r.p99)} ms  non-2xx ${r.non2xx}  errors ${r.errors}  | server CPU ${share(m.serverCpuS, r.elapsedS)} ` +
    `RSS ${fmt(m.rssMb, 0)} MB | ${r.generator} CPU ${share(r.generatorCpuS, r.elapsedS)}` + (prepared ? ` | ${prepared}` : ''))
  if (r.non2xx > 0) console.log(`  status codes: ${JSON.stringify(r.statusCodes)}; first failure: ${r.firstFailure}`)
  if (m.check) console.log(`  check ${m.check.ok ? 'ok' : 'FAILED'}: ${m.check.detail}`)
}

function printTable (measured: Measured[], opts: Options) {
  const rows: string[] = []
  for (const path of opts.paths) {
    for (const db of opts.dbs) {
      const of = (server: ServerName) => measured.filter((m) => m.path === path && m.db === db && m.server === server)
      const g = of('gamepay')
      const c = of('ceiling')
      if (g.length === 0 || c.length === 0) continue
      const med = (ms: Measured[], f: (m: Measured) => number) => median(ms.map(f))
      const rps = (ms: Measured[]) => med(ms, (m) => m.run.reqPerSec)
      const latency = (ms: Measured[]) => `${fmt(med(ms, (m) => m.run.p50))} / ${fmt(med(ms, (m) => m.run.p99))}`
      const cpu = (ms: Measured[], f: (m: Measured) => number) => `${fmt(med(ms, (m) => (100 * f(m)) / m.run.elapsedS), 0)}%`
      rows.push(`| ${path} | ${DIALECT_NAMES[db]} | ${fmt(rps(g), 0)} | ${fmt(rps(c), 0)} | ${fmt(rps(g) / rps(c))} | ${latency(g)} | ${latency(c)} | ` +
        `${fmt(Math.max(...g.map((m) => m.rssMb)), 0)} | ${cpu(g, (m) => m.run.generatorCpuS)} / ${cpu(c, (m) => m.run.generatorCpuS)} | ` +
        `${cpu(g, (m) => m.serverCpuS)} / ${cpu(c, (m) => m.serverCpuS)} |`)
    }
  }
  if (rows.length === 0) return
  console.log('')
  console.log('| path | db | gamepay req/s | ceiling req/s | ratio | gamepay p50/p99 ms | ceiling p50/p99 ms | gamepay RSS max MB | generator CPU (g / c) | server CPU (g / c) |')
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  for (const row of rows) console.log(row)
}

function printProfile (path: HotPath, db: BenchDialect, dir: string) {
  const { functions, busyMs, files } = selfTimes(dir)
  console.log('')
  console.log(`gamepay CPU profile, ${path} on ${DIALECT_NAMES[db]} (${files === 1 ? '1 process' : `${files} processes`}, ${fmt(busyMs / 1000, 1)} s busy; ` +
    'the whole life of the server, start-up and preparation included): top 25 by self time')
  for (const f of functions.slice(0, 25)) console.log(`${fmt(f.ms, 0).padStart(8)} ms ${fmt((100 * f.ms) / busyMs, 1).padStart(5)}%  ${f.name}`)
}

runMain(main, USAGE, (err) => err instanceof ConsistencyError)
