import closeWithGrace from 'close-with-grace'
import pino from 'pino'
import { buildApp } from './app.ts'
import { loadConfig, type Config } from './config.ts'
import { createContext } from './context.ts'

export function createLogger (config: Config, destination?: pino.DestinationStream) {
  const pretty = !destination && process.stdout.isTTY
  return pino({
    level: config.logLevel,
    redact: { paths: ['sign', '*.sign', 'secret', '*.secret', 'callbackSecret', '*.callbackSecret', 'req.headers.authorization'], censor: '[redacted]' },
    // Pretty for a person at a terminal; JSON lines for everything else.
    transport: pretty ? { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } : undefined,
  }, destination)
}

/** config → context → app → listen, and a graceful close on SIGTERM/SIGINT. */
export async function serve (config: Config = loadConfig()) {
  const log = createLogger(config)
  if (config.callbackSecretIsDevDefault) log.warn('CALLBACK_SECRET is not set: using the development secret; never do this in production')
  const ctx = await createContext(config, { sweepMs: 15_000, log })
  const app = await buildApp(ctx, { logger: log })
  closeWithGrace({ delay: 10_000, logger: log }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'closing after an error')
    else log.info({ signal }, 'closing: finishing in-flight requests')
    await app.close()
    await ctx.close()
  })
  const address = await app.listen({ port: config.port, host: config.host })
  log.info(`gamepay listening on ${address} (database: ${ctx.store.caps.name}, worker id ${ctx.ids.workerId()})`)
  log.info(`API: ${address}/api/pay/goods?id=1   docs: ${address}/docs`)
  return { app, ctx, address }
}
