import { ConfigError, loadConfig, loadEnv, type Config } from '../config.ts'
import { CliError } from './cli-error.ts'

type Env = Record<string, string | undefined>

/** The variables a command sees (the environment over .env), and where each one came from. */
export interface CliEnv {
  vars: Env
  /** Where a variable's value came from; null when it is unset or blank, so its default applies. */
  origin: (name: string) => 'the environment' | '.env' | null
}

/** Reads `.env` as the server does (the environment wins), remembering which values came from the file. */
export function readCliEnv (): CliEnv {
  const inherited = new Set(Object.keys(process.env))
  const vars = loadEnv()
  return { vars, origin: (name) => !vars[name]?.trim() ? null : inherited.has(name) ? 'the environment' : '.env' }
}

/** "DATABASE_URL from .env", "PORT from the environment", "the default DATABASE_URL". */
export function describeVar (env: CliEnv, name: string): string {
  const origin = env.origin(name)
  return origin ? `${name} from ${origin}` : `the default ${name}`
}

// Any fixed value that passes the start-up rules for a secret (16+ characters, not the development one).
const STAND_IN_SECRET = 'stand-in-while-the-tool-signs-with-its-own-key'

/**
 * The configuration the server would load from the same variables, loaded on first use, so a command
 * given everything by flags never needs it. `withOwnKey`: the command signs with --secret or
 * --private-key, so whether the configured secret would pass the server's start-up rules is none of its
 * business; a stand-in secret lets the rest be read. `bypass` names the flags that do without it.
 */
export function configReader (env: CliEnv, opts: { withOwnKey: boolean, bypass: string }): () => Config {
  let config: Config | undefined
  return () => {
    if (config) return config
    try {
      config = loadConfig(opts.withOwnKey ? { ...env.vars, CALLBACK_SECRET: STAND_IN_SECRET } : env.vars)
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err
      // Only the secret's rules stand in the way: --secret alone does without them.
      const bypass = err.message.startsWith('CALLBACK_SECRET:') ? '--secret with the server\'s secret' : opts.bypass
      throw new CliError(`the server's configuration (the environment and .env) does not load: ${err.message}`,
        `the server would refuse to start with it too: fix .env or the environment, or pass ${bypass}`)
    }
    return config
  }
}
