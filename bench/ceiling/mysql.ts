// mysql2 with a pool of 10 (gamepay's DB_POOL_SIZE default) and execute(), so server-side prepared statements.
import mysql, { type ResultSetHeader, type RowDataPacket } from 'mysql2/promise'
import {
  INSERT_ORDER_SQL, INSERT_PAYMENT_SQL, insertOrderValues, PAID_COLUMNS, PAY_SQL, payValues, paymentValues, VERIFY_SQL,
  type CeilingStore, type PaidRow,
} from './store.ts'

// MariaDB's UPDATE has no RETURNING: the row is read after it.
const READ_PAID = `select ${PAID_COLUMNS} from orders where order_no = ?`

export function mysqlStore (url: string): CeilingStore {
  const pool = mysql.createPool({ uri: url, connectionLimit: 10, charset: 'utf8mb4_bin', timezone: 'Z' })
  return {
    async insertOrder (o) {
      await pool.execute(INSERT_ORDER_SQL, insertOrderValues(o))
    },
    async pay (p) {
      const conn = await pool.getConnection()
      try {
        await conn.beginTransaction()
        const [updated] = await conn.execute<ResultSetHeader>(PAY_SQL, payValues(p))
        if (updated.affectedRows !== 1) {
          await conn.rollback()
          return false
        }
        await conn.execute(INSERT_PAYMENT_SQL, paymentValues(p))
        await conn.commit()
        return true
      } catch (err) {
        await conn.rollback().catch(() => {})
        throw err
      } finally {
        conn.release()
      }
    },
    async verify (orderNo, userId, item, now, traceId) {
      const [updated] = await pool.execute<ResultSetHeader>(VERIFY_SQL, [now, traceId, orderNo, userId, item])
      if (updated.affectedRows !== 1) return undefined
      const [rows] = await pool.execute<RowDataPacket[]>(READ_PAID, [orderNo])
      return rows[0] as PaidRow | undefined
    },
    close: () => pool.end(),
  }
}
