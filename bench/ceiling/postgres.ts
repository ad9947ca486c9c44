// pg with a pool of 10 (gamepay's DB_POOL_SIZE default) and named, so server-side prepared, statements.
import pg from 'pg'
import {
  INSERT_ORDER_SQL, INSERT_PAYMENT_SQL, insertOrderValues, numbered, PAID_COLUMNS, PAY_SQL, payValues, paymentValues, VERIFY_SQL,
  type CeilingStore, type PaidRow,
} from './store.ts'

const INSERT_ORDER = numbered(INSERT_ORDER_SQL)
const PAY = numbered(PAY_SQL)
const INSERT_PAYMENT = numbered(INSERT_PAYMENT_SQL)
const VERIFY = `${numbered(VERIFY_SQL)} returning ${PAID_COLUMNS}`

export function postgresStore (url: string): CeilingStore {
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  pool.on('error', () => {})
  return {
    async insertOrder (o) {
      await pool.query({ name: 'insert-order', text: INSERT_ORDER, values: insertOrderValues(o) })
    },
    async pay (p) {
      const client = await pool.connect()
      try {
        await client.query('begin')
        const updated = await client.query({ name: 'pay', text: PAY, values: payValues(p) })
        if (updated.rowCount !== 1) {
          await client.query('rollback')
          return false
        }
        await client.query({ name: 'insert-payment', text: INSERT_PAYMENT, values: paymentValues(p) })
        await client.query('commit')
        return true
      } catch (err) {
        await client.query('rollback').catch(() => {})
        throw err
      } finally {
        client.release()
      }
    },
    async verify (orderNo, userId, item, now, traceId) {
      const { rows } = await pool.query<PaidRow>({ name: 'verify', text: VERIFY, values: [now, traceId, orderNo, userId, item] })
      return rows[0]
    },
    close: () => pool.end(),
  }
}
