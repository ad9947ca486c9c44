import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type SQLite from 'better-sqlite3'
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type SqliteDialectConfig } from 'kysely'
import { loadPackage } from '../../load-package.ts'
import type { DriverOptions, PoolStats } from './options.ts'

/** Who holds SQLite's one connection (Kysely hands it out under a mutex), and who waits for it. */
interface Usage { inUse: number, waiting: number }

// Transactions take SQLite's write lock when they begin. A deferred one that reads first and
// writes later gets SQLITE_BUSY at once, without waiting, when another process wrote meanwhile;
// an immediate one waits its turn (busy timeout), so several processes can share one file.
class ImmediateSqliteDriver extends SqliteDriver {
  readonly #usage: Usage
  constructor (config: SqliteDialectConfig, usage: Usage) {
    super(config)
    this.#usage = usage
  }

  override async acquireConnection (): Promise<DatabaseConnection> {
    this.#usage.waiting++
    try {
      const connection = await super.acquireConnection()
      this.#usage.inUse++
      return connection
    } finally {
      this.#usage.waiting--
    }
  }

  override async releaseConnection (): Promise<void> {
    this.#usage.inUse--
    await super.releaseConnection()
  }

  override async beginTransaction (connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: SqliteDialectConfig
  readonly #usage: Usage
  constructor (config: SqliteDialectConfig, usage: Usage) {
    super(config)
    this.#config = config
    this.#usage = usage
  }

  override createDriver () {
    return new ImmediateSqliteDriver(this.#config, this.#usage)
  }
}

export function sqliteDialect (url: string, opts: DriverOptions): { dialect: SqliteDialect, poolStats: () => PoolStats } {
  const file = url.slice('sqlite:'.length)
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true })
  const Database = loadPackage('better-sqlite3') as typeof SQLite
  const database = new Database(file, { timeout: opts.statementTimeoutMs ?? 5000 })
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
  const usage: Usage = { inUse: 0, waiting: 0 }
  return {
    dialect: new ImmediateSqliteDialect({ database: { prepare, close: () => database.close() } }, usage),
    poolStats: () => ({ max: 1, inUse: usage.inUse, idle: database.open ? 1 - usage.inUse : 0, waiting: usage.waiting }),
  }
}
