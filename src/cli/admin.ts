import { randomUUID } from 'node:crypto'
import { userInfo } from 'node:os'
import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { parseArgs } from 'node:util'
import { loadConfig } from '../config.ts'
import { connect } from '../db/connect.ts'
import { migrateToLatest } from '../db/migrate.ts'
import { toIso } from '../db/values.ts'
import { AppError } from '../errors.ts'
import { createAuthService, type AuthService } from '../modules/console/auth/auth.service.ts'
import { generatePassword } from '../modules/console/auth/password.ts'
import type { Actor } from '../modules/console/audit.ts'
import type { CliEnv } from './cli-env.ts'
import { CliError } from './cli-error.ts'

export const ADMIN_HELP = `gamepay admin <command>

Operators of the console (/console) and the admin API (/api/admin), in DATABASE_URL.

  create <name> --role admin|viewer   a new operator; the password is asked for (twice) on a
                                      terminal, read from stdin otherwise, and generated and
                                      printed when none is given (or with --generate)
  password <name> [--generate]        a new password, read the same way; ends the operator's sessions
  list                                the operators and their roles
  token <name> [--label L]            a new API token for the operator, printed once (stored hashed)
  tokens [name]                       the tokens (id, operator, label, created, last used, revoked)
  revoke <token-id>                   revokes a token at once

Passwords have 12 to 1024 characters. Every change is in the audit log as done by cli:<user>.`

const OPTIONS = {
  role: { type: 'string' },
  label: { type: 'string', default: 'api' },
  generate: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const

/** Reads a line without echoing it (a terminal). */
function promptHidden (question: string): Promise<string> {
  const muted = new Writable({ write: (_chunk, _enc, done) => done() })
  process.stderr.write(question)
  const rl = createInterface({ input: process.stdin, output: muted, terminal: true })
  return new Promise((resolve) => rl.question('', (answer) => {
    rl.close()
    process.stderr.write('\n')
    resolve(answer)
  }))
}

async function readStdin (): Promise<string> {
  let text = ''
  for await (const chunk of process.stdin) text += String(chunk)
  return text.replace(/\r?\n$/, '')
}

/** The password from a prompt (typed twice), from stdin, or generated (then printed) when none is given. */
async function readPassword (generate: boolean): Promise<{ password: string, generated: boolean }> {
  if (generate) return { password: generatePassword(), generated: true }
  let password: string
  if (process.stdin.isTTY) {
    password = await promptHidden('Password (empty: generate one): ')
    if (password !== '' && await promptHidden('Again: ') !== password) throw new CliError('the two passwords differ')
  } else {
    password = await readStdin()
  }
  return password === '' ? { password: generatePassword(), generated: true } : { password, generated: false }
}

const fmt = (ms: number | null) => ms === null ? '-' : toIso(ms)

export async function adminCommand (args: string[], env: CliEnv): Promise<void> {
  const { values, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true })
  const [command, arg] = positionals
  if (values.help || command === undefined) {
    console.log(ADMIN_HELP)
    return
  }
  const store = connect(loadConfig(env.vars).databaseUrl)
  try {
    await migrateToLatest(store)
    const auth = createAuthService({ store, clock: Date.now })
    const actor: Actor = { operator: `cli:${userInfo().username}`.slice(0, 64), sourceIp: 'local', traceId: randomUUID() }
    await run(auth, actor, command, arg, values)
  } catch (err) {
    if (err instanceof AppError) throw new CliError(err.localized('en'))
    throw err
  } finally {
    await store.close()
  }
}

async function run (auth: AuthService, actor: Actor, command: string, arg: string | undefined, values: { role?: string, label: string, generate?: boolean }) {
  const need = (what: string) => {
    if (!arg) throw new CliError(`usage: gamepay admin ${command} <${what}>\n\n${ADMIN_HELP}`)
    return arg
  }
  switch (command) {
    case 'create': {
      const name = need('name')
      if (!values.role) throw new CliError('--role admin|viewer is required')
      const { password, generated } = await readPassword(values.generate ?? false)
      await auth.createOperator(actor, name, values.role, password)
      console.log(`operator ${name} (${values.role}) created`)
      if (generated) console.log(`password: ${password}`)
      return
    }
    case 'password': {
      const name = need('name')
      const { password, generated } = await readPassword(values.generate ?? false)
      await auth.setPassword(actor, name, password)
      console.log(`password of ${name} changed; its sessions are ended`)
      if (generated) console.log(`password: ${password}`)
      return
    }
    case 'list':
      for (const o of await auth.listOperators()) console.log(`${o.name}\t${o.role}\tcreated ${fmt(o.createdAt)}${o.disabledAt === null ? '' : '\tdisabled'}`)
      return
    case 'token': {
      const { id, token } = await auth.createToken(actor, need('name'), values.label)
      console.log(`token ${id} for ${arg} (shown once; send it as "Authorization: Bearer <token>"):`)
      console.log(token)
      return
    }
    case 'tokens':
      for (const t of await auth.listTokens(arg)) {
        console.log(`${t.id}\t${t.operatorName}\t${t.label}\tcreated ${fmt(t.createdAt)}\tlast used ${fmt(t.lastUsedAt)}\t${t.revokedAt === null ? 'active' : `revoked ${fmt(t.revokedAt)}`}`)
      }
      return
    case 'revoke': {
      const id = Number(need('token-id'))
      if (!Number.isSafeInteger(id) || id < 1) throw new CliError('token-id must be a positive integer (see gamepay admin tokens)')
      await auth.revokeToken(actor, id)
      console.log(`token ${id} revoked`)
      return
    }
    default:
      throw new CliError(`unknown admin command "${command}"\n\n${ADMIN_HELP}`)
  }
}
