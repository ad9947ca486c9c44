import type { Bindings, ChildLoggerOptions, Logger } from 'pino'
import type { FastifyBaseLogger } from 'fastify'

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const

/**
 * Fastify's per-request logger (req.log), made only when something is logged at an enabled level.
 * pino builds a child eagerly, redaction included, which is a few per cent of a cached goods
 * request; most requests log nothing above the configured level.
 */
export function lazyChildLogger (logger: Logger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  // Fastify's stand-in when logging is off is no pino logger: nothing to save there.
  if (typeof logger.isLevelEnabled !== 'function') return logger.child(bindings, opts) as FastifyBaseLogger
  let child: Logger | undefined
  const real = () => (child ??= logger.child(bindings, opts))
  const lazy = {
    get level () { return child?.level ?? logger.level },
    set level (value: string) { real().level = value },
    isLevelEnabled: (level: string) => (child ?? logger).isLevelEnabled(level),
    child: (b: Bindings, o?: ChildLoggerOptions) => real().child(b, o),
    silent: () => {},
  } as unknown as FastifyBaseLogger & Record<string, unknown>
  for (const level of LEVELS) {
    lazy[level] = (...args: unknown[]) => {
      if (!(child ?? logger).isLevelEnabled(level)) return
      ;(real()[level] as (...a: unknown[]) => void)(...args)
    }
  }
  return lazy
}
