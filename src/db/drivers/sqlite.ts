import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import SQLite from 'better-sqlite3'
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type SqliteDialectConfig } from 'kysely'
import type { DriverOptions } from './options.ts'

// Transactions take SQLite's write lock when they begin. A deferred one that reads first and
// writes later gets SQLITE_BUSY at once, without waiting, when another process wrote meanwhile;
// an immediate one waits its turn (busy timeout), so several processes can share one file.
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction (connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig
  constructor (config: SqliteDialectConfig) {
    super(config)
    this.#config = config
  }

  override createDriver () {
    return new ImmediateSqliteDriver(this.#config)
  }
}

export function sqliteDialect (url: string, opts: DriverOptions): SqliteDialect {
  const file = url.slice('sqlite:'.length)
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const database = new SQLite(file, { timeout: opts.statementTimeoutMs ?? 5000 })
  database.pragma('journal_mode = WAL')
  // FULL: a payment acknowledged to the platform survives a power cut, not just a crash.
  database.pragma('synchronous = FULL')
  database.defaultSafeIntegers(true)
  // Kysely prepares every query anew; better-sqlite3 statements are reusable, and the same few
  // SQL texts serve every request, so keep them prepared.
  const statements = new Map<string, SQLite.Statement>()
  const prepare = (text: string) => {
    let statement = statements.get(text)
    if (!statement) {
      if (statements.size >= 500) statements.clear()
      statement = database.prepare(text)
      statements.set(text, statement)
    }
    return statement
  }
  return new ImmediateSqliteDialect({ database: { prepare, close: () => database.close() } })
}
