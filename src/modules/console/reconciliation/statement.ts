/*
### The payment platform's statement (reconciliation upload)

A CSV file, one payment per row, with four columns:

| column | header names accepted | value |
|---|---|---|
| platform order number | `gyyx_order_no`, `platform_order_no`, `平台订单号` | up to 128 characters; once per statement |
| game order number | `game_order_no`, `order_no`, `游戏订单号` | gamepay's order number, up to 255 characters |
| amount | `amount`, `rmb_yuan`, `金额` | yuan, at most two decimals: `30`, `30.5`, `30.00` (not `30.001`, `-30`, `0`) |
| time | `time`, `paid_at`, `支付时间` | when the platform took the payment (see below) |

- **Header row**: optional. The first row is a header when its third cell is not an amount and it
  names at least one of the columns above. Header names are matched ignoring case and surrounding
  spaces; with a header the columns may come in any order and other columns are ignored. Without
  a header the order is platform order number, game order number, amount, time (cells after the
  fourth are ignored).
- **Encoding**: UTF-8 with or without a byte order mark, or GBK (as Excel saves "CSV" on a Chinese
  Windows). A file that is not valid UTF-8 is read as GBK.
- **Time**: ISO 8601 with an offset (`2024-11-26T13:46:40+08:00`, `2024-11-26T05:46:40Z`), or
  `YYYY-MM-DD HH:mm:ss` / `YYYY/MM/DD HH:mm:ss` read as Asia/Shanghai time (UTC+8). Month, day and
  hour may have one digit and seconds may be left out (`2024/1/5 8:00`), as Excel writes them back.
- **Quoting**: RFC 4180: a cell holding a comma, a quote or a line break is quoted with `"`, and a
  quote inside doubled (`""`). Spaces around cells are trimmed; empty lines and rows of empty cells
  are skipped. A row with a broken quote is reported and the rows after it are still read.
- **Errors**: a bad row is reported with its line number and the column at fault, and left out;
  the other rows are still reconciled. A platform order number listed twice is an error on the
  later line.
- **Limit**: at most 100,000 rows per statement; a longer one is refused whole (split it by day).
*/
import { isUtf8 } from 'node:buffer'
import { CsvError, parse } from 'csv-parse/sync'
import iconv from 'iconv-lite'
import { parseYuan } from '../../../domain/money.ts'
import { parseShanghaiTime } from '../display.ts'

export interface StatementRow {
  /** The line of the file the row starts on, from 1. */
  line: number
  gyyxOrderNo: string
  orderNo: string
  amountFen: number
  /** Epoch milliseconds. */
  paidAt: number
}

export interface StatementError {
  line: number
  /** In English, naming the column as the file names it. */
  message: string
  /** The same in Chinese. */
  zh: string
}

export type StatementEncoding = 'utf-8' | 'utf-8-bom' | 'gbk'

export interface ParsedStatement {
  rows: StatementRow[]
  encoding: StatementEncoding
  errors: StatementError[]
}

export const MAX_STATEMENT_ROWS = 100_000

type Field = 'gyyxOrderNo' | 'orderNo' | 'amount' | 'time'

const COLUMNS: Record<Field, { en: string, zh: string, headers: string[], maxLength?: number }> = {
  gyyxOrderNo: { en: 'gyyx_order_no', zh: '平台订单号', headers: ['gyyx_order_no', 'platform_order_no', '平台订单号'], maxLength: 128 },
  orderNo: { en: 'game_order_no', zh: '游戏订单号', headers: ['game_order_no', 'order_no', '游戏订单号'], maxLength: 255 },
  amount: { en: 'amount', zh: '金额', headers: ['amount', 'rmb_yuan', '金额'] },
  time: { en: 'time', zh: '支付时间', headers: ['time', 'paid_at', '支付时间'] },
}
const FIELDS = Object.keys(COLUMNS) as Field[]
const HEADER_FIELD = new Map(FIELDS.flatMap((f) => COLUMNS[f].headers.map((h) => [h.toLowerCase(), f] as const)))
/** Without a header: platform, game, amount, time. */
const DEFAULT_LAYOUT: Layout = { index: { gyyxOrderNo: 0, orderNo: 1, amount: 2, time: 3 }, label: null }

interface Layout {
  index: Record<Field, number>
  /** The header cells as written, to name a column the way the file does; null without a header. */
  label: Record<Field, string> | null
}

const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf])

