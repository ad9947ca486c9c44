import type { Kysely } from 'kysely'
import type { DialectName } from '../dialect.ts'
import { schemaTools } from './schema.ts'

// The notification outbox: one row per event, written in the paying transaction, and one row per
// delivery attempt. Written to be run again over a half-done run (DDL on MySQL is not transactional).
export function notifications (dialect: DialectName) {
  return {
    async up (db: Kysely<any>): Promise<void> {
      const schema = await schemaTools(db, dialect)
      await schema.serial(schema.createTable('notification_events').ifNotExists())
        .addColumn('event_id', 'varchar(64)', (c) => c.notNull().unique())
        .addColumn('order_no', 'varchar(40)', (c) => c.notNull())
        .addColumn('type', 'varchar(32)', (c) => c.notNull())
        .addColumn('server_flag', 'varchar(255)', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('lease_owner', 'varchar(128)')
        .addColumn('lease_until', 'bigint', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('delivered_at', 'bigint')
        .addColumn('failed_at', 'bigint')
        // One event of a type per order, whatever the application does: an order is paid once.
        .addUniqueConstraint('notification_events_order_type', ['order_no', 'type'])
        .execute()
      // The delivery loop's claim: due pending events by time.
      await schema.createIndex('notification_events_due', 'notification_events', ['status', 'next_attempt_at'])

      await schema.serial(schema.createTable('notification_attempts').ifNotExists())
        .addColumn('event_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('trigger', 'varchar(16)', (c) => c.notNull())
        .addColumn('url', 'varchar(2048)', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        // Null while the attempt is in flight, and forever for one whose instance died during it.
        .addColumn('latency_ms', 'integer')
        .addColumn('http_status', 'integer')
        .addColumn('error', 'varchar(512)')
        .addColumn('response_head', 'text', (c) => c.notNull())
        .execute()
      await schema.createIndex('notification_attempts_event', 'notification_attempts', ['event_id'])
    },
  }
}
