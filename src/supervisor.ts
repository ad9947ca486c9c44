// WORKERS > 1: this (primary) process forks that many workers, each a whole gamepay instance with
// its own database pool and leased worker id, all serving one port through node's cluster module
// (the primary accepts connections and hands them out in turn). The primary serves no requests
// itself, only the merged metrics a worker asks for on a scrape (cluster-metrics.ts). It restarts a
// worker that dies, gives up when workers keep dying before they listen (a database that is not
// there, a port that is taken: restarting cannot help), and on SIGTERM or SIGINT asks every worker
// to close as a single instance does on SIGTERM, then exits.
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { answerClusterMetrics } from './cluster-metrics.ts'
import type { Config } from './config.ts'

/** The primary's request to close, sent over the IPC channel (src/server.ts listens for it). */
export const STOP_MESSAGE = 'gamepay:stop'

/** A worker that has listened this long started well: its slot's next restart waits no longer. */
const STABLE_MS = 10_000
/** Workers that died before listening, in a row: at this many the primary gives up. */
const MAX_START_FAILURES = 5
const FIRST_BACKOFF_MS = 500
const MAX_BACKOFF_MS = 15_000
/** The workers' own grace on close (10 s, src/server.ts) and a margin, then SIGKILL. */
const STOP_TIMEOUT_MS = 15_000

interface Slot {
  index: number
  worker: Worker | null
  listening: boolean
  /** Deaths since this slot last had a worker up for STABLE_MS. */
  quickExits: number
  stableTimer?: NodeJS.Timeout
  restartTimer?: NodeJS.Timeout
}

/** Delay before a slot's next worker: none at its first death since it ran well, then doubling up to MAX_BACKOFF_MS. */
const restartDelayMs = (quickExits: number) =>
  quickExits <= 1 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (quickExits - 2))

/** Forks config.workers workers and keeps them running; resolves with the exit code once all have stopped. */
export function superviseWorkers (config: Config, log: Logger): Promise<number> {
  const slots: Slot[] = Array.from({ length: config.workers }, (_, i) => ({ index: i + 1, worker: null, listening: false, quickExits: 0 }))
  let startFailures = 0
  let stopping = false
  let exitCode = 0
  let killTimer: NodeJS.Timeout | undefined
  let finish: (code: number) => void = () => {}
  const finished = new Promise<number>((resolve) => { finish = resolve })

  function fork (slot: Slot) {
    const worker = cluster.fork()
    slot.worker = worker
    slot.listening = false
    worker.once('listening', () => {
      slot.listening = true
      startFailures = 0
      slot.stableTimer = setTimeout(() => { slot.quickExits = 0 }, STABLE_MS)
    })
    worker.once('exit', (code, signal) => exited(slot, worker, code, signal))
  }

  function exited (slot: Slot, worker: Worker, code: number | null, signal: string | null) {
    clearTimeout(slot.stableTimer)
    slot.worker = null
    const pid = worker.process.pid
    const how = signal ? `signal ${signal}` : `code ${code}`
    if (stopping) {
      if (code !== 0) exitCode = 1
      log.info({ worker: slot.index, workerPid: pid, code, signal }, `worker ${pid} stopped (${how})`)
      doneIfAllStopped()
      return
    }
    slot.quickExits++
    if (!slot.listening && ++startFailures >= MAX_START_FAILURES) {
      log.error({ worker: slot.index, workerPid: pid, code, signal },
        `workers exited before listening ${startFailures} times in a row (the last: ${how}); giving up`)
      stop(1)
      return
    }
    const delay = restartDelayMs(slot.quickExits)
    log.warn({ worker: slot.index, workerPid: pid, code, signal, restartInMs: delay },
      `worker ${pid} exited (${how}${slot.listening ? '' : ', before listening'}); starting another in ${delay} ms`)
    slot.restartTimer = setTimeout(() => fork(slot), delay)
  }

  function stop (code: number) {
    if (stopping) return
    stopping = true
    exitCode = code
    for (const slot of slots) {
      clearTimeout(slot.restartTimer)
      clearTimeout(slot.stableTimer)
      const worker = slot.worker
      if (!worker) continue
      // A worker hears the message from when it is about to listen: one still starting is asked then.
      if (slot.listening) worker.send(STOP_MESSAGE, () => {})
      else worker.once('listening', () => worker.send(STOP_MESSAGE, () => {}))
    }
    killTimer = setTimeout(() => {
      log.error(`workers still running ${STOP_TIMEOUT_MS} ms after the stop: killing them`)
      for (const slot of slots) slot.worker?.process.kill('SIGKILL')
    }, STOP_TIMEOUT_MS)
    doneIfAllStopped()
  }

  function doneIfAllStopped () {
    if (!slots.every((s) => s.worker === null)) return
    clearTimeout(killTimer)
    log.info('all workers stopped')
    finish(exitCode)
  }

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (!stopping) {
        log.info({ signal }, `closing: asking ${slots.filter((s) => s.worker).length} workers to finish their requests`)
        stop(0)
        return
      }
      // A second signal: stop waiting.
      log.error({ signal }, `second ${signal}: killing the workers`)
      for (const slot of slots) slot.worker?.process.kill('SIGKILL')
      process.exit(1)
    })
  }

  if (config.rateLimitPerMinute > 0 && !config.redisUrl) {
    log.warn(`RATE_LIMIT_PER_MINUTE without REDIS_URL: each of the ${config.workers} workers counts its own budget`)
  }
  answerClusterMetrics()
  log.info(`primary ${process.pid}: starting ${config.workers} workers on ${config.host}:${config.port}`)
  for (const slot of slots) fork(slot)
  return finished
}
