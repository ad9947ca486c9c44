import { DEFAULT_MIGRATION_LOCK_TABLE, DEFAULT_MIGRATION_TABLE, sql, type Kysely } from 'kysely'
import type { DialectName } from '../dialect.ts'
import { schemaTools } from './schema.ts'

// On MySQL, 001's utf8mb4_bin is a PAD SPACE collation: "888888 " equalled "888888" (user ids,
// goods names, order numbers, idempotency keys), unlike on SQLite and PostgreSQL. Every table
// moves to the server's NO PAD binary collation. Written to be run again over a half-done run,
// since DDL on MySQL is not transactional.
export function exactStringsRetention (dialect: DialectName) {
  return {
    async up (db: Kysely<any>): Promise<void> {
      const schema = await schemaTools(db, dialect)
      await schema.withoutStatementTimeout(async () => {
        if (schema.collation !== null) {
          const collate = sql.raw(schema.collation)
          for (const table of await tablesToConvert(db, schema.collation)) {
            await sql`alter table ${sql.table(table)} convert to character set utf8mb4 collate ${collate}`.execute(db)
          }
        }
        // The retention purge's lookups: refused callbacks by age (verified ones, kept forever,
        // stay out of the scanned range) and idempotency keys by age.
        await schema.createIndex('callbacks_signature_received', 'callbacks', ['signature', 'received_at'])
        await schema.createIndex('idempotency_keys_created', 'idempotency_keys', ['created_at'])
      })
    },
  }
}

/** This database's tables (not the migrator's own) with a table or a column collation other than `collation`. */
async function tablesToConvert (db: Kysely<any>, collation: string): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    select t.table_name as name from information_schema.TABLES t
    where t.table_schema = database() and t.table_type = 'BASE TABLE' and (t.table_collation <> ${collation} or exists (
      select 1 from information_schema.COLUMNS c
      where c.table_schema = t.table_schema and c.table_name = t.table_name and c.collation_name <> ${collation}))
    order by t.table_name`.execute(db)
  const migrators = [DEFAULT_MIGRATION_TABLE, DEFAULT_MIGRATION_LOCK_TABLE]
  return rows.map((r) => r.name).filter((name) => !migrators.includes(name))
}
