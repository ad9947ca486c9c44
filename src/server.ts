import cluster from 'node:cluster'
import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { buildApp } from './app.ts'
import { loadConfig, type Config } from './config.ts'
import { createContext } from './context.ts'
import { STOP_MESSAGE, superviseWorkers } from './supervisor.ts'

export function createLogger (config: Config, destination?: pino.DestinationStream) {
  // Pretty for a person at a terminal, when pino-pretty (a dev dependency) is installed; JSON lines
  // for everything else, a production install included.
  let pretty: string | undefined
  if (!destination && process.stdout.isTTY) {
    try {
      pretty = import.meta.resolve('pino-pretty')
    } catch {}
  }
  return pino({
    level: config.logLevel,
    redact: { paths: ['sign', '*.sign', 'secret', '*.secret', 'callbackSecret', '*.callbackSecret', 'req.headers.authorization'], censor: '[redacted]' },
    transport: pretty ? { target: pretty, options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } : undefined,
  }, destination)
}

/**
 * The service as configured: this process serves alone, or with WORKERS > 1 it is the primary that
 * forks and supervises that many workers, each of which comes back here and serves.
 */
export async function start (config: Config = loadConfig()): Promise<void> {
  if (config.workers > 1 && cluster.isPrimary) {
    process.exitCode = await superviseWorkers(config, createLogger(config))
    return
  }
  await serve(config)
}

/** config → context → app → listen, and a graceful close on SIGTERM/SIGINT (or the primary's word, in a worker). */
export async function serve (config: Config = loadConfig()) {
  const log = createLogger(config)
  // A worker closes when the primary asks (it got SIGTERM) or is gone: listening from the start,
  // so a request to stop that comes while this worker is still starting is not lost.
  const stopping: { asked: boolean, now?: () => void } = { asked: false }
  if (cluster.isWorker) {
    const ask = () => {
      stopping.asked = true
      stopping.now?.()
    }
    process.on('message', (message) => { if (message === STOP_MESSAGE) ask() })
    process.once('disconnect', ask)
  }
  if (config.callbackSecretIsDevDefault) log.warn('CALLBACK_SECRET is not set: using the development secret, allowed only on loopback outside production')
  const ctx = await createContext(config, { sweepMs: 15_000, deliverMs: 1_000, log })
  let app: Awaited<ReturnType<typeof buildApp>> | undefined
  let address: string
  try {
    app = await buildApp(ctx, { logger: log })
    address = await app.listen({ port: config.port, host: config.host })
  } catch (err) {
    // The port is taken, say: give the worker id back now rather than when its lease runs out.
    await app?.close()
    await ctx.close()
    throw err
  }
  const started = app
  let closing = false
  const grace = closeWithGrace({ delay: 10_000, logger: log }, async ({ signal, err }) => {
    closing = true
    if (err) log.error({ err }, 'closing after an error')
    else log.info({ signal: signal ?? 'asked by the primary' }, 'closing: finishing in-flight requests')
    await started.close()
    await ctx.close()
  })
  stopping.now = () => { if (!closing) grace.close() }
  if (stopping.asked) stopping.now()
  log.info(`gamepay listening on ${address} (database: ${ctx.store.caps.name}, worker id ${ctx.ids.workerId()})`)
  log.info(`API: ${address}/api/pay/goods?id=1   docs: ${address}/docs`)
  return { app: started, ctx, address }
}
