import { sql, type Kysely } from 'kysely'
import type { DialectName } from '../dialect.ts'
import { schemaTools } from './schema.ts'

// The operator console: operators, their sessions and API tokens, the append-only audit log,
// anomaly resolutions, refunds, the goods' price history, and the indexes the order search, the
// dashboard and reconciliation read through. Written to be run again over a half-done run (DDL on
// MySQL is not transactional).
export function consoleTables (dialect: DialectName) {
  return {
    async up (db: Kysely<any>): Promise<void> {
      const schema = await schemaTools(db, dialect)
      await schema.withoutStatementTimeout(async () => {
        await schema.serial(schema.createTable('operators').ifNotExists())
          .addColumn('name', 'varchar(64)', (c) => c.notNull().unique())
          .addColumn('role', 'varchar(16)', (c) => c.notNull())
          .addColumn('password_hash', 'varchar(255)', (c) => c.notNull())
          // Consecutive failed sign-ins, and the time until which the account refuses sign-in.
          .addColumn('failed_sign_ins', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('locked_until', 'bigint', (c) => c.notNull().defaultTo(0))
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('updated_at', 'bigint', (c) => c.notNull())
          .addColumn('disabled_at', 'bigint')
          .execute()

        // id is the SHA-256 of the cookie's value: a stolen database holds no usable session.
        await schema.createTable('operator_sessions').ifNotExists()
          .addColumn('id', 'varchar(64)', (c) => c.primaryKey())
          .addColumn('operator_id', 'bigint', (c) => c.notNull())
          .addColumn('csrf_token', 'varchar(64)', (c) => c.notNull())
          .addColumn('source_ip', 'varchar(64)', (c) => c.notNull())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('expires_at', 'bigint', (c) => c.notNull())
          .execute()
        await schema.createIndex('operator_sessions_operator', 'operator_sessions', ['operator_id'])

        await schema.serial(schema.createTable('operator_tokens').ifNotExists())
          .addColumn('operator_id', 'bigint', (c) => c.notNull())
          .addColumn('label', 'varchar(64)', (c) => c.notNull())
          .addColumn('token_hash', 'varchar(64)', (c) => c.notNull().unique())
          .addColumn('created_at', 'bigint', (c) => c.notNull())
          .addColumn('last_used_at', 'bigint')
          .addColumn('revoked_at', 'bigint')
          .execute()

        await schema.serial(schema.createTable('audit_log').ifNotExists())
          .addColumn('at', 'bigint', (c) => c.notNull())
          .addColumn('operator', 'varchar(64)', (c) => c.notNull())
          .addColumn('action', 'varchar(64)', (c) => c.notNull())
          .addColumn('target', 'varchar(255)', (c) => c.notNull())
          .addColumn('source_ip', 'varchar(64)', (c) => c.notNull())
          .addColumn('trace_id', 'varchar(128)', (c) => c.notNull())
          .addColumn('before_value', 'text')
          .addColumn('after_value', 'text')
          .execute()
        await schema.createIndex('audit_log_target', 'audit_log', ['target', 'at'])
        await schema.createIndex('audit_log_at', 'audit_log', ['at'])
        await appendOnly(db, dialect, 'audit_log')

        // kind + ref name one anomaly (a callback id, a payment id, a notification event id, an address and hour).
        await schema.serial(schema.createTable('anomaly_resolutions').ifNotExists())
          .addColumn('kind', 'varchar(32)', (c) => c.notNull())
          .addColumn('ref', 'varchar(255)', (c) => c.notNull())
          .addColumn('note', 'varchar(1024)', (c) => c.notNull())
          .addColumn('resolved_by', 'varchar(64)', (c) => c.notNull())
          .addColumn('resolved_at', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('anomaly_resolutions_kind_ref', ['kind', 'ref'])
          .execute()

        // At most one refund per payment, and a platform refund number is recorded once.
        await schema.serial(schema.createTable('refunds').ifNotExists())
          .addColumn('payment_id', 'bigint', (c) => c.notNull().unique())
          .addColumn('order_no', 'varchar(40)', (c) => c.notNull())
          .addColumn('refund_no', 'varchar(128)', (c) => c.notNull().unique())
          .addColumn('amount_fen', 'bigint', (c) => c.notNull())
          .addColumn('refunded_at', 'bigint', (c) => c.notNull())
          .addColumn('recorded_by', 'varchar(64)', (c) => c.notNull())
          .addColumn('recorded_at', 'bigint', (c) => c.notNull())
          .addColumn('trace_id', 'varchar(128)', (c) => c.notNull())
          .execute()
        await schema.createIndex('refunds_order', 'refunds', ['order_no'])

        await schema.serial(schema.createTable('goods_price_history').ifNotExists())
          .addColumn('goods_id', 'bigint', (c) => c.notNull())
          .addColumn('old_price_fen', 'bigint')
          .addColumn('new_price_fen', 'bigint', (c) => c.notNull())
          .addColumn('changed_by', 'varchar(64)', (c) => c.notNull())
          .addColumn('changed_at', 'bigint', (c) => c.notNull())
          .addColumn('trace_id', 'varchar(128)')
          .execute()
        await schema.createIndex('goods_price_history_goods', 'goods_price_history', ['goods_id', 'changed_at'])

        // A payment applied by an operator from reconciliation carries the operator's name.
        await addColumnOnce(db, 'payments', 'applied_by', 'varchar(64)')
        // The trace of the first verification, for the order's timeline.
        await addColumnOnce(db, 'orders', 'first_verify_trace_id', 'varchar(128)')

        // The order search: each filter, newest first.
        await schema.createIndex('orders_created', 'orders', ['created_at', 'order_no'])
        await schema.createIndex('orders_user_created', 'orders', ['user_id', 'created_at'])
        await schema.createIndex('orders_gyyx', 'orders', ['gyyx_order_no'])
        await schema.createIndex('orders_status_created', 'orders', ['status', 'created_at'])
        await schema.createIndex('orders_goods_created', 'orders', ['goods_id', 'created_at'])
        await schema.createIndex('orders_flag_created', 'orders', ['server_flag', 'created_at'])
        // The dashboard and the export: paid orders by time, with the revenue in the index, so a
        // month of them is read from the index alone (on MariaDB with 1 M orders 0.3-0.8 s without).
        await schema.createIndex('orders_paid_fen', 'orders', ['paid_at', 'paid_fen'])
        // "Has anomaly" and the anomaly queue: the few anomalous callbacks, by order.
        await schema.createIndex('callbacks_anomaly', 'callbacks', ['anomaly', 'game_order_no'])
        // Callbacks by outcome over a time range (the dashboard), from the index alone.
        await schema.createIndex('callbacks_received_outcome', 'callbacks', ['received_at', 'outcome'])
        await schema.createIndex('payments_created', 'payments', ['created_at'])
        await schema.createIndex('payments_kind', 'payments', ['kind', 'created_at'])
      })
    },
  }
}

async function addColumnOnce (db: Kysely<any>, table: string, column: string, type: string) {
  const tables = await db.introspection.getTables()
  const found = tables.find((t) => t.name === table)?.columns.some((c) => c.name === column)
  if (!found) await db.schema.alterTable(table).addColumn(column, sql.raw(type)).execute()
}

/** Triggers that refuse UPDATE and DELETE on the table, whoever connects. */
async function appendOnly (db: Kysely<any>, dialect: DialectName, table: string) {
  const t = sql.raw(table)
  const message = `${table} is append-only`
  if (dialect === 'sqlite') {
    for (const op of ['update', 'delete']) {
      await sql`create trigger if not exists ${sql.raw(`${table}_no_${op}`)} before ${sql.raw(op)} on ${t}
        begin select raise(abort, ${sql.lit(message)}); end`.execute(db)
    }
  } else if (dialect === 'postgres') {
    await sql`create or replace function gamepay_append_only() returns trigger language plpgsql as $$
      begin raise exception '% is append-only', tg_table_name; end $$`.execute(db)
    await sql`drop trigger if exists ${sql.raw(`${table}_append_only`)} on ${t}`.execute(db)
    await sql`create trigger ${sql.raw(`${table}_append_only`)} before update or delete on ${t}
      for each row execute function gamepay_append_only()`.execute(db)
  } else {
    for (const op of ['update', 'delete']) {
      const name = sql.raw(`${table}_no_${op}`)
      await sql`drop trigger if exists ${name}`.execute(db)
      await sql`create trigger ${name} before ${sql.raw(op)} on ${t} for each row
        signal sqlstate '45000' set message_text = ${sql.lit(message)}`.execute(db)
    }
  }
}
