// The command line the bench scripts share: options, their checks, and how a failure is told.
import { parseArgs, type ParseArgsConfig } from 'node:util'
import type { BenchDialect } from './lib.ts'

/** A wrong option: told with the script's usage, without a stack trace. */
export class UsageError extends Error {}

type Options = NonNullable<ParseArgsConfig['options']>

/** node's parseArgs: a bad option is a UsageError, and -h/--help prints `usage` and exits. */
export function parseOptions<O extends Options> (options: O, usage: string): ReturnType<typeof parseArgs<{ options: O }>>['values'] {
  if (process.argv.includes('-h') || process.argv.includes('--help')) {
    console.log(usage)
    process.exit(0)
  }
  try {
    return parseArgs({ options }).values
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
}

export function wholeNumber (name: string, raw: string, min: number, max: number): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got "${raw}"`)
  return n
}

const DIALECTS: readonly BenchDialect[] = ['sqlite', 'postgres', 'mysql']

/** A comma-separated list of dialects, each one of DIALECTS. */
export function dialectList (name: string, raw: string): BenchDialect[] {
  const given = raw.split(',').map((d) => d.trim()).filter(Boolean)
  for (const d of given) if (!DIALECTS.includes(d as BenchDialect)) throw new UsageError(`--${name}: unknown "${d}"; one of ${DIALECTS.join(', ')}`)
  return given as BenchDialect[]
}

/**
 * Runs a bench script's main and tells its failure: a UsageError with the usage, a failure in
 * `explained` by its message alone, anything else with its stack.
 */
export function runMain (main: () => Promise<void>, usage: string, explained: (err: unknown) => boolean = () => false) {
  main().catch((err: unknown) => {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}`)
    if (err instanceof UsageError) console.error(usage)
    else if (!explained(err) && err instanceof Error && err.stack) console.error(err.stack)
    process.exitCode = 1
  })
}
