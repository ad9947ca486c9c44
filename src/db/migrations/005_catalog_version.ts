import { sql, type Kysely } from 'kysely'
import type { DialectName } from '../dialect.ts'
import { schemaTools } from './schema.ts'

/** The PostgreSQL channel the goods triggers NOTIFY on. */
export const CATALOG_CHANNEL = 'gamepay_catalog'

// The goods lookup is served from a cache in each instance. One row counts the catalog's changes:
// triggers on goods raise it in the changing transaction, whoever writes (the console, an import,
// an operator's own SQL), so an instance learns of a change by reading one number; on PostgreSQL
// the same trigger sends a NOTIFY, delivered to the listening instances when the change commits.
// Written to be run again over a half-done run (DDL on MySQL is not transactional).
export function catalogVersion (dialect: DialectName) {
  return {
    async up (db: Kysely<any>): Promise<void> {
      const schema = await schemaTools(db, dialect)
      await schema.createTable('catalog_version').ifNotExists()
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('version', 'bigint', (c) => c.notNull())
        .execute()
      const { rows } = await sql`select 1 from catalog_version where id = 1`.execute(db)
      if (rows.length === 0) await sql`insert into catalog_version (id, version) values (1, 0)`.execute(db)

      const bump = sql`update catalog_version set version = version + 1 where id = 1`
      if (dialect === 'postgres') {
        // Once per statement: an import of many rows raises the version once and sends one NOTIFY
        // (PostgreSQL folds equal notifications of one transaction into one anyway).
        await sql`create or replace function gamepay_catalog_changed() returns trigger language plpgsql as $$
          begin
            ${bump};
            perform pg_notify(${sql.lit(CATALOG_CHANNEL)}, '');
            return null;
          end $$`.execute(db)
        await sql`drop trigger if exists goods_catalog_changed on goods`.execute(db)
        await sql`create trigger goods_catalog_changed after insert or update or delete or truncate on goods
          for each statement execute function gamepay_catalog_changed()`.execute(db)
        return
      }
      for (const op of ['insert', 'update', 'delete']) {
        const name = sql.raw(`goods_catalog_${op}`)
        if (dialect === 'sqlite') {
          await sql`create trigger if not exists ${name} after ${sql.raw(op)} on goods begin ${bump}; end`.execute(db)
        } else {
          await sql`drop trigger if exists ${name}`.execute(db)
          await sql`create trigger ${name} after ${sql.raw(op)} on goods for each row ${bump}`.execute(db)
        }
      }
    },
  }
}
