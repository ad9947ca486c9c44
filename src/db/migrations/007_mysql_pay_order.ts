import { sql, type Kysely } from 'kysely'
import type { DialectName } from '../dialect.ts'
import { replaceMysqlProcedure } from './schema.ts'

/** The MySQL procedure that applies a callback's common case in one round trip. */
export const PAY_ORDER_PROCEDURE = 'gamepay_pay_order'

// A success callback that pays an unpaid order on time writes four things that must commit
// together: the paid order, its payment, its status event and the callback's log row. PostgreSQL
// chains them in one statement with CTEs; on MySQL, BEGIN, an UPDATE, three INSERTs and COMMIT are
// six round trips, each holding a pooled connection. One CALL does the same in one. It pays only
// while the order is unpaid, not yet expired, of this amount, and no payment has the platform order
// number (it answers paid = 0 otherwise, having written nothing); an error (a concurrent twin's
// payments key, a deadlock) rolls it back and reaches the caller unchanged. The event's and the log
// row's constant columns (unpaid → paid by the platform's callback, outcome 'paid') are those of
// this case. SQL SECURITY INVOKER, as for gamepay_create_order.
export function mysqlPayOrder (dialect: DialectName) {
  return {
    async up (db: Kysely<any>): Promise<void> {
      if (dialect !== 'mysql') return
      await replaceMysqlProcedure(db, PAY_ORDER_PROCEDURE, (text) => sql`(
          in p_order_no ${text(40)}, in p_gyyx_order_no ${text(128)}, in p_amount_fen bigint, in p_now bigint,
          in p_result ${text(255)}, in p_result_message ${text(1024)}, in p_server_flag ${text(255)},
          in p_common_param ${text(1024)}, in p_platform_timestamp ${text(64)}, in p_trace_id ${text(128)},
          in p_source_ip ${text(64)}, in p_log_game_order_no ${text(255)}, in p_log_gyyx_order_no ${text(255)},
          in p_params ${text('mediumtext')}, in p_sign_type ${text(32)},
          in p_signature ${text(16)})
        sql security invoker
        begin
          declare exit handler for sqlexception begin rollback; resignal; end;
          start transaction;
          update orders
            set status = 'paid', paid_at = p_now, gyyx_order_no = p_gyyx_order_no, paid_fen = p_amount_fen,
              late_payment = 0, open_key = null, updated_at = p_now
            where order_no = p_order_no and status = 'unpaid' and expire_at > p_now and amount_fen = p_amount_fen
              and not exists (select 1 from payments where gyyx_order_no = p_gyyx_order_no);
          if row_count() = 1 then
            insert into payments (gyyx_order_no, order_no, amount_fen, kind, result, result_message, server_flag,
                common_param, platform_timestamp, trace_id, created_at, applied_by)
              values (p_gyyx_order_no, p_order_no, p_amount_fen, 'applied', p_result, p_result_message, p_server_flag,
                p_common_param, p_platform_timestamp, p_trace_id, p_now, null);
            insert into order_events (order_no, from_status, to_status, actor, reason, trace_id, created_at)
              values (p_order_no, 'unpaid', 'paid', 'platform', 'callback', p_trace_id, p_now);
            insert into callbacks (received_at, source_ip, trace_id, game_order_no, gyyx_order_no, params, sign_type,
                signature, outcome, anomaly)
              values (p_now, p_source_ip, p_trace_id, p_log_game_order_no, p_log_gyyx_order_no, p_params, p_sign_type,
                p_signature, 'paid', 0);
            commit;
            select 1 as paid;
          else
            rollback;
            select 0 as paid;
          end if;
        end`)
    },
  }
}
