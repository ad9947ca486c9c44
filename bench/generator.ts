// The load generator: wrk when installed (C, outside this process, so it takes little of the CPU the
// server needs), else autocannon in this process. Either way each POST body is sent once, numbered by
// X-Request-Id, and the answer to each number is recorded for the database checks.
import { spawn } from 'node:child_process'
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { load, type LoadResult, type Outcomes } from './lib.ts'
import { endedChildrenCpuSeconds } from './procstat.ts'

export const WRK = '/usr/bin/wrk'
/**
 * How long wrk's connections hold their first POST (bench/wrk/requests.lua says why): enough for an
 * idle server to accept 50 connections many times over. Not counted in the round's time.
 */
const OPEN_MS = 250
const WRK_SCRIPT = fileURLToPath(new URL('wrk/requests.lua', import.meta.url))

export type GeneratorName = 'wrk' | 'autocannon'

export function wrkInstalled (): boolean {
  try {
    accessSync(WRK, constants.X_OK)
    return true
  } catch {
    return false
  }
}

export interface LoadSpec {
  origin: string
  path: string
  durationMs: number
  connections: number
  /** wrk's threads (autocannon runs in this one). */
  threads: number
  /** POST these bodies, each once; none: GET `path`. */
  bodies?: string[]
  /** Where wrk's bodies and results are written. */
  dir: string
}

export interface LoadRun extends LoadResult {
  generator: GeneratorName
  /** CPU seconds the generator used during the run. */
  generatorCpuS: number
}

export async function runLoad (generator: GeneratorName, spec: LoadSpec): Promise<LoadRun> {
  return generator === 'wrk' ? runWrk(spec) : runAutocannon(spec)
}

async function runAutocannon (spec: LoadSpec): Promise<LoadRun> {
  const before = process.cpuUsage()
  const { bodies } = spec
  let next = 0
  const result = await load({
    origin: spec.origin,
    connections: spec.connections,
    durationMs: spec.durationMs,
    method: bodies ? 'POST' : 'GET',
    path: spec.path,
    ...(bodies && { nextBody: () => bodies[next++], limit: bodies.length, requestIds: true }),
  })
  const used = process.cpuUsage(before)
  return { ...result, generator: 'autocannon', generatorCpuS: (used.user + used.system) / 1e6 }
}

/** What bench/wrk/requests.lua writes when wrk is done. */
interface WrkReport {
  duration_us: number
  requests: number
  status_errors: number
  socket_errors: number
  timeouts: number
  p50_us: number
  p99_us: number
  threads: Array<{ sent: number[], ok: number[], failed: string[], exhausted: boolean, first_failure: string }>
}

async function runWrk (spec: LoadSpec): Promise<LoadRun> {
  const resultFile = join(spec.dir, 'wrk-result.json')
  const connections = Math.max(spec.connections, spec.threads)
  const env: Record<string, string> = { BENCH_RESULT: resultFile, BENCH_THREADS: String(spec.threads), BENCH_CONNECTIONS: String(connections), BENCH_PATH: spec.path }
  const openMs = spec.bodies ? OPEN_MS : 0
  if (spec.bodies) {
    env.BENCH_OPEN_MS = String(openMs)
    const bodiesFile = join(spec.dir, 'wrk-bodies.txt')
    writeFileSync(bodiesFile, spec.bodies.join('\n') + '\n')
    env.BENCH_BODIES = bodiesFile
  }
  writeFileSync(resultFile, '')
  const args = ['-t', String(spec.threads), '-c', String(connections),
    '-d', `${Math.round(spec.durationMs / 1000)}s`, '--timeout', '10s', '-s', WRK_SCRIPT, spec.origin + spec.path]
  // wrk's CPU time reaches this process's children times once it has ended and been waited for.
  const cpuBefore = endedChildrenCpuSeconds()
  const child = spawn(WRK, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
  // A wrk that hangs past its duration is ended: the run stays bounded in time.
  const killer = setTimeout(() => child.kill('SIGKILL'), spec.durationMs + 60_000)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  })
  clearTimeout(killer)
  const generatorCpuS = endedChildrenCpuSeconds() - cpuBefore
  const text = readFileSync(resultFile, 'utf8')
  if (code !== 0 || text === '') throw new Error(`wrk ${args.join(' ')} ended with code ${code}:\n${output}`)
  const report = JSON.parse(text) as WrkReport

  const elapsedS = report.duration_us / 1e6 - openMs / 1000
  let outcomes: Outcomes | undefined
  let firstFailure: string | null = null
  let ok = report.requests - report.status_errors
  let non2xx = report.status_errors
  const statusCodes: Record<string, number> = {}
  if (spec.bodies) {
    outcomes = { sent: [], ok: [], failed: [] }
    for (const t of report.threads) {
      outcomes.sent.push(...t.sent)
      outcomes.ok.push(...t.ok)
      for (const f of t.failed) {
        const [id, status] = f.split(':').map(Number)
        outcomes.failed.push([id, status])
        statusCodes[status] = (statusCodes[status] ?? 0) + 1
      }
      if (firstFailure === null && t.first_failure !== '') firstFailure = t.first_failure
    }
    ok = outcomes.ok.length
    non2xx = outcomes.failed.length
  } else if (non2xx > 0) {
    statusCodes['4xx/5xx'] = non2xx
  }
  return {
    generator: 'wrk',
    generatorCpuS,
    completed: report.requests,
    ok,
    non2xx,
    errors: report.socket_errors + report.timeouts,
    elapsedS,
    reqPerSec: report.requests / elapsedS,
    p50: report.p50_us / 1000,
    p99: report.p99_us / 1000,
    statusCodes,
    firstFailure,
    exhausted: report.threads.some((t) => t.exhausted),
    outcomes,
  }
}
