import { sql, type Kysely } from 'kysely'
import type { DialectName } from '../dialect.ts'
import { replaceMysqlProcedure } from './schema.ts'

/** The MySQL procedure that creates an order in one round trip. */
export const CREATE_ORDER_PROCEDURE = 'gamepay_create_order'

// A new order, its creation event and its Idempotency-Key's answer must commit together. PostgreSQL
// chains the three inserts in one statement with CTEs; MySQL has no writing CTEs, and BEGIN, three
// INSERTs and COMMIT are five round trips, each holding a pooled connection. One CALL does the same
// in one round trip. The procedure writes only when the goods still read as ordered and the key is
// unused (it answers created = 0 otherwise); an error (a twin open order's unique key, a deadlock)
// rolls it back and reaches the caller unchanged. The row's constant columns (status 'unpaid', no
// late payment, no verification) are those every new order has. SQL SECURITY INVOKER: it runs with
// the privileges of the instance calling it, which needs EXECUTE on it.
export function mysqlCreateOrder (dialect: DialectName) {
  return {
    async up (db: Kysely<any>): Promise<void> {
      if (dialect !== 'mysql') return
      await replaceMysqlProcedure(db, CREATE_ORDER_PROCEDURE, (text) => sql`(
          in p_order_no ${text(40)}, in p_user_id ${text(64)}, in p_goods_id bigint, in p_item ${text(255)},
          in p_price_fen bigint, in p_amount_num integer, in p_amount_fen bigint, in p_server_flag ${text(255)},
          in p_description ${text(255)}, in p_game_role_id ${text(255)}, in p_game_role_name ${text(255)},
          in p_game_role_grade ${text(255)}, in p_open_key ${text(64)}, in p_now bigint, in p_expire_at bigint,
          in p_actor ${text(16)}, in p_reason ${text(64)}, in p_trace_id ${text(128)},
          in p_idem_key ${text(128)}, in p_response ${text('mediumtext')})
        sql security invoker
        begin
          declare exit handler for sqlexception begin rollback; resignal; end;
          start transaction;
          insert into orders (order_no, user_id, goods_id, item, price_fen, amount_num, amount_fen, server_flag, description,
              game_role_id, game_role_name, game_role_grade, status, open_key, created_at, expire_at, updated_at, late_payment, verify_count)
            select p_order_no, p_user_id, p_goods_id, p_item, p_price_fen, p_amount_num, p_amount_fen, p_server_flag, p_description,
              p_game_role_id, p_game_role_name, p_game_role_grade, 'unpaid', p_open_key, p_now, p_expire_at, p_now, 0, 0
            from goods
            where id = p_goods_id and item = p_item and price_fen = p_price_fen and on_sale = 1
              and not exists (select 1 from idempotency_keys where user_id = p_user_id and idem_key = p_idem_key);
          if row_count() = 1 then
            insert into order_events (order_no, from_status, to_status, actor, reason, trace_id, created_at)
              values (p_order_no, null, 'unpaid', p_actor, p_reason, p_trace_id, p_now);
            if p_idem_key is not null then
              insert into idempotency_keys (user_id, idem_key, order_no, response, created_at)
                values (p_user_id, p_idem_key, p_order_no, p_response, p_now);
            end if;
            commit;
            select 1 as created;
          else
            rollback;
            select 0 as created;
          end if;
        end`)
    },
  }
}
