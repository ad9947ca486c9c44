import { sql, type CreateTableBuilder, type Kysely } from 'kysely'
import type { DialectName } from '../dialect.ts'

// Money in integer fen and times in epoch milliseconds, both BIGINT: the same exact values on
// every database and driver, with no time zone or decimal conversion in between.
export function init (dialect: DialectName) {
  const table = <T extends string>(db: Kysely<any>, name: T) => {
    const builder = db.schema.createTable(name)
    // Binary collation: names and user ids compare exactly, as on SQLite and PostgreSQL.
    return (dialect === 'mysql' ? builder.modifyEnd(sql`ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`) : builder) as CreateTableBuilder<T, never>
  }
  const serial = <T extends string>(builder: CreateTableBuilder<T, never>) =>
    dialect === 'sqlite'
      ? builder.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      : dialect === 'postgres'
        ? builder.addColumn('id', 'bigserial', (c) => c.primaryKey())
        : builder.addColumn('id', 'bigint', (c) => c.primaryKey().autoIncrement())

  return {
    async up (db: Kysely<any>): Promise<void> {
      await table(db, 'goods')
        .addColumn('id', 'bigint', (c) => c.primaryKey())
        .addColumn('item', 'varchar(255)', (c) => c.notNull().unique())
        .addColumn('price_fen', 'bigint', (c) => c.notNull())
        .addColumn('on_sale', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute()

      await table(db, 'orders')
        .addColumn('order_no', 'varchar(40)', (c) => c.primaryKey())
        .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('goods_id', 'bigint', (c) => c.notNull())
        .addColumn('item', 'varchar(255)', (c) => c.notNull())
        .addColumn('price_fen', 'bigint', (c) => c.notNull())
        .addColumn('amount_num', 'integer', (c) => c.notNull())
        .addColumn('amount_fen', 'bigint', (c) => c.notNull())
        .addColumn('server_flag', 'varchar(255)', (c) => c.notNull())
        .addColumn('description', 'varchar(255)')
        .addColumn('game_role_id', 'varchar(255)')
        .addColumn('game_role_name', 'varchar(255)')
        .addColumn('game_role_grade', 'varchar(255)')
        .addColumn('status', 'varchar(16)', (c) => c.notNull())
        .addColumn('open_key', 'varchar(64)', (c) => c.unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('expire_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .addColumn('paid_at', 'bigint')
        .addColumn('gyyx_order_no', 'varchar(128)')
        .addColumn('paid_fen', 'bigint')
        .addColumn('late_payment', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('verify_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('first_verified_at', 'bigint')
        .execute()
      await db.schema.createIndex('orders_user_goods_paid').on('orders').columns(['user_id', 'goods_id', 'paid_at']).execute()
      await db.schema.createIndex('orders_status_expire').on('orders').columns(['status', 'expire_at']).execute()

      await serial(table(db, 'order_events'))
        .addColumn('order_no', 'varchar(40)', (c) => c.notNull())
        .addColumn('from_status', 'varchar(16)')
        .addColumn('to_status', 'varchar(16)', (c) => c.notNull())
        .addColumn('actor', 'varchar(16)', (c) => c.notNull())
        .addColumn('reason', 'varchar(64)', (c) => c.notNull())
        .addColumn('trace_id', 'varchar(128)')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('order_events_order').on('order_events').column('order_no').execute()

      await serial(table(db, 'callbacks'))
        .addColumn('received_at', 'bigint', (c) => c.notNull())
        .addColumn('source_ip', 'varchar(64)', (c) => c.notNull())
        .addColumn('trace_id', 'varchar(128)', (c) => c.notNull())
        .addColumn('game_order_no', 'varchar(255)')
        .addColumn('gyyx_order_no', 'varchar(255)')
        .addColumn('params', dialect === 'mysql' ? sql`mediumtext` : 'text', (c) => c.notNull())
        .addColumn('sign_type', 'varchar(32)')
        .addColumn('signature', 'varchar(16)', (c) => c.notNull())
        .addColumn('outcome', 'varchar(32)', (c) => c.notNull())
        .addColumn('anomaly', 'integer', (c) => c.notNull().defaultTo(0))
        .execute()
      await db.schema.createIndex('callbacks_game_order').on('callbacks').column('game_order_no').execute()

      await serial(table(db, 'payments'))
        .addColumn('gyyx_order_no', 'varchar(128)', (c) => c.notNull().unique())
        .addColumn('order_no', 'varchar(40)', (c) => c.notNull())
        .addColumn('amount_fen', 'bigint', (c) => c.notNull())
        .addColumn('kind', 'varchar(16)', (c) => c.notNull())
        .addColumn('result', 'varchar(255)', (c) => c.notNull())
        .addColumn('result_message', 'varchar(1024)', (c) => c.notNull())
        .addColumn('server_flag', 'varchar(255)', (c) => c.notNull())
        .addColumn('common_param', 'varchar(1024)', (c) => c.notNull())
        .addColumn('platform_timestamp', 'varchar(64)', (c) => c.notNull())
        .addColumn('trace_id', 'varchar(128)', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('payments_order').on('payments').column('order_no').execute()

      await table(db, 'idempotency_keys')
        .addColumn('user_id', 'varchar(64)', (c) => c.notNull())
        .addColumn('idem_key', 'varchar(128)', (c) => c.notNull())
        .addColumn('order_no', 'varchar(40)', (c) => c.notNull())
        .addColumn('response', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('idempotency_keys_pk', ['user_id', 'idem_key'])
        .execute()

      await table(db, 'worker_leases')
        .addColumn('worker_id', 'integer', (c) => c.primaryKey())
        .addColumn('owner', 'varchar(128)', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
        .execute()
    },
  }
}
