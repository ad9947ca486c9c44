import type { Bindings, ChildLoggerOptions, Logger } from 'pino'
import type { FastifyBaseLogger } from 'fastify'

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const

/**
 * A request's logger that makes pino's child only when something is logged at an enabled level:
 * pino builds a child eagerly, redaction included, which is a few per cent of a cached goods
 * request, and most requests log nothing above the configured level. Its methods live on the
 * prototype, so a request allocates one small object.
 */
class LazyChildLogger {
  child_: Logger | undefined
  constructor (readonly parent: Logger, readonly bindings: Bindings, readonly opts: ChildLoggerOptions) {}

  real (): Logger {
    return (this.child_ ??= this.parent.child(this.bindings, this.opts))
  }

  get level () { return this.child_?.level ?? this.parent.level }
  set level (value: string) { this.real().level = value }
  isLevelEnabled (level: string) { return (this.child_ ?? this.parent).isLevelEnabled(level) }
  child (bindings: Bindings, opts?: ChildLoggerOptions) { return this.real().child(bindings, opts) }
  silent () {}
}

for (const level of LEVELS) {
  Object.defineProperty(LazyChildLogger.prototype, level, {
    value: function (this: LazyChildLogger, ...args: unknown[]) {
      if (!this.isLevelEnabled(level)) return
      ;(this.real()[level] as (...a: unknown[]) => void)(...args)
    },
  })
}

/** Fastify's per-request logger (req.log), made only when something is logged at an enabled level. */
export function lazyChildLogger (logger: Logger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  // A logger that is not pino's (a caller of buildApp may give any Fastify logger): nothing to save there.
  if (typeof logger.isLevelEnabled !== 'function') return logger.child(bindings, opts) as FastifyBaseLogger
  return new LazyChildLogger(logger, bindings, opts) as unknown as FastifyBaseLogger
}
