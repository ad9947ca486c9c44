import { sql, type CreateTableBuilder, type Kysely, type RawBuilder } from 'kysely'
import type { DialectName } from '../dialect.ts'
import { NO_PAD_BINARY_COLLATION_SQL, NO_PAD_BINARY_COLLATIONS } from '../drivers/mysql.ts'

/** The NO PAD binary collation of this MySQL/MariaDB server (utf8mb4_bin pads: "a " = "a"). */
export async function mysqlCollation (db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ name: string | null }>`select ${sql.raw(NO_PAD_BINARY_COLLATION_SQL)} as name`
    .execute(db)
  const name = rows[0]?.name
  if (!name) {
    const names = NO_PAD_BINARY_COLLATIONS.join(', ')
    throw new Error(`the database server has none of the collations ${names}: MySQL 8 or MariaDB 10.6+ is needed`)
  }
  return name
}

/**
 * What migrations use to create tables and indexes alike on every database. Every migration
 * after 001 creates its tables with createTable, so that on MySQL they compare strings exactly.
 */
export async function schemaTools (db: Kysely<any>, dialect: DialectName) {
  const collation = dialect === 'mysql' ? await mysqlCollation(db) : null

  return {
    /** On MySQL: InnoDB, utf8mb4 and the NO PAD binary collation (null elsewhere). */
    collation,

    createTable<T extends string> (name: T): CreateTableBuilder<T, never> {
      const builder = db.schema.createTable(name)
      if (collation === null) return builder
      const options = sql`ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=${sql.raw(collation)}`
      return builder.modifyEnd(options) as CreateTableBuilder<T, never>
    },

    /** Adds an auto-increment BIGINT primary key `id`. */
    serial<T extends string> (builder: CreateTableBuilder<T, never>): CreateTableBuilder<T, never> {
      if (dialect === 'sqlite') return builder.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      if (dialect === 'postgres') return builder.addColumn('id', 'bigserial', (c) => c.primaryKey())
      return builder.addColumn('id', 'bigint', (c) => c.primaryKey().autoIncrement())
    },

    /**
     * Creates an index unless it exists: DDL on MySQL is not transactional, so a migration that
     * failed half-way is run again over what it already did. (MySQL 8 has no CREATE INDEX IF NOT EXISTS.)
     */
    async createIndex (name: string, table: string, columns: string[]): Promise<void> {
      if (dialect !== 'mysql') {
        await db.schema.createIndex(name).ifNotExists().on(table).columns(columns).execute()
        return
      }
      const { rows } = await sql`select 1 from information_schema.STATISTICS
        where table_schema = database() and table_name = ${table} and index_name = ${name} limit 1`.execute(db)
      if (rows.length === 0) await db.schema.createIndex(name).on(table).columns(columns).execute()
    },

    /**
     * Runs schema changes that may take long on a big table with the server's statement time
     * limit (DB_STATEMENT_TIMEOUT_MS) lifted: PostgreSQL's for the migration's transaction,
     * MariaDB's for this connection until fn ends (MySQL's limits only SELECT).
     */
    async withoutStatementTimeout<R> (fn: () => Promise<R>): Promise<R> {
      if (dialect === 'postgres') await sql`set local statement_timeout = 0`.execute(db)
      if (dialect !== 'mysql') return fn()
      const { rows } = await sql<{ Value: string }>`show session variables like 'max_statement_time'`.execute(db)
      const saved = rows[0]?.Value
      if (saved === undefined) return fn()
      await sql`set session max_statement_time = 0`.execute(db)
      try {
        return await fn()
      } finally {
        await sql`set session max_statement_time = ${sql.raw(String(Number(saved)))}`.execute(db)
      }
    },
  }
}

/** A procedure parameter's text type, in the collation its columns have: declared alike, they compare exactly. */
export type ProcedureText = (length: number | 'mediumtext') => RawBuilder<unknown>

/**
 * Creates a MySQL procedure anew (dropped first: DDL on MySQL is not transactional, so a migration
 * that failed half-way runs again over what it did). `define` gives what follows the name: the
 * parameters, the characteristics and the body.
 */
export async function replaceMysqlProcedure (db: Kysely<any>, name: string, define: (text: ProcedureText) => RawBuilder<unknown>): Promise<void> {
  const collation = await mysqlCollation(db)
  const text: ProcedureText = (length) =>
    sql.raw(`${length === 'mediumtext' ? 'mediumtext' : `varchar(${length})`} character set utf8mb4 collate ${collation}`)
  await sql`drop procedure if exists ${sql.raw(name)}`.execute(db)
  await sql`create procedure ${sql.raw(name)} ${define(text)}`.execute(db)
}
