import { Migrator, type Migration, type MigrationProvider, type MigrationResultSet } from 'kysely'
import type { Store } from './connect.ts'
import { init } from './migrations/001_init.ts'
import { exactStringsRetention } from './migrations/002_exact_strings_retention.ts'
import { notifications } from './migrations/003_notifications.ts'
import { consoleTables } from './migrations/004_console.ts'
import { catalogVersion } from './migrations/005_catalog_version.ts'
import { mysqlCreateOrder } from './migrations/006_mysql_create_order.ts'
import { mysqlPayOrder } from './migrations/007_mysql_pay_order.ts'

// Versioned migrations, applied in name order. Kysely's migrator takes a lock on PostgreSQL and
// MySQL, so several instances starting at once apply each migration once.
function provider (store: Store): MigrationProvider {
  const migrations: Record<string, Migration> = {
    '001_init': init(store.caps.name),
    '002_exact_strings_retention': exactStringsRetention(store.caps.name),
    '003_notifications': notifications(store.caps.name),
    '004_console': consoleTables(store.caps.name),
    '005_catalog_version': catalogVersion(store.caps.name),
    '006_mysql_create_order': mysqlCreateOrder(store.caps.name),
    '007_mysql_pay_order': mysqlPayOrder(store.caps.name),
  }
  return { getMigrations: async () => migrations }
}

const migrator = (store: Store) => new Migrator({ db: store.db, provider: provider(store) })

export async function migrateToLatest (store: Store): Promise<string[]> {
  const result: MigrationResultSet = await migrator(store).migrateToLatest()
  if (result.error) throw result.error
  return (result.results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

/** Names of migrations known to this build but not yet applied (empty when current). */
export async function pendingMigrations (store: Store): Promise<string[]> {
  const all = await migrator(store).getMigrations()
  return all.filter((m) => m.executedAt === undefined).map((m) => m.name)
}