export function decodeStatement (bytes: Buffer): { text: string, encoding: StatementEncoding } {
  if (bytes.subarray(0, 3).equals(UTF8_BOM)) return { text: bytes.subarray(3).toString('utf8'), encoding: 'utf-8-bom' }
  if (isUtf8(bytes)) return { text: bytes.toString('utf8'), encoding: 'utf-8' }
  return { text: iconv.decode(bytes, 'gbk'), encoding: 'gbk' }
}

export function parseStatement (bytes: Buffer): ParsedStatement {
  const { text, encoding } = decodeStatement(bytes)
  const errors: StatementError[] = []
  const fail = (line: number, en: string, zh: string) => { errors.push({ line, message: en, zh }) }

  // A header and one row past the limit are enough to know the statement is too long.
  const records = readRecords(text.replace(/\r\n?/g, '\n'), MAX_STATEMENT_ROWS + 2, fail)

  let layout = DEFAULT_LAYOUT
  let data = records
  if (records.length > 0 && isHeader(records[0].cells)) {
    const header = readHeader(records[0].cells)
    if ('missing' in header) {
      const names = (f: Field) => COLUMNS[f].headers.join(' / ')
      const missing = header.missing
      return {
        rows: [],
        encoding,
        errors: [{
          line: records[0].line,
          message: `the header has no ${missing.map((f) => `${COLUMNS[f].en} column (${names(f)})`).join(', no ')}`,
          zh: `表头缺少${missing.map((f) => `${COLUMNS[f].zh}列（${names(f)}）`).join('、')}`,
        }],
      }
    }
    if ('repeated' in header) {
      return { rows: [], encoding, errors: [{ line: records[0].line, message: `the header names ${header.repeated} twice`, zh: `表头中 ${header.repeated} 重复出现` }] }
    }
    layout = header
    data = records.slice(1)
  }
  if (data.length > MAX_STATEMENT_ROWS) {
    const line = data[MAX_STATEMENT_ROWS].line
    return {
      rows: [],
      encoding,
      errors: [{
        line,
        message: `more than ${MAX_STATEMENT_ROWS} rows: split the statement (by day, for example)`,
        zh: `超过 ${MAX_STATEMENT_ROWS} 行：请拆分对账单（例如按天）`,
      }],
    }
  }

  const rows: StatementRow[] = []
  const seen = new Map<string, number>()
  for (const { cells, line } of data) {
    const row = readRow(cells, line, layout, fail)
    if (row === null) continue
    const first = seen.get(row.gyyxOrderNo)
    if (first !== undefined) {
      const en = label(layout, 'gyyxOrderNo', 'en')
      const zh = label(layout, 'gyyxOrderNo', 'zh')
      fail(line, `${en}: "${shown(row.gyyxOrderNo)}" is already on line ${first}`, `${zh}：“${shown(row.gyyxOrderNo)}” 已在第 ${first} 行出现`)
      continue
    }
    seen.set(row.gyyxOrderNo, line)
    rows.push(row)
  }
  errors.sort((a, b) => a.line - b.line)
  return { rows, encoding, errors }
}

interface CsvRecord { cells: string[], line: number }

// Past this many unreadable rows the file is not a CSV statement; reading on would be wasted.
const MAX_UNREADABLE_ROWS = 100

/**
 * The records of `text` (line breaks already \n) with the line each starts on, at most `limit`.
 * csv-parse reads everything after a malformed quote as one unfinished cell, so on a syntax error
 * the broken row is reported and reading starts again on the line after it.
 */
function readRecords (text: string, limit: number, fail: Fail): CsvRecord[] {
  const lineStarts = [0]
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lineStarts.push(i + 1)
  const lineText = (line: number) => text.slice(lineStarts[line - 1], (lineStarts[line] ?? text.length + 1) - 1)

  const records: CsvRecord[] = []
  let firstLine = 1
  for (let unreadable = 0; records.length < limit && firstLine <= lineStarts.length;) {
    // The last line a whole record of this pass ended on.
    let lastLine = firstLine - 1
    try {
      parse(text.slice(lineStarts[firstLine - 1]), {
        raw: true,
        relax_quotes: true,
        relax_column_count: true,
        skip_empty_lines: true,
        skip_records_with_empty_values: true,
        trim: true,
        to: limit - records.length,
        on_record: (record, info) => {
          const { record: cells, raw } = record as unknown as { record: string[], raw: string }
          // info.lines is the line the record ends on; a quoted cell may span several.
          const inner = raw.replace(/^\n+/, '').replace(/\n$/, '')
          lastLine = firstLine - 1 + info.lines
          records.push({ cells, line: lastLine - (inner.match(/\n/g)?.length ?? 0) })
          return null
        },
      })
      break
    } catch (err) {
      if (!(err instanceof CsvError)) throw err
      // The broken row is the first line after the last whole record that holds anything.
      let broken = lastLine + 1
      while (broken < lineStarts.length && /^[\s,]*$/.test(lineText(broken))) broken++
      fail(broken, 'not readable as CSV: a quote is not closed, or a closing quote is followed by more text in the cell',
        '无法按 CSV 读取：引号未闭合，或闭合引号后同一单元格内还有文字')
      if (++unreadable === MAX_UNREADABLE_ROWS) {
        fail(broken, `${MAX_UNREADABLE_ROWS} unreadable rows: the rest of the file is not read`, `${MAX_UNREADABLE_ROWS} 行无法读取：文件其余部分未读取`)
        break
      }
      firstLine = broken + 1
    }
  }
  return records
}

