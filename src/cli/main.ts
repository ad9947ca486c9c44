import { parseArgs } from 'node:util'
import { ConfigError, loadConfig } from '../config.ts'
import { readCliEnv } from './cli-env.ts'
import { CliError } from './cli-error.ts'

// Each command loads only what it needs: `sign` should not pay for Fastify and three drivers.
const database = async () => ({ ...await import('../db/connect.ts'), ...await import('../db/migrate.ts') })

const HELP = `gamepay <command>

  serve                          start the HTTP service (PORT, HOST, DATABASE_URL, WORKERS, ...)
  migrate                        apply pending database migrations and exit
  seed --orders N                fill the database with N orders of the last 90 days, their payments,
       [--users N] [--days 90]   callbacks and events, for load tests (--force: although it has orders)
  sign [k=v ...] [--json '{..}'] print stringA and the signature of callback parameters
       [--type MD5|HMAC-SHA256|RSA2] [--secret S] [--private-key pem-file]
  simulate-payment <order>       send a correctly signed success callback to a running server
       [--url http://127.0.0.1:8080] [--amount yuan] [--gyyx platform-order-no] [--result success] [--type MD5]
  goods import <file.json>       upsert goods by id: [{"id":1,"item":"月卡","single_pric":30,"on_sale":true}]
  notify list [--failed]         order.paid notifications to the game server, with their last attempt
  notify resend <order|event_id> send a notification again now (a new attempt of the same event)
  notify test [--url U]          send a signed test event to an endpoint (default NOTIFY_URL)
  admin create <name> --role R   a console operator (admin or viewer); password from a prompt or stdin, or generated
  admin token <name>             a new admin API token; admin tokens / revoke <id> / list / password <name>

gamepay <command> --help (or gamepay help <command>) tells more about sign, simulate-payment, notify, admin and seed.
Configuration comes from the environment and an optional .env file (see README).`

async function main (argv: string[]) {
  const [command, ...rest] = argv
  // `gamepay help sign` is `gamepay sign --help`.
  if (command === 'help' && ['sign', 'simulate-payment', 'notify', 'admin', 'seed'].includes(rest[0])) return main([rest[0], '--help'])
  const cliEnv = readCliEnv()
  const env = cliEnv.vars
  switch (command) {
    case 'serve':
      await (await import('../server.ts')).start(loadConfig(env))
      return
    case 'migrate': {
      const { connect, migrateToLatest } = await database()
      const store = connect(loadConfig(env).databaseUrl)
      try {
        const applied = await migrateToLatest(store)
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date')
      } finally {
        await store.close()
      }
      return
    }
    case 'sign':
      console.log((await import('./payment-tools.ts')).signCommand(rest, cliEnv))
      return
    case 'simulate-payment':
      await (await import('./simulate-payment.ts')).simulatePayment(rest, cliEnv)
      return
    case 'notify':
      await (await import('./notify.ts')).notifyCommand(rest, cliEnv)
      return
    case 'admin':
      await (await import('./admin.ts')).adminCommand(rest, cliEnv)
      return
    case 'seed':
      await (await import('./seed.ts')).seedCommand(rest, cliEnv)
      return
    case 'goods': {
      const { positionals } = parseArgs({ args: rest, allowPositionals: true })
      if (positionals[0] !== 'import' || !positionals[1]) throw new Error('usage: gamepay goods import <file.json>')
      const { importCatalog, readCatalogFile } = await import('../modules/goods/goods.service.ts')
      const { connect, migrateToLatest } = await database()
      const goods = readCatalogFile(positionals[1])
      const store = connect(loadConfig(env).databaseUrl)
      try {
        await migrateToLatest(store)
        const counts = await importCatalog(store, goods, Date.now())
        console.log(`goods: ${counts.inserted} inserted, ${counts.updated} updated`)
      } finally {
        await store.close()
      }
      return
    }
    case undefined: case 'help': case '--help': case '-h':
      console.log(HELP)
      return
    default:
      throw new Error(`unknown command "${command}"\n\n${HELP}`)
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  const prefix = err instanceof ConfigError ? 'configuration error: ' : 'gamepay: '
  console.error(prefix + (err instanceof Error ? err.message : String(err)))
  if (err instanceof CliError && err.hint) console.error(`hint: ${err.hint}`)
  // node:util parseArgs refusing an option or a value
  else if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    console.error(`hint: gamepay ${process.argv[2]} --help`)
  }
  process.exit(1)
})
