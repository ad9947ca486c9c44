// Which databases the tests run on. SQLite always; PostgreSQL and MySQL/MariaDB when reachable at
// TEST_PG_URL / TEST_MYSQL_URL (defaults: the local services), each in its own test database.
import mysql from 'mysql2/promise'
import pg from 'pg'

export const TEST_PG_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/gamepay_test'
export const TEST_MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/gamepay_test'

function split (url) {
  const u = new URL(url)
  const name = u.pathname.slice(1)
  u.pathname = ''
  return { server: u, name }
}

/** Creates the test database if needed; resolves false when the server is unreachable. */
export async function preparePostgres (url = TEST_PG_URL) {
  const { server, name } = split(url)
  server.pathname = '/postgres'
  const client = new pg.Client({ connectionString: server.toString(), connectionTimeoutMillis: 2000 })
  try {
    await client.connect()
    const found = await client.query('select 1 from pg_database where datname = $1', [name])
    if (found.rowCount === 0) await client.query(`create database "${name}"`)
    return true
  } catch {
    return false
  } finally {
    await client.end().catch(() => {})
  }
}

export async function prepareMysql (url = TEST_MYSQL_URL) {
  const { server, name } = split(url)
  try {
    const conn = await mysql.createConnection({ uri: server.toString(), connectTimeout: 2000 })
    // The NO PAD binary collation the migrations give every table (utf8mb4_bin would pad: "a " = "a"):
    // MariaDB's, else MySQL 8's. An existing test database is brought to it too.
    const [rows] = await conn.query(`select collation_name as name from information_schema.COLLATIONS
      where collation_name in ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')
      order by collation_name = 'utf8mb4_nopad_bin' desc`)
    const collation = rows[0]?.name ?? 'utf8mb4_bin'
    await conn.query(`create database if not exists \`${name}\` character set utf8mb4 collate ${collation}`)
    await conn.query(`alter database \`${name}\` character set utf8mb4 collate ${collation}`)
    await conn.end()
    return true
  } catch {
    return false
  }
}

/** Probes the servers and returns the dialects to test, sqlite first. */
export async function availableDialects () {
  const dialects = ['sqlite']
  if (await preparePostgres()) dialects.push('postgres')
  if (await prepareMysql()) dialects.push('mysql')
  return dialects
}