/**
 * A first row whose amount cell is not an amount is a header, if it names any known column;
 * otherwise it is a data row with a bad amount and is reported as one.
 */
function isHeader (cells: string[]): boolean {
  if (parseYuan(cells[DEFAULT_LAYOUT.index.amount] ?? '', { allowString: true }) !== null) return false
  return cells.some((c) => HEADER_FIELD.has(c.toLowerCase()))
}

function readHeader (cells: string[]): Layout | { missing: Field[] } | { repeated: string } {
  const index: Partial<Record<Field, number>> = {}
  const label: Partial<Record<Field, string>> = {}
  for (const [i, cell] of cells.entries()) {
    const field = HEADER_FIELD.get(cell.toLowerCase())
    if (field === undefined) continue
    if (index[field] !== undefined) return { repeated: `${COLUMNS[field].en} (${label[field]}, ${cell})` }
    index[field] = i
    label[field] = cell
  }
  const missing = FIELDS.filter((f) => index[f] === undefined)
  if (missing.length > 0) return { missing }
  return { index: index as Record<Field, number>, label: label as Record<Field, string> }
}

function label (layout: Layout, field: Field, lang: 'en' | 'zh'): string {
  return layout.label?.[field] ?? COLUMNS[field][lang]
}

type Fail = (line: number, en: string, zh: string) => void

/** A cell as quoted in a message: cut short, so one huge cell cannot make a huge report. */
const shown = (value: string) => value.length > 64 ? `${value.slice(0, 64)}…` : value

// Control characters (NUL above all) cannot be looked up in every database, nor be an order number.
const CONTROL = /\p{Cc}/u

function readRow (cells: string[], line: number, layout: Layout, fail: Fail): StatementRow | null {
  let ok = true
  const bad = (field: Field, en: string, zh: string) => {
    ok = false
    fail(line, `${label(layout, field, 'en')}: ${en}`, `${label(layout, field, 'zh')}：${zh}`)
  }
  const cell = (field: Field): string | null => {
    const value = cells[layout.index[field]] ?? ''
    if (value === '') {
      bad(field, 'empty', '为空')
      return null
    }
    return value
  }
  const text = (field: Field): string => {
    const value = cell(field)
    if (value === null) return ''
    const max = COLUMNS[field].maxLength ?? Infinity
    if (value.length > max) bad(field, `longer than ${max} characters`, `超过 ${max} 个字符`)
    else if (CONTROL.test(value)) bad(field, 'holds a control character', '含有控制字符')
    return value
  }

  const gyyxOrderNo = text('gyyxOrderNo')
  const orderNo = text('orderNo')
  const amountText = cell('amount')
  const amountFen = amountText === null ? null : parseYuan(amountText, { allowString: true })
  if (amountText !== null && amountFen === null) {
    bad('amount', `"${shown(amountText)}" is not a positive amount in yuan with at most two decimals`, `“${shown(amountText)}” 不是最多两位小数的正金额（元）`)
  }
  const timeText = cell('time')
  const paidAt = timeText === null ? null : parseShanghaiTime(timeText)
  if (timeText !== null && paidAt === null) {
    bad('time', `"${shown(timeText)}" is not a time (YYYY-MM-DD HH:mm:ss in UTC+8, or ISO 8601 with an offset)`,
      `“${shown(timeText)}” 不是有效时间（YYYY-MM-DD HH:mm:ss，北京时间；或带时区的 ISO 8601）`)
  }
  if (!ok || amountFen === null || paidAt === null) return null
  return { line, gyyxOrderNo, orderNo, amountFen, paidAt }
}
