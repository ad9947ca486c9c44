/** NOTIFY_SECRET in the client's tests. */
export const NOTIFY_SECRET = 'notify-secret-of-16+chars'

/** An order.paid event as gamepay sends it. */
export const EVENT = {
  event_id: 'evt_1',
  type: 'order.paid',
  created_at: '2026-05-28T20:26:40.000Z',
  data: {
    order: '811-1',
    user_id: 'u1',
    item: '月卡',
    item_id: 2,
    amount_num: 1,
    rmb_yuan: 30,
    gyyx_order_no: 'P1',
    status: 'paid',
    paid_at: '2026-05-28T20:26:40.000Z',
    server_flag: 's1',
    late_payment: false,
  },
}
