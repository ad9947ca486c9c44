import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { buildApp } from './app.ts'
import { loadConfig, type Config } from './config.ts'
import { createContext } from './context.ts'

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

/** config → context → app → listen, and a graceful close on SIGTERM/SIGINT. */
export async function serve (config: Config = loadConfig()) {
  const log = createLogger(config)
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
  closeWithGrace({ delay: 10_000, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'closing after an error')
    else log.info({ signal }, 'closing: finishing in-flight requests')
    await started.close()
    await ctx.close()
  })
  log.info(`gamepay listening on ${address} (database: ${ctx.store.caps.name}, worker id ${ctx.ids.workerId()})`)
  log.info(`API: ${address}/api/pay/goods?id=1   docs: ${address}/docs`)
  return { app: started, ctx, address }
}
