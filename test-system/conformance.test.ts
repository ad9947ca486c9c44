// Black-box conformance test of the payment service, written from the wire contract, the
// original API document and the README only. It starts the real service as child processes and
// talks to it over HTTP with fetch; callbacks are signed here with node:crypto (§5.1).
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, type ChildProcess } from 'node:child_process'
import { connect, createServer } from 'node:net'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'

const SECRET = 'demo-secret'
const DEV_SECRET = 'gamepay-development-secret'
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/
const ORDER_RE = /^811-\d+$/
const CJK = /[\u3400-\u9fff]/
const ENVELOPE_KEYS = new Set(['result', 'state', 'trace_id', 'data', 'message'])

const STATUS: Record<string, number> = {
  INVALID_PARAMS: 400,
  GOODS_NOT_FOUND: 404,
  GOODS_UNAVAILABLE: 409,
  ITEM_MISMATCH: 400,
  PRICE_MISMATCH: 400,
  ORDER_NOT_FOUND: 404,
  ORDER_ALREADY_PAID: 409,
  ORDER_NOT_PAID: 409,
  SIGN_INVALID: 401,
  SIGN_TYPE_UNSUPPORTED: 400,
  AMOUNT_MISMATCH: 400,
  CALLBACK_FORBIDDEN: 403,
  UNAUTHORIZED: 401,
  RATE_LIMITED: 429,
  NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  SERVICE_UNAVAILABLE: 503,
  INTERNAL_ERROR: 500,
}

// ---------------------------------------------------------------------------------------------
// processes

interface Srv {
  name: string
  base: string
  always200: boolean
  prefix: string
  proc: ChildProcess
  dir: string
  output: string[]
  exited: boolean
  autoXff: boolean
}

const servers: Srv[] = []
const tempDirs: string[] = []

function tempDir (): string {
  const dir = mkdtempSync(join(tmpdir(), 'gamepay-conformance-'))
  tempDirs.push(dir)
  return dir
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer()
    srv.on('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      if (addr === null || typeof addr === 'string') {
        reject(new Error('no port'))
        return
      }
      const port = addr.port
      srv.close(() => resolve(port))
    })
  })
}

function childEnv (port: number, dbFile: string, extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  // NODE_OPTIONS too: the command is tested as it runs, not with a loader this runner may use.
  delete env.NODE_ENV
  delete env.NODE_OPTIONS
  for (const k of Object.keys(env)) {
    if (k.startsWith('CALLBACK_') || k.startsWith('ORDER_') || k === 'HTTP_STATUS_MODE' || k === 'GOODS_SEED' ||
      k === 'WORKER_ID' || k === 'RATE_LIMIT_PER_MINUTE' || k === 'TRUST_PROXY' || k === 'BODY_LIMIT' ||
      k === 'REDIS_URL' || k === 'REQUEST_TIMEOUT_MS') delete env[k]
  }
  Object.assign(env, {
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: `sqlite:${dbFile}`,
    CALLBACK_SECRET: SECRET,
    LOG_LEVEL: 'warn',
  })
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k]
    else env[k] = v
  }
  return env
}

function spawnService (env: NodeJS.ProcessEnv, output: string[]): ChildProcess {
  const proc = spawn(process.execPath, ['bin/gamepay.js', 'serve'], {
    cwd: process.cwd(),
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const keep = (chunk: Buffer): void => {
    output.push(chunk.toString('utf8'))
    if (output.length > 400) output.splice(0, output.length - 400)
  }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  return proc
}

async function startServer (name: string, extra: Record<string, string | undefined>,
  opts: { dbFile?: string, autoXff?: boolean } = {}): Promise<Srv> {
  const dir = tempDir()
  const port = await freePort()
  const dbFile = opts.dbFile ?? join(dir, 'gamepay.db')
  const output: string[] = []
  const proc = spawnService(childEnv(port, dbFile, extra), output)
  const srv: Srv = {
    name,
    base: `http://127.0.0.1:${port}`,
    always200: extra.HTTP_STATUS_MODE === 'always-200',
    prefix: extra.ORDER_PREFIX ?? '811',
    proc,
    dir,
    output,
    exited: false,
    autoXff: opts.autoXff ?? false,
  }
  servers.push(srv)
  proc.on('exit', () => { srv.exited = true })
  const deadline = Date.now() + 45_000
  while (true) {
    if (srv.exited) throw new Error(`${name} exited during start:\n${output.join('')}`)
    if (Date.now() > deadline) throw new Error(`${name} did not answer within 45 s:\n${output.join('')}`)
    try {
      const r = await fetch(`${srv.base}/api/pay/goods?id=1`, { headers: { 'x-forwarded-for': '203.0.113.250' } })
      await r.text()
      if (r.status > 0) return srv
    } catch {
      // not listening yet
    }
    await sleep(100)
  }
}

async function stopServer (srv: Srv): Promise<void> {
  if (srv.exited) return
  const exited = new Promise<void>((resolve) => srv.proc.once('exit', () => resolve()))
  srv.proc.kill('SIGTERM')
  await Promise.race([exited, sleep(8000)])
  if (!srv.exited) {
    srv.proc.kill('SIGKILL')
    await Promise.race([exited, sleep(2000)])
  }
}

process.on('exit', () => {
  for (const s of servers) {
    if (!s.exited) {
      try { s.proc.kill('SIGKILL') } catch {}
    }
  }
})

// Runs a service that is expected to refuse to start; returns its exit code and output.
async function runExpectingStartFailure (extra: Record<string, string | undefined>): Promise<{ code: number | null, output: string }> {
  const dir = tempDir()
  const port = await freePort()
  const output: string[] = []
  const proc = spawnService(childEnv(port, join(dir, 'gamepay.db'), extra), output)
  const srv: Srv = {
    name: 'start-failure',
    base: '',
    always200: false,
    prefix: '',
    proc,
    dir,
    output,
    exited: false,
    autoXff: false,
  }
  servers.push(srv)
  let code: number | null = null
  const exited = new Promise<void>((resolve) => proc.once('exit', (c) => {
    srv.exited = true
    code = c
    resolve()
  }))
  // A service that starts after all is stopped as soon as it answers (it may listen off loopback).
  const deadline = Date.now() + 15_000
  while (!srv.exited && Date.now() < deadline) {
    const answered = await fetch(`http://127.0.0.1:${port}/api/pay/goods?id=1`).then(async (r) => { await r.text(); return true }, () => false)
    if (answered) break
    await Promise.race([exited, sleep(200)])
  }
  if (!srv.exited) await stopServer(srv)
  return { code, output: output.join('') }
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Res {
  status: number
  headers: Headers
  text: string
  body: any
  always200: boolean
}

interface ReqOpts {
  json?: unknown
  raw?: string
  bytes?: Uint8Array
  headers?: Record<string, string>
  noXff?: boolean
}

let xffSeq = 0
function freshClientAddr (): string {
  xffSeq++
  return `100.64.${Math.floor(xffSeq / 250)}.${(xffSeq % 250) + 1}`
}

async function req (srv: Srv, method: string, path: string, opts: ReqOpts = {}): Promise<Res> {
  const headers: Record<string, string> = { ...opts.headers }
  let body: string | Blob | undefined
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json)
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['content-type'] = 'application/json'
  } else if (opts.raw !== undefined) {
    body = opts.raw
  } else if (opts.bytes !== undefined) {
    body = new Blob([Buffer.from(opts.bytes)])
  }
  if (srv.autoXff && opts.noXff !== true && !Object.keys(headers).some((h) => h.toLowerCase() === 'x-forwarded-for')) {
    headers['x-forwarded-for'] = freshClientAddr()
  }
  const r = await fetch(srv.base + path, { method, headers, body })
  const text = await r.text()
  let parsed: any
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  return { status: r.status, headers: r.headers, text, body: parsed, always200: srv.always200 }
}

async function post (srv: Srv, path: string, json: unknown, headers: Record<string, string> = {}): Promise<Res> {
  return await req(srv, 'POST', path, { json, headers })
}

async function goods (srv: Srv, query: string, headers: Record<string, string> = {}): Promise<Res> {
  return await req(srv, 'GET', `/api/pay/goods${query}`, { headers })
}

function show (r: Res): string {
  return `HTTP ${r.status} ${r.text.slice(0, 600)}`
}

function assertEnvelope (r: Res): void {
  assert.ok(r.body !== null && typeof r.body === 'object' && !Array.isArray(r.body), `not a JSON envelope: ${show(r)}`)
  assert.match(r.headers.get('content-type') ?? '', /^application\/json/i, `content-type of ${show(r)}`)
  for (const k of Object.keys(r.body)) assert.ok(ENVELOPE_KEYS.has(k), `unexpected envelope key ${k}: ${show(r)}`)
  assert.ok(r.body.result === 'success' || r.body.result === 'fail', `result: ${show(r)}`)
  assert.equal(typeof r.body.state, 'string', `state: ${show(r)}`)
  assert.equal(typeof r.body.trace_id, 'string', `trace_id: ${show(r)}`)
  assert.equal(r.headers.get('x-request-id'), r.body.trace_id, `X-Request-Id header must echo trace_id: ${show(r)}`)
  assert.ok(r.status < 500 || r.body.state === 'SERVICE_UNAVAILABLE', `5xx: ${show(r)}`)
}

function ok (r: Res): any {
  assertEnvelope(r)
  assert.equal(r.body.result, 'success', show(r))
  assert.equal(r.body.state, '', show(r))
  assert.equal(r.status, 200, show(r))
  assert.ok(!('message' in r.body), `message on success: ${show(r)}`)
  return r.body.data
}

function okData (r: Res): any {
  const data = ok(r)
  assert.ok(data !== null && typeof data === 'object', `data expected: ${show(r)}`)
  return data
}

function okNoData (r: Res): void {
  ok(r)
  assert.ok(!('data' in r.body), `data must be absent: ${show(r)}`)
}

function fail (r: Res, state: string, names?: string | string[]): void {
  assertEnvelope(r)
  assert.equal(r.body.result, 'fail', show(r))
  assert.equal(r.body.state, state, show(r))
  assert.equal(r.status, r.always200 ? 200 : STATUS[state], `HTTP status for ${state}: ${show(r)}`)
  assert.ok(!('data' in r.body), `data must be absent on failure: ${show(r)}`)
  assert.equal(typeof r.body.message, 'string', `message: ${show(r)}`)
  assert.ok(r.body.message.length > 0, `message: ${show(r)}`)
  assert.doesNotMatch(r.body.message, /\n\s+at |node_modules|SELECT |INSERT |UPDATE /, `leaks internals: ${show(r)}`)
  if (names !== undefined) {
    const list = Array.isArray(names) ? names : [names]
    assert.ok(list.some((n) => r.body.message.includes(n)), `message should name ${list.join(' or ')}: ${show(r)}`)
  }
}

/**
 * Opens a raw connection, sends `start`, then one more header line every 300 ms (a slow client);
 * resolves with what came back once the server closes it, or 'still open' after `boundMs`.
 */
async function slowClient (srv: Srv, start: string, trickle: boolean, boundMs: number): Promise<{ closed: boolean, answer: string }> {
  const { hostname, port } = new URL(srv.base)
  const socket = connect(Number(port), hostname)
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk.toString('latin1') })
  socket.on('error', () => {})
  socket.write(start)
  let n = 0
  const drip = trickle ? setInterval(() => { if (socket.writable) socket.write(`X-Slow-${n++}: 1\r\n`) }, 300) : undefined
  const closed = await Promise.race([
    new Promise<boolean>((resolve) => socket.once('close', () => resolve(true))),
    sleep(boundMs).then(() => false),
  ])
  clearInterval(drip)
  socket.destroy()
  return { closed, answer }
}

/** The process and all its descendants, with their command lines (Linux /proc). */
function processTree (root: number): Array<{ pid: number, cmdline: string }> {
  const parentOf = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8')
      parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]))
    } catch {
      // gone meanwhile
    }
  }
  const tree = [root]
  for (let i = 0; i < tree.length; i++) {
    for (const [pid, ppid] of parentOf) if (ppid === tree[i]) tree.push(pid)
  }
  return tree.map((pid) => {
    let cmdline = ''
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
    } catch {}
    return { pid, cmdline }
  })
}

// ---------------------------------------------------------------------------------------------
// signing (§5.1), written independently of the service

type Val = string | number | boolean | null | undefined | object
type Params = Record<string, Val>

function stringA (params: Params): string {
  const entries: Array<[string, string]> = []
  for (const [k, v] of Object.entries(params)) {
    if (k === 'sign' || k === 'signType' || k === 'sign_type') continue
    if (v === null || v === undefined) continue
    const s = String(v)
    if (s === '') continue
    entries.push([k, s])
  }
  entries.sort((a, b) => Buffer.compare(Buffer.from(a[0], 'utf8'), Buffer.from(b[0], 'utf8')))
  return entries.map(([k, v]) => `${k}=${v}`).join('&')
}

let rsaPrivate: KeyObject | undefined

function signWith (type: string, a: string, secret = SECRET): string {
  switch (type.toUpperCase()) {
    case 'MD5': return createHash('md5').update(`${a}&key=${secret}`, 'utf8').digest('hex')
    case 'HMAC-SHA256': return createHmac('sha256', secret).update(a, 'utf8').digest('hex')
    case 'RSA2':
      assert.ok(rsaPrivate !== undefined)
      return cryptoSign('sha256', Buffer.from(a, 'utf8'), rsaPrivate).toString('base64')
    default: return createHash('md5').update(`${a}&key=${secret}`, 'utf8').digest('hex')
  }
}

interface CbOpts {
  as?: 'json' | 'form' | 'query'
  signType?: string | null // null: no signType parameter
  typeKey?: 'signType' | 'sign_type'
  sign?: string | null // explicit sign, null: no sign parameter
  algo?: string // algorithm used to compute the sign (defaults to signType)
  secret?: string // shared secret used to compute the sign (defaults to SECRET)
  headers?: Record<string, string>
  query?: string // extra query string (json/form)
}

function encodeForm (p: Params): string {
  const u = new URLSearchParams()
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) continue
    u.append(k, v === null ? '' : String(v))
  }
  return u.toString()
}

async function callback (srv: Srv, params: Params, o: CbOpts = {}): Promise<Res> {
  const st = o.signType === undefined ? 'MD5' : o.signType
  const p: Params = { ...params }
  const sign = o.sign !== undefined ? o.sign : signWith(o.algo ?? st ?? 'MD5', stringA(p), o.secret)
  if (sign !== null) p.sign = sign
  if (st !== null) p[o.typeKey ?? 'signType'] = st
  const as = o.as ?? 'json'
  const q = o.query !== undefined ? `?${o.query}` : ''
  if (as === 'json') return await req(srv, 'POST', `/api/pay/callback${q}`, { json: p, headers: o.headers })
  if (as === 'form') {
    return await req(srv, 'POST', `/api/pay/callback${q}`, {
      raw: encodeForm(p),
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...o.headers },
    })
  }
  return await req(srv, 'POST', `/api/pay/callback?${encodeForm(p)}`, { headers: o.headers })
}

let gseq = 0
function newGyyx (): string {
  gseq++
  return `GY${Date.now()}${String(gseq).padStart(4, '0')}`
}

function nowTs (): string {
  return String(Math.floor(Date.now() / 1000))
}

function cbParams (order: string, rmb: Val, extra: Params = {}): Params {
  return {
    game_order_no: order,
    gyyx_order_no: newGyyx(),
    result: 'success',
    result_message: '',
    rmb_yuan: rmb,
    server_flag: 's1',
    common_param: 'cp',
    timestamp: nowTs(),
    ...extra,
  }
}

async function pay (srv: Srv, order: string, rmb: Val, extra: Params = {}, o: CbOpts = {}): Promise<{ res: Res, gyyx: string }> {
  const params = cbParams(order, rmb, extra)
  const res = await callback(srv, params, o)
  return { res, gyyx: String(params.gyyx_order_no) }
}

// ---------------------------------------------------------------------------------------------
// domain helpers

let userSeq = 0
function uid (tag: string): string {
  userSeq++
  return `${tag}-${process.pid}-${userSeq}`
}

const MONTH_CARD = { item: '月卡', item_id: '2', single_pric: 30 }
const ATTR = { item: '商品属性', item_id: '1', single_pric: 99.99 }
const DAILY = { item: '每日礼包', item_id: '5', single_pric: 0.1 }

const createdOn811: string[] = [] // every fresh (non-reused) order created on the 811 database, in order

async function create (srv: Srv, body: Record<string, unknown>, headers: Record<string, string> = {}): Promise<any> {
  const r = await post(srv, '/api/pay/create-order', body, headers)
  const data = okData(r)
  assert.equal(typeof data.order, 'string', show(r))
  assert.match(data.order, new RegExp(`^${srv.prefix}-\\d+$`), show(r))
  if (srv.prefix === '811' && data.reused === false) createdOn811.push(data.order)
  return data
}

async function verify (srv: Srv, body: Record<string, unknown>): Promise<Res> {
  return await post(srv, '/api/pay/verification', body)
}

async function cancel (srv: Srv, body: Record<string, unknown>): Promise<Res> {
  return await post(srv, '/api/pay/cancel-order', body)
}

function snowflake (order: string): { ms: bigint, worker: bigint, seq: bigint, id: bigint } {
  const id = BigInt(order.slice(order.indexOf('-') + 1))
  return { id, ms: id >> 22n, worker: (id >> 12n) & 1023n, seq: id & 4095n }
}

function shanghai (iso: string): string {
  const t = new Date(Date.parse(iso) + 8 * 3600_000)
  return t.toISOString().slice(0, 19).replace('T', ' ')
}

function assertMoney (v: unknown, expected: number, what: string): void {
  assert.equal(typeof v, 'number', `${what} must be a JSON number, got ${JSON.stringify(v)}`)
  assert.equal(v, expected, `${what}`)
  assert.match(String(v), /^\d+(\.\d{1,2})?$/, `${what} printed with at most two decimals`)
}

// ---------------------------------------------------------------------------------------------

let A: Srv // strict, prefix 811, RSA2 key configured
let B: Srv // always-200, prefix T9, ttl 2 s, max age 300 s, success results success,OK, body limit 2048
let C: Srv // shares A's database; allow-list 10/8, trusts 127.0.0.1 as proxy, 5 requests/minute
// production, RSA2 alone with its key and no CALLBACK_SECRET, REQUEST_TIMEOUT_MS=1000; started beside
// the others, but only the §10 tests wait for it, so a refusal to start fails those alone
let started: Promise<Srv | Error>
async function serverD (): Promise<Srv> {
  const d = await started
  if (d instanceof Error) throw d
  return d
}

describe('gamepay conformance (black box, wire contract)', { timeout: 240_000 }, () => {
  before(async () => {
    const keyDir = tempDir()
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    rsaPrivate = privateKey
    const pem = join(keyDir, 'platform-public.pem')
    writeFileSync(pem, publicKey.export({ type: 'spki', format: 'pem' }))
    const seedFile = join(keyDir, 'goods.json')
    writeFileSync(seedFile, JSON.stringify([
      { id: 1, item: '商品属性', single_pric: 99.99, on_sale: true },
      { id: 2, item: '月卡', single_pric: 30, on_sale: true },
      { id: 70, item: '至尊礼包', single_pric: 10_000_000, on_sale: true },
      { id: 71, item: '一分钱', single_pric: 0.01, on_sale: true },
      { id: 72, item: '九百万', single_pric: 9_999_999.99, on_sale: true },
      { id: 73, item: '下架了', single_pric: 6, on_sale: false },
    ]))
    started = startServer('D', {
      NODE_ENV: 'production',
      CALLBACK_SECRET: undefined,
      CALLBACK_SIGN_TYPES: 'RSA2',
      CALLBACK_RSA_PUBLIC_KEY: pem,
      GOODS_SEED: seedFile,
      REQUEST_TIMEOUT_MS: '1000',
    }).catch((err: Error) => err)
    ;[A, B] = await Promise.all([
      startServer('A', { CALLBACK_RSA_PUBLIC_KEY: pem }),
      startServer('B', {
        GOODS_SEED: seedFile,
        HTTP_STATUS_MODE: 'always-200',
        ORDER_PREFIX: 'T9',
        ORDER_TTL_SECONDS: '2',
        CALLBACK_MAX_AGE_SECONDS: '300',
        CALLBACK_SUCCESS_RESULTS: 'success,OK',
        BODY_LIMIT: '2048',
      }),
    ])
    C = await startServer('C', {
      CALLBACK_ALLOW_IPS: '10.0.0.0/8',
      TRUST_PROXY: '127.0.0.1/32',
      RATE_LIMIT_PER_MINUTE: '5',
      LOG_LEVEL: 'info',
    }, { dbFile: join(A.dir, 'gamepay.db'), autoXff: true })
  })

  after(async () => {
    await started
    await Promise.all(servers.map(stopServer))
    for (const d of tempDirs) {
      try { rmSync(d, { recursive: true, force: true }) } catch {}
    }
  })

  // -------------------------------------------------------------------------------------------
  describe('§1 envelope', () => {
    test('success envelope: result/state/trace_id (UUID v4)/data, no message, X-Request-Id echoed', async () => {
      const r = await goods(A, '?id=1')
      const data = okData(r)
      assert.match(r.body.trace_id, UUID_V4)
      assert.equal(data.id, 1)
      const r2 = await goods(A, '?id=1')
      assert.notEqual(r2.body.trace_id, r.body.trace_id, 'a new trace id per request')
    })

    test('a valid X-Request-Id becomes the trace_id and is sent back', async () => {
      for (const id of ['abc', 'req.1_2:3-4', 'A'.repeat(128), 'x', '0']) {
        const r = await goods(A, '?id=1', { 'x-request-id': id })
        ok(r)
        assert.equal(r.body.trace_id, id)
        assert.equal(r.headers.get('x-request-id'), id)
      }
      const f = await goods(A, '?id=999999', { 'x-request-id': 'fail.trace-1' })
      fail(f, 'GOODS_NOT_FOUND')
      assert.equal(f.body.trace_id, 'fail.trace-1')
      const nf = await req(A, 'GET', '/api/pay/no-such-route', { headers: { 'x-request-id': 'nf-trace' } })
      fail(nf, 'NOT_FOUND')
      assert.equal(nf.body.trace_id, 'nf-trace')
    })

    test('an invalid X-Request-Id is replaced by a new UUID v4', async () => {
      for (const id of ['', 'A'.repeat(129), 'has space', 'a/b', '<script>', 'semi;colon', 'quote"d', 'é']) {
        const r = await goods(A, '?id=1', { 'x-request-id': id })
        ok(r)
        assert.match(r.body.trace_id, UUID_V4, `X-Request-Id ${JSON.stringify(id)} must be replaced`)
        assert.equal(r.headers.get('x-request-id'), r.body.trace_id)
      }
    })

    test('failure: result fail, state, message naming the field, no data; zh-CN by default, en on request', async () => {
      const zh = await post(A, '/api/pay/create-order', { item: '月卡', single_pric: 30 })
      fail(zh, 'INVALID_PARAMS', 'user_id')
      assert.match(zh.body.message, CJK, `default message is zh-CN: ${show(zh)}`)
      for (const lang of ['en', 'en-US', 'en-US,en;q=0.9', 'en-GB,zh-CN;q=0.5']) {
        const en = await post(A, '/api/pay/create-order', { item: '月卡', single_pric: 30 }, { 'accept-language': lang })
        fail(en, 'INVALID_PARAMS', 'user_id')
        assert.doesNotMatch(en.body.message, CJK, `Accept-Language ${lang} gives English: ${show(en)}`)
        assert.match(en.body.message, /[A-Za-z]{3,}/)
      }
      for (const lang of ['zh-CN,zh;q=0.9,en;q=0.8', 'en;q=0.1,zh;q=0.9', 'fr-FR', 'de']) {
        const zh2 = await post(A, '/api/pay/create-order', { item: '月卡', single_pric: 30 }, { 'accept-language': lang })
        fail(zh2, 'INVALID_PARAMS', 'user_id')
        assert.match(zh2.body.message, CJK, `Accept-Language ${lang} does not prefer en: ${show(zh2)}`)
      }
      const enQ = await post(A, '/api/pay/create-order', { item: '月卡', single_pric: 30 }, { 'accept-language': 'zh;q=0.5,en' })
      fail(enQ, 'INVALID_PARAMS', 'user_id')
      assert.doesNotMatch(enQ.body.message, CJK, `en preferred by q: ${show(enQ)}`)
      const enGoods = await goods(A, '?id=987654', { 'accept-language': 'en' })
      fail(enGoods, 'GOODS_NOT_FOUND', ['987654', 'id'])
      assert.doesNotMatch(enGoods.body.message, CJK)
    })

    test('framework-level failures are localised too', async () => {
      const big = JSON.stringify({ pad: 'x'.repeat(70 * 1024) })
      const p = cbParams('811-1', 30)
      const send = async (lang: string): Promise<Array<[Res, string]>> => {
        const h = { 'accept-language': lang }
        return [
          [await req(A, 'GET', '/api/pay/nope', { headers: h }), 'NOT_FOUND'],
          [await req(A, 'PUT', '/api/pay/goods?id=1', { headers: h }), 'METHOD_NOT_ALLOWED'],
          [await req(A, 'POST', '/api/pay/create-order', { raw: 'x', headers: { ...h, 'content-type': 'text/plain' } }), 'UNSUPPORTED_MEDIA_TYPE'],
          [await req(A, 'POST', '/api/pay/create-order', { raw: '{bad', headers: { ...h, 'content-type': 'application/json' } }), 'INVALID_PARAMS'],
          [await req(A, 'POST', '/api/pay/create-order', { raw: big, headers: { ...h, 'content-type': 'application/json' } }), 'PAYLOAD_TOO_LARGE'],
          [await req(A, 'GET', '/api/pay/goods?id=x', { headers: h }), 'INVALID_PARAMS'],
          [await callback(A, p, { sign: 'bad', headers: h }), 'SIGN_INVALID'],
          [await callback(A, p, { headers: h }), 'ORDER_NOT_FOUND'],
          [await callback(A, p, { signType: 'XX', headers: h }), 'SIGN_TYPE_UNSUPPORTED'],
        ]
      }
      for (const [r, state] of await send('en')) {
        fail(r, state)
        assert.doesNotMatch(r.body.message, CJK, `English for ${state}: ${show(r)}`)
      }
      for (const [r, state] of await send('zh-CN')) {
        fail(r, state)
        assert.match(r.body.message, CJK, `Chinese for ${state}: ${show(r)}`)
      }
    })

    test('unknown routes and wrong methods get the envelope with NOT_FOUND / METHOD_NOT_ALLOWED', async () => {
      fail(await req(A, 'GET', '/api/pay/no-such-route'), 'NOT_FOUND')
      fail(await req(A, 'POST', '/api/pay/no-such-route', { json: { a: 1 } }), 'NOT_FOUND')
      fail(await req(A, 'GET', '/api/pay'), 'NOT_FOUND')
      fail(await req(A, 'GET', '/no/such/thing'), 'NOT_FOUND')
      fail(await req(A, 'GET', '/api/pay/goods/1'), 'NOT_FOUND')
      fail(await req(A, 'POST', '/api/pay/goods?id=1', { json: {} }), 'METHOD_NOT_ALLOWED')
      fail(await req(A, 'PUT', '/api/pay/goods?id=1'), 'METHOD_NOT_ALLOWED')
      fail(await req(A, 'DELETE', '/api/pay/goods?id=1'), 'METHOD_NOT_ALLOWED')
      fail(await req(A, 'GET', '/api/pay/create-order'), 'METHOD_NOT_ALLOWED')
      fail(await req(A, 'PUT', '/api/pay/create-order', { json: {} }), 'METHOD_NOT_ALLOWED')
      fail(await req(A, 'GET', '/api/pay/cancel-order'), 'METHOD_NOT_ALLOWED')
      fail(await req(A, 'DELETE', '/api/pay/verification'), 'METHOD_NOT_ALLOWED')
      fail(await req(A, 'GET', '/api/pay/callback'), 'METHOD_NOT_ALLOWED')
      fail(await req(A, 'PATCH', '/api/pay/callback', { json: {} }), 'METHOD_NOT_ALLOWED')
    })

    test('malformed input always gets the envelope and never a 5xx', async () => {
      const bodies: string[] = [
        '{"__proto__":{"user_id":"x"},"item":"月卡","single_pric":30}',
        '{"constructor":{"prototype":{"a":1}}}',
        '{"user_id":{"$gt":""},"item":"月卡","single_pric":30}',
        '{"user_id":["a"],"item":"月卡","single_pric":30}',
        '{"user_id":"a","item":"月卡","single_pric":1e400}',
        '{"user_id":"a","item":"月卡","single_pric":-0}',
        '{"user_id":"a","item":"月卡","single_pric":30,"amount_num":1e20}',
        '{"user_id":"a","item":"月卡","item_id":99999999999999999999999,"single_pric":30}',
        '{"user_id":"a","item":"月卡","item_id":{"a":1},"single_pric":30}',
        '{"user_id":"a","item":"月卡","item_id":true,"single_pric":30}',
        '{"user_id":"a","item":"月卡","item_id":[2],"single_pric":30}',
        '{"user_id":"a","order":"811-99999999999999999999999999"}',
        '{"user_id":"a","order":"\\u0000\'; DROP TABLE orders;--","item":"月卡"}',
        '{"user_id":"\\ud800","item":"月卡","single_pric":30}',
        '['.repeat(5000) + ']'.repeat(5000),
        '{"a":'.repeat(3000) + '1' + '}'.repeat(3000),
      ]
      for (const path of ['/api/pay/create-order', '/api/pay/cancel-order', '/api/pay/verification', '/api/pay/callback']) {
        for (const b of bodies) {
          const r = await req(A, 'POST', path, { raw: b, headers: { 'content-type': 'application/json' } })
          assertEnvelope(r)
          assert.ok(r.status < 500, `${path} ${b.slice(0, 80)}: ${show(r)}`)
        }
      }
      // bytes that are not UTF-8, malformed percent-encoding
      const badUtf8 = Uint8Array.from([...Buffer.from('{"user_id":"'), 0xc3, 0x28, 0xff, ...Buffer.from('","item":"月卡","single_pric":30}')])
      for (const path of ['/api/pay/create-order', '/api/pay/callback']) {
        const r = await req(A, 'POST', path, { bytes: badUtf8, headers: { 'content-type': 'application/json' } })
        assertEnvelope(r)
        assert.ok(r.status < 500, show(r))
      }
      for (const raw of ['a=%ZZ&b=%', 'game_order_no=%C3%28&rmb_yuan=%FF', '=&&=x&%00=1']) {
        const r = await req(A, 'POST', '/api/pay/callback', { raw, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
        assertEnvelope(r)
        assert.equal(r.body.result, 'fail', show(r))
        assert.ok(r.status < 500, show(r))
      }
      for (const q of ['?a=%ZZ', '?game_order_no=%C3%28&rmb_yuan=%FF']) {
        const r = await req(A, 'POST', `/api/pay/callback${q}`)
        assertEnvelope(r)
        assert.equal(r.body.result, 'fail', show(r))
      }
      for (const q of ['?id=%ZZ', '?id=%C3%28']) {
        const r = await goods(A, q)
        assertEnvelope(r)
        assert.ok(r.status < 500, show(r))
      }
      // a user_id smuggled in through __proto__ is not a user_id
      const proto = await req(A, 'POST', '/api/pay/create-order', { raw: bodies[0], headers: { 'content-type': 'application/json' } })
      fail(proto, 'INVALID_PARAMS')
      for (const q of ['?id=99999999999999999999999', '?id=1&id=2', '?id[]=1', '?id=%00', '?id=1e3', '?id=0x10', '?id=%E5%95%86']) {
        const r = await goods(A, q)
        assertEnvelope(r)
        assert.ok(r.status < 500, `${q}: ${show(r)}`)
      }
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('§3 goods', () => {
    test('GET /api/pay/goods?id=1 answers the seed example', async () => {
      const data = okData(await goods(A, '?id=1'))
      assert.equal(data.id, 1)
      assert.equal(data.item, '商品属性')
      assertMoney(data.single_pric, 99.99, 'single_pric')
      if ('on_sale' in data) assert.equal(data.on_sale, true)
    })

    test('demo catalog: 月卡 30, 每日礼包 0.1, off-sale 绝版礼包 returned with on_sale false', async () => {
      const g2 = okData(await goods(A, '?id=2'))
      assert.deepEqual({ id: g2.id, item: g2.item, single_pric: g2.single_pric }, { id: 2, item: '月卡', single_pric: 30 })
      assertMoney(g2.single_pric, 30, 'single_pric')
      const g5 = okData(await goods(A, '?id=5'))
      assert.deepEqual({ id: g5.id, item: g5.item, single_pric: g5.single_pric }, { id: 5, item: '每日礼包', single_pric: 0.1 })
      const g6 = okData(await goods(A, '?id=6'))
      assert.equal(g6.id, 6)
      assert.equal(g6.item, '绝版礼包')
      assert.equal(g6.on_sale, false)
      assert.equal(typeof g6.single_pric, 'number')
    })

    test('id missing or not a positive integer: INVALID_PARAMS naming id', async () => {
      for (const q of ['', '?', '?id=', '?id=abc', '?id=1.5', '?id=-1', '?id=0', '?id=%20', '?id=1a', '?ids=1', '?id=商品ID']) {
        fail(await goods(A, q), 'INVALID_PARAMS', 'id')
      }
    })

    test('no such goods: GOODS_NOT_FOUND (404)', async () => {
      fail(await goods(A, '?id=987654'), 'GOODS_NOT_FOUND', ['987654', 'id'])
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('§2 money and §4.1 create-order', () => {
    test('creates an unpaid order with the seed fields plus the added ones', async () => {
      const user = uid('create')
      const t0 = Date.now()
      const r = await post(A, '/api/pay/create-order', { user_id: user, ...MONTH_CARD })
      const d = okData(r)
      assert.equal(d.item, '月卡')
      assert.equal(d.item_id, 2)
      assert.match(d.order, ORDER_RE)
      assertMoney(d.single_pric, 30, 'single_pric')
      assert.equal(d.user_id, user)
      assert.equal(d.amount_num, 1)
      assertMoney(d.rmb_yuan, 30, 'rmb_yuan')
      assert.equal(d.status, 'unpaid')
      assert.match(d.created_at, ISO_UTC)
      assert.match(d.expire_at, ISO_UTC)
      assert.equal(d.reused, false)
      const created = Date.parse(d.created_at)
      assert.ok(created >= t0 - 2000 && created <= Date.now() + 2000, 'created_at is now')
      assert.ok(Math.abs(Date.parse(d.expire_at) - created - 1800_000) <= 1000, 'default TTL 1800 s')
      createdOn811.push(d.order)
    })

    test('item_id as string, as number, absent, or a placeholder that is not a positive integer', async () => {
      for (const itemId of ['2', 2, undefined, '商品ID', '0', '-2', '1.5', 0, -2, 2.5, '']) {
        const user = uid('itemid')
        const body: Record<string, unknown> = { user_id: user, item: '月卡', single_pric: 30 }
        if (itemId !== undefined) body.item_id = itemId
        const d = await create(A, body)
        assert.equal(d.item_id, 2, `item_id ${JSON.stringify(itemId)}`)
        assert.equal(d.item, '月卡')
      }
    })

    test('rule 1: goods by item_id, else by item; GOODS_NOT_FOUND, ITEM_MISMATCH, GOODS_UNAVAILABLE', async () => {
      const user = uid('rule1')
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '不存在的商品', single_pric: 30 }), 'GOODS_NOT_FOUND', '不存在的商品')
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '不存在的商品', item_id: '商品ID', single_pric: 30 }), 'GOODS_NOT_FOUND')
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '月卡', item_id: '987654', single_pric: 30 }), 'GOODS_NOT_FOUND', ['987654', 'item_id'])
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '商品属性', item_id: '2', single_pric: 30 }), 'ITEM_MISMATCH', ['item', '商品属性'])
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '商品属性', item_id: 2, single_pric: 99.99 }), 'ITEM_MISMATCH')
      // off sale, looked up either way; availability is checked before the price (rule 1 before rule 2)
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '绝版礼包', item_id: '6', single_pric: 0.01 }), 'GOODS_UNAVAILABLE')
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '绝版礼包', single_pric: 0.01 }), 'GOODS_UNAVAILABLE')
      const g6 = okData(await goods(A, '?id=6'))
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '绝版礼包', item_id: 6, single_pric: g6.single_pric }), 'GOODS_UNAVAILABLE')
      // item mismatch before price mismatch
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '商品属性', item_id: '2', single_pric: 1 }), 'ITEM_MISMATCH')
    })

    test('rule 2: single_pric must equal the current price to the fen (PRICE_MISMATCH)', async () => {
      const user = uid('price')
      for (const p of [29.99, 30.01, 120.88, 3, 300, 10_000_000]) {
        fail(await post(A, '/api/pay/create-order', { user_id: user, ...MONTH_CARD, single_pric: p }), 'PRICE_MISMATCH', 'single_pric')
      }
      fail(await post(A, '/api/pay/create-order', { user_id: user, ...ATTR, single_pric: 99.98 }), 'PRICE_MISMATCH')
      fail(await post(A, '/api/pay/create-order', { user_id: user, ...DAILY, single_pric: 0.11 }), 'PRICE_MISMATCH')
      fail(await post(A, '/api/pay/create-order', { user_id: user, ...DAILY, single_pric: 0.01 }), 'PRICE_MISMATCH')
      // 1.50 and 1.5 are the same amount: 30.00 written in the JSON text is 30
      const raw = `{"user_id":"${uid('price-raw')}","item":"月卡","item_id":"2","single_pric":30.00}`
      const d = okData(await req(A, 'POST', '/api/pay/create-order', { raw, headers: { 'content-type': 'application/json' } }))
      assertMoney(d.single_pric, 30, 'single_pric')
      createdOn811.push(d.order)
      const raw2 = `{"user_id":"${uid('price-raw')}","item":"每日礼包","single_pric":0.10}`
      const d2 = okData(await req(A, 'POST', '/api/pay/create-order', { raw: raw2, headers: { 'content-type': 'application/json' } }))
      assertMoney(d2.single_pric, 0.1, 'single_pric')
      createdOn811.push(d2.order)
    })

    test('rule 3: order amount = single_pric × amount_num, exact in fen', async () => {
      const cases: Array<[typeof ATTR, number, number]> = [
        [ATTR, 3, 299.97],
        [ATTR, 999, 99890.01],
        [DAILY, 3, 0.3],
        [DAILY, 7, 0.7],
        [DAILY, 999, 99.9],
        [MONTH_CARD, 2, 60],
      ]
      for (const [g, n, total] of cases) {
        const d = await create(A, { user_id: uid('amount'), ...g, amount_num: n })
        assert.equal(d.amount_num, n)
        assertMoney(d.rmb_yuan, total, `rmb_yuan of ${g.single_pric} × ${n}`)
        assertMoney(d.single_pric, g.single_pric, 'single_pric')
      }
    })

    test('field validation: INVALID_PARAMS naming the field, no coercion', async () => {
      const base = { user_id: 'v-user', ...MONTH_CARD }
      const cases: Array<[string, Record<string, unknown>]> = [
        ['user_id', { user_id: undefined }],
        ['user_id', { user_id: '' }],
        ['user_id', { user_id: 888888 }],
        ['user_id', { user_id: null }],
        ['user_id', { user_id: true }],
        ['user_id', { user_id: 'u'.repeat(65) }],
        ['user_id', { user_id: '😀'.repeat(65) }],
        ['item', { item: undefined, item_id: undefined }],
        ['item', { item: '' }],
        ['item', { item: 2 }],
        ['item', { item: 'x'.repeat(256) }],
        ['single_pric', { single_pric: undefined }],
        ['single_pric', { single_pric: '30' }],
        ['single_pric', { single_pric: '30.00' }],
        ['single_pric', { single_pric: 0 }],
        ['single_pric', { single_pric: -30 }],
        ['single_pric', { single_pric: 30.001 }],
        ['single_pric', { single_pric: 1.005 }],
        ['single_pric', { single_pric: 0.001 }],
        ['single_pric', { single_pric: 10_000_000.01 }],
        ['single_pric', { single_pric: 1e9 }],
        ['single_pric', { single_pric: null }],
        ['single_pric', { single_pric: true }],
        ['amount_num', { amount_num: 0 }],
        ['amount_num', { amount_num: 1000 }],
        ['amount_num', { amount_num: -1 }],
        ['amount_num', { amount_num: 1.5 }],
        ['amount_num', { amount_num: '2' }],
        ['amount_num', { amount_num: true }],
        ['amount_num', { single_pric: 10_000_000, amount_num: 2 }],
        ['amount_num', { single_pric: 5_000_000.01, amount_num: 2 }],
        ['server_flag', { server_flag: 1 }],
        ['server_flag', { server_flag: 's'.repeat(256) }],
        ['description', { description: 5 }],
        ['description', { description: 'd'.repeat(256) }],
        ['game_role_id', { game_role_id: 12345 }],
        ['game_role_name', { game_role_name: 'n'.repeat(256) }],
        ['game_role_grade', { game_role_grade: 10 }],
      ]
      for (const [field, patch] of cases) {
        const body: Record<string, unknown> = { ...base, ...patch }
        for (const k of Object.keys(body)) if (body[k] === undefined) delete body[k]
        const r = await post(A, '/api/pay/create-order', body)
        fail(r, 'INVALID_PARAMS', field)
      }
    })

    test('limits are inclusive and counted in code points; extra fields are ignored', async () => {
      const d1 = await create(A, { user_id: '😀'.repeat(64), ...MONTH_CARD, server_flag: '😀'.repeat(255) })
      assert.equal(d1.user_id, '😀'.repeat(64))
      fail(await post(A, '/api/pay/create-order', { user_id: 'u', item: '😀'.repeat(255), single_pric: 30 }), 'GOODS_NOT_FOUND')
      fail(await post(A, '/api/pay/create-order', { user_id: 'u', item: '😀'.repeat(256), single_pric: 30 }), 'INVALID_PARAMS', 'item')
      const u64 = `${uid('l')}`.padEnd(64, 'x')
      const d2 = await create(A, {
        user_id: u64,
        ...MONTH_CARD,
        amount_num: 999,
        server_flag: 's'.repeat(255),
        description: 'd'.repeat(255),
        game_role_id: 'r1',
        game_role_name: '角色'.repeat(100),
        game_role_grade: '99',
        unknown_extra: { nested: true },
        another: 5,
      })
      assert.equal(d2.user_id, u64)
      assert.equal(d2.amount_num, 999)
      assertMoney(d2.rmb_yuan, 29970, 'rmb_yuan')
      assert.ok(!('unknown_extra' in d2))
    })

    test('rule 4: the same unpaid, unexpired order is reused; anything different creates a new one', async () => {
      const user = uid('reuse')
      const first = await create(A, { user_id: user, ...MONTH_CARD })
      assert.equal(first.reused, false)
      const again = await create(A, { user_id: user, ...MONTH_CARD })
      assert.equal(again.reused, true)
      assert.equal(again.order, first.order)
      assert.equal(again.created_at, first.created_at)
      assert.equal(again.expire_at, first.expire_at)
      assert.equal(again.status, 'unpaid')
      assertMoney(again.rmb_yuan, 30, 'rmb_yuan')
      // absent server_flag counts as "", goods found by name are the same goods
      const flagEmpty = await create(A, { user_id: user, ...MONTH_CARD, server_flag: '' })
      assert.equal(flagEmpty.order, first.order)
      const byName = await create(A, { user_id: user, item: '月卡', single_pric: 30 })
      assert.equal(byName.order, first.order)
      assert.equal(byName.reused, true)
      const withQty1 = await create(A, { user_id: user, ...MONTH_CARD, amount_num: 1, description: 'other text' })
      assert.equal(withQty1.order, first.order)
      // different quantity, server_flag, user, goods
      const qty = await create(A, { user_id: user, ...MONTH_CARD, amount_num: 2 })
      assert.equal(qty.reused, false)
      assert.notEqual(qty.order, first.order)
      const flag = await create(A, { user_id: user, ...MONTH_CARD, server_flag: 's2' })
      assert.equal(flag.reused, false)
      assert.notEqual(flag.order, first.order)
      const flagAgain = await create(A, { user_id: user, ...MONTH_CARD, server_flag: 's2' })
      assert.equal(flagAgain.order, flag.order)
      const other = await create(A, { user_id: uid('reuse-other'), ...MONTH_CARD })
      assert.notEqual(other.order, first.order)
      const otherGoods = await create(A, { user_id: user, ...DAILY })
      assert.notEqual(otherGoods.order, first.order)
      // a cancelled order is not reused
      okData(await cancel(A, { user_id: user, order: first.order }))
      const afterCancel = await create(A, { user_id: user, ...MONTH_CARD })
      assert.equal(afterCancel.reused, false)
      assert.notEqual(afterCancel.order, first.order)
      // a paid order is not reused
      okNoData((await pay(A, afterCancel.order, 30)).res)
      const afterPaid = await create(A, { user_id: user, ...MONTH_CARD })
      assert.equal(afterPaid.reused, false)
      assert.notEqual(afterPaid.order, afterCancel.order)
    })

    test('rule 0: Idempotency-Key returns the first successful data verbatim, per user, failures store no key', async () => {
      const user = uid('idem')
      const key = `key-${user}`
      const first = okData(await post(A, '/api/pay/create-order', { user_id: user, ...MONTH_CARD }, { 'idempotency-key': key }))
      assert.equal(first.reused, false)
      createdOn811.push(first.order)
      // a different body with the same key and user: the first data, verbatim
      const second = okData(await post(A, '/api/pay/create-order', { user_id: user, ...ATTR, amount_num: 3 }, { 'idempotency-key': key }))
      assert.deepEqual(second, first)
      // even after the order changed
      okData(await cancel(A, { user_id: user, order: first.order }))
      const third = okData(await post(A, '/api/pay/create-order', { user_id: user, ...MONTH_CARD }, { 'idempotency-key': key }))
      assert.deepEqual(third, first)
      // without the key, the cancelled order is not reused
      const fresh = await create(A, { user_id: user, ...MONTH_CARD })
      assert.notEqual(fresh.order, first.order)
      // field validation runs before rule 0
      fail(await post(A, '/api/pay/create-order', { user_id: user, item: '月卡' }, { 'idempotency-key': key }), 'INVALID_PARAMS', 'single_pric')
      // another user with the same key gets its own order
      const otherUser = uid('idem-other')
      const other = okData(await post(A, '/api/pay/create-order', { user_id: otherUser, ...MONTH_CARD }, { 'idempotency-key': key }))
      assert.notEqual(other.order, first.order)
      assert.equal(other.user_id, otherUser)
      // a failed request stores no key
      const key2 = `key2-${user}`
      fail(await post(A, '/api/pay/create-order', { user_id: user, ...MONTH_CARD, single_pric: 31 }, { 'idempotency-key': key2 }), 'PRICE_MISMATCH')
      const afterFailure = okData(await post(A, '/api/pay/create-order', { user_id: user, ...DAILY }, { 'idempotency-key': key2 }))
      assert.equal(afterFailure.item, '每日礼包')
      const replay = okData(await post(A, '/api/pay/create-order', { user_id: user, ...MONTH_CARD }, { 'idempotency-key': key2 }))
      assert.deepEqual(replay, afterFailure)
      // 128 characters is accepted
      const long = okData(await post(A, '/api/pay/create-order', { user_id: uid('idem-long'), ...MONTH_CARD }, { 'idempotency-key': 'k'.repeat(128) }))
      assert.match(long.order, ORDER_RE)
    })

    test('Idempotency-Key longer than 128 characters is INVALID_PARAMS', async () => {
      fail(await post(A, '/api/pay/create-order', { user_id: uid('idem-129'), ...MONTH_CARD }, { 'idempotency-key': 'k'.repeat(129) }),
        'INVALID_PARAMS', ['Idempotency-Key', 'idempotency-key', 'Idempotency', 'idempotency'])
    })

    test('concurrent identical create-order requests get one open order (rule 4)', async () => {
      const user = uid('reuse-race')
      const all = await Promise.all(Array.from({ length: 10 }, async () => await post(A, '/api/pay/create-order', { user_id: user, ...MONTH_CARD })))
      const orders = all.map((r) => okData(r))
      assert.equal(new Set(orders.map((d) => d.order)).size, 1, `one order: ${orders.map((d) => d.order).join(', ')}`)
      assert.equal(orders.filter((d) => d.reused === false).length, 1)
      createdOn811.push(orders[0].order)
    })

    test('concurrent requests with the same Idempotency-Key get the same data', async () => {
      const user = uid('idem-race')
      const all = await Promise.all(Array.from({ length: 8 }, async (_, i) =>
        await post(A, '/api/pay/create-order', { user_id: user, ...MONTH_CARD, amount_num: i + 1 }, { 'idempotency-key': `race-${user}` })))
      const datas = all.map((r) => {
        assertEnvelope(r)
        return r.body.data
      })
      const ok0 = datas.filter((d) => d !== undefined)
      assert.ok(ok0.length >= 1)
      for (const d of ok0) assert.deepEqual(d, ok0[0], 'every success carries the first data')
      const later = okData(await post(A, '/api/pay/create-order', { user_id: user, ...MONTH_CARD }, { 'idempotency-key': `race-${user}` }))
      assert.deepEqual(later, ok0[0])
    })

    test('a price written with trailing zeros is the same amount; extra fields are ignored on every route', async () => {
      const user = uid('zeros')
      const raw = `{"user_id":"${user}","item":"商品属性","item_id":1,"single_pric":99.990,"amount_num":2}`
      const d = okData(await req(A, 'POST', '/api/pay/create-order', { raw, headers: { 'content-type': 'application/json' } }))
      assertMoney(d.rmb_yuan, 199.98, 'rmb_yuan')
      createdOn811.push(d.order)
      fail(await verify(A, { user_id: user, item: '商品属性', order: d.order, extra: 1, nested: { a: [1] } }), 'ORDER_NOT_PAID')
      const c = okData(await cancel(A, { user_id: user, order: d.order, reason: 'changed my mind', n: 5 }))
      assert.equal(c.status, 'cancelled')
    })

    test('order numbers match ^811-\\d+$, are unique, increasing, and look like snowflakes', async () => {
      const seq: string[] = []
      for (let i = 0; i < 25; i++) seq.push((await create(A, { user_id: uid('seq'), ...MONTH_CARD })).order)
      for (let i = 1; i < seq.length; i++) {
        assert.ok(snowflake(seq[i]).id > snowflake(seq[i - 1]).id, `${seq[i]} after ${seq[i - 1]}`)
      }
      const conc = await Promise.all(Array.from({ length: 30 }, async () => (await create(A, { user_id: uid('conc'), ...DAILY })).order))
      assert.equal(new Set(conc).size, conc.length, 'concurrently created orders are unique')
      for (const o of [...seq, ...conc]) {
        assert.match(o, ORDER_RE)
        const id = snowflake(o).id
        assert.ok(id > 0n && id < (1n << 63n), `${o} is a positive 64-bit id`)
        assert.equal(o.slice(4), id.toString(), 'plain decimal, no leading zeros')
      }
      // the top bits are milliseconds: 300 ms later the timestamp part moved by about 300
      const a = await create(A, { user_id: uid('ms'), ...MONTH_CARD })
      await sleep(300)
      const b = await create(A, { user_id: uid('ms'), ...MONTH_CARD })
      const delta = Number(snowflake(b.order).ms - snowflake(a.order).ms)
      assert.ok(delta >= 250 && delta <= 1500, `41-bit millisecond part advanced by ${delta}`)
      assert.equal(snowflake(a.order).worker, snowflake(b.order).worker, 'one instance keeps its worker id')
    })

    test('body problems: bad JSON, non-object JSON, wrong content types, oversized bodies', async () => {
      const json = { 'content-type': 'application/json' }
      for (const raw of ['not json', '{"user_id":', '[]', 'null', '"str"', '42', '{"a":1}}', '']) {
        const r = await req(A, 'POST', '/api/pay/create-order', { raw, headers: json })
        fail(r, 'INVALID_PARAMS')
      }
      const body = JSON.stringify({ user_id: uid('ct'), ...MONTH_CARD })
      fail(await req(A, 'POST', '/api/pay/create-order', { raw: body, headers: { 'content-type': 'text/plain' } }), 'UNSUPPORTED_MEDIA_TYPE')
      fail(await req(A, 'POST', '/api/pay/create-order', { raw: body, headers: { 'content-type': 'application/xml' } }), 'UNSUPPORTED_MEDIA_TYPE')
      fail(await req(A, 'POST', '/api/pay/create-order', {
        raw: 'user_id=u&item=%E6%9C%88%E5%8D%A1&single_pric=30',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      }), 'UNSUPPORTED_MEDIA_TYPE')
      fail(await req(A, 'POST', '/api/pay/verification', { raw: body, headers: { 'content-type': 'multipart/form-data; boundary=x' } }), 'UNSUPPORTED_MEDIA_TYPE')
      fail(await req(A, 'POST', '/api/pay/cancel-order', { raw: body, headers: { 'content-type': 'text/plain' } }), 'UNSUPPORTED_MEDIA_TYPE')
      const d = okData(await req(A, 'POST', '/api/pay/create-order', { raw: body, headers: { 'content-type': 'application/json; charset=utf-8' } }))
      createdOn811.push(d.order)
      // no body at all: nothing was sent, so the required fields are missing
      fail(await req(A, 'POST', '/api/pay/create-order'), 'INVALID_PARAMS')
      // over 64 KiB
      const big = JSON.stringify({ user_id: uid('big'), ...MONTH_CARD, description: 'x'.repeat(70 * 1024) })
      fail(await req(A, 'POST', '/api/pay/create-order', { raw: big, headers: json }), 'PAYLOAD_TOO_LARGE')
      fail(await req(A, 'POST', '/api/pay/verification', { raw: big, headers: json }), 'PAYLOAD_TOO_LARGE')
      const bigForm = `game_order_no=811-1&pad=${'x'.repeat(70 * 1024)}`
      fail(await req(A, 'POST', '/api/pay/callback', { raw: bigForm, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'PAYLOAD_TOO_LARGE')
      // a body that is not JSON but within the limit still names the problem
      const bad = await req(A, 'POST', '/api/pay/create-order', { raw: '{"user_id": "a", }', headers: json })
      fail(bad, 'INVALID_PARAMS')
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('§4.2 cancel-order', () => {
    test('validation: user_id and order required strings', async () => {
      fail(await cancel(A, { order: '811-1' }), 'INVALID_PARAMS', 'user_id')
      fail(await cancel(A, { user_id: 'u' }), 'INVALID_PARAMS', 'order')
      fail(await cancel(A, { user_id: 'u', order: '' }), 'INVALID_PARAMS', 'order')
      fail(await cancel(A, { user_id: 123, order: '811-1' }), 'INVALID_PARAMS', 'user_id')
      fail(await cancel(A, { user_id: 'u', order: 8111 }), 'INVALID_PARAMS', 'order')
    })

    test('unpaid → cancelled, idempotent; unknown or another user\'s order → ORDER_NOT_FOUND and nothing changes', async () => {
      const user = uid('cancel')
      const o = await create(A, { user_id: user, ...MONTH_CARD })
      fail(await cancel(A, { user_id: uid('intruder'), order: o.order }), 'ORDER_NOT_FOUND', [o.order, 'order'])
      fail(await cancel(A, { user_id: user, order: '811-1' }), 'ORDER_NOT_FOUND', ['811-1', 'order'])
      fail(await cancel(A, { user_id: user, order: 'garbage' }), 'ORDER_NOT_FOUND')
      // the intruder changed nothing: the order is still open and reused
      const still = await create(A, { user_id: user, ...MONTH_CARD })
      assert.equal(still.order, o.order)
      assert.equal(still.reused, true)
      const c1 = okData(await cancel(A, { user_id: user, order: o.order }))
      assert.deepEqual({ order: c1.order, status: c1.status }, { order: o.order, status: 'cancelled' })
      const c2 = okData(await cancel(A, { user_id: user, order: o.order }))
      assert.deepEqual({ order: c2.order, status: c2.status }, { order: o.order, status: 'cancelled' })
      fail(await verify(A, { user_id: user, item: '月卡', order: o.order }), 'ORDER_NOT_PAID')
    })

    test('another user\'s order and a non-existent order answer alike', async () => {
      const owner = uid('probe-owner')
      const intruder = uid('probe-intruder')
      const o = await create(A, { user_id: owner, ...MONTH_CARD })
      const id = snowflake(o.order).id
      const ghost = `811-${(id + 7n).toString()}`
      const mask = (r: Res): string => JSON.stringify({ s: r.status, st: r.body.state, m: r.body.message.replaceAll(o.order, 'X').replaceAll(ghost, 'X') })
      for (const lang of ['zh-CN', 'en']) {
        const h = { 'accept-language': lang }
        const foreign = await post(A, '/api/pay/cancel-order', { user_id: intruder, order: o.order }, h)
        const none = await post(A, '/api/pay/cancel-order', { user_id: intruder, order: ghost }, h)
        fail(foreign, 'ORDER_NOT_FOUND')
        fail(none, 'ORDER_NOT_FOUND')
        assert.equal(mask(foreign), mask(none))
        const vf = await post(A, '/api/pay/verification', { user_id: intruder, item: '月卡', order: o.order }, h)
        const vn = await post(A, '/api/pay/verification', { user_id: intruder, item: '月卡', order: ghost }, h)
        fail(vf, 'ORDER_NOT_FOUND')
        fail(vn, 'ORDER_NOT_FOUND')
        assert.equal(mask(vf), mask(vn))
      }
    })

    test('paid → ORDER_ALREADY_PAID and nothing changes', async () => {
      const user = uid('cancel-paid')
      const o = await create(A, { user_id: user, ...MONTH_CARD })
      okNoData((await pay(A, o.order, 30)).res)
      fail(await cancel(A, { user_id: user, order: o.order }), 'ORDER_ALREADY_PAID', [o.order, 'order'])
      fail(await cancel(A, { user_id: uid('intruder'), order: o.order }), 'ORDER_NOT_FOUND')
      const v = okData(await verify(A, { user_id: user, item: '月卡', order: o.order }))
      assert.equal(v.status, 'paid')
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('§4.3 verification', () => {
    test('validation', async () => {
      fail(await verify(A, { item: '月卡' }), 'INVALID_PARAMS', 'user_id')
      fail(await verify(A, { user_id: 'u' }), 'INVALID_PARAMS', 'item')
      fail(await verify(A, { user_id: 'u', item: '' }), 'INVALID_PARAMS', 'item')
      fail(await verify(A, { user_id: 7, item: '月卡' }), 'INVALID_PARAMS', 'user_id')
      fail(await verify(A, { user_id: 'u', item: 2 }), 'INVALID_PARAMS', 'item')
      fail(await verify(A, { user_id: 'u', item: '月卡', order: 811 }), 'INVALID_PARAMS', 'order')
    })

    test('by order: unpaid/cancelled → ORDER_NOT_PAID, foreign/unknown → ORDER_NOT_FOUND, wrong item → ITEM_MISMATCH', async () => {
      const user = uid('verify')
      const o = await create(A, { user_id: user, ...MONTH_CARD })
      fail(await verify(A, { user_id: user, item: '月卡', order: o.order }), 'ORDER_NOT_PAID', [o.order, 'order'])
      fail(await verify(A, { user_id: user, item: '月卡', item_id: '2', order: o.order }), 'ORDER_NOT_PAID')
      fail(await verify(A, { user_id: uid('other'), item: '月卡', order: o.order }), 'ORDER_NOT_FOUND')
      fail(await verify(A, { user_id: user, item: '月卡', order: '811-1' }), 'ORDER_NOT_FOUND')
      fail(await verify(A, { user_id: user, item: '商品属性', order: o.order }), 'ITEM_MISMATCH')
      fail(await verify(A, { user_id: user, item: '月卡', item_id: '1', order: o.order }), 'ITEM_MISMATCH')
      fail(await verify(A, { user_id: user, item: '月卡', item_id: 1, order: o.order }), 'ITEM_MISMATCH')
      fail(await verify(A, { user_id: user, item: '月卡' }), 'ORDER_NOT_PAID')
      okData(await cancel(A, { user_id: user, order: o.order }))
      fail(await verify(A, { user_id: user, item: '月卡', order: o.order }), 'ORDER_NOT_PAID')
    })

    test('paid: full data, purchase_time in Asia/Shanghai, verify_count counts, first_verified_at stays', async () => {
      const user = uid('verify-paid')
      const o = await create(A, { user_id: user, ...ATTR, amount_num: 3 })
      const t0 = Date.now()
      const { res, gyyx } = await pay(A, o.order, 299.97)
      okNoData(res)
      const t1 = Date.now()
      const v1 = okData(await verify(A, { user_id: user, item: '商品属性', order: o.order }))
      assert.equal(v1.order, o.order)
      assert.equal(v1.user_id, user)
      assert.equal(v1.item, '商品属性')
      assert.equal(v1.item_id, 1)
      assertMoney(v1.single_pric, 99.99, 'single_pric')
      assert.equal(v1.amount_num, 3)
      assertMoney(v1.rmb_yuan, 299.97, 'rmb_yuan')
      assert.equal(v1.status, 'paid')
      assert.equal(v1.gyyx_order_no, gyyx)
      assert.match(v1.paid_at, ISO_UTC)
      const paidAt = Date.parse(v1.paid_at)
      assert.ok(paidAt >= t0 - 1500 && paidAt <= t1 + 1500, `paid_at ${v1.paid_at} is the callback time`)
      assert.match(v1.purchase_time, /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/)
      assert.equal(v1.purchase_time, shanghai(v1.paid_at), 'purchase_time is paid_at in Asia/Shanghai')
      assert.equal(v1.verify_count, 1)
      assert.match(v1.first_verified_at, ISO_UTC)
      assert.ok(Date.parse(v1.first_verified_at) >= paidAt - 1000)
      const v2 = okData(await verify(A, { user_id: user, item: '商品属性', item_id: '1', order: o.order }))
      assert.equal(v2.verify_count, 2)
      assert.equal(v2.first_verified_at, v1.first_verified_at)
      assert.equal(v2.paid_at, v1.paid_at)
      const v3 = okData(await verify(A, { user_id: user, item: '商品属性', item_id: 1, order: o.order }))
      assert.equal(v3.verify_count, 3)
      const v4 = okData(await verify(A, { user_id: user, item: '商品属性', item_id: '商品ID', order: o.order }))
      assert.equal(v4.verify_count, 4)
      // failures do not count
      fail(await verify(A, { user_id: user, item: '月卡', order: o.order }), 'ITEM_MISMATCH')
      fail(await verify(A, { user_id: uid('x'), item: '商品属性', order: o.order }), 'ORDER_NOT_FOUND')
      // without order: the same order, counted on it
      const v5 = okData(await verify(A, { user_id: user, item: '商品属性' }))
      assert.equal(v5.order, o.order)
      assert.equal(v5.verify_count, 5)
      const v6 = okData(await verify(A, { user_id: user, item: '商品属性', item_id: '1' }))
      assert.equal(v6.verify_count, 6)
      // concurrent verifications each count once
      const many = await Promise.all(Array.from({ length: 8 }, async () => okData(await verify(A, { user_id: user, item: '商品属性', order: o.order }))))
      assert.deepEqual(many.map((m) => m.verify_count).sort((a, b) => a - b), [7, 8, 9, 10, 11, 12, 13, 14])
    })

    test('without order: goods as in rule 1, then the most recent paid_at', async () => {
      const user = uid('verify-latest')
      fail(await verify(A, { user_id: user, item: '月卡' }), 'ORDER_NOT_PAID')
      fail(await verify(A, { user_id: user, item: '不存在的商品' }), 'GOODS_NOT_FOUND')
      fail(await verify(A, { user_id: user, item: '月卡', item_id: '987654' }), 'GOODS_NOT_FOUND')
      fail(await verify(A, { user_id: user, item: '月卡', item_id: '1' }), 'ITEM_MISMATCH')
      const o1 = await create(A, { user_id: user, ...MONTH_CARD })
      const o2 = await create(A, { user_id: user, ...MONTH_CARD, amount_num: 2 })
      const o3 = await create(A, { user_id: user, ...MONTH_CARD, amount_num: 3 })
      okNoData((await pay(A, o2.order, 60)).res)
      await sleep(1100)
      okNoData((await pay(A, o1.order, 30)).res)
      const latest = okData(await verify(A, { user_id: user, item: '月卡' }))
      assert.equal(latest.order, o1.order, 'latest paid_at wins, not latest created')
      assert.equal(latest.amount_num, 1)
      const byId = okData(await verify(A, { user_id: user, item: '月卡', item_id: 2 }))
      assert.equal(byId.order, o1.order)
      const byPlaceholder = okData(await verify(A, { user_id: user, item: '月卡', item_id: '商品ID' }))
      assert.equal(byPlaceholder.order, o1.order)
      await sleep(1100)
      okNoData((await pay(A, o3.order, 90)).res)
      const newest = okData(await verify(A, { user_id: user, item: '月卡' }))
      assert.equal(newest.order, o3.order)
      // other goods / other users see nothing
      fail(await verify(A, { user_id: user, item: '商品属性' }), 'ORDER_NOT_PAID')
      fail(await verify(A, { user_id: uid('nobody'), item: '月卡' }), 'ORDER_NOT_PAID')
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('§5 callback', () => {
    const VECTOR = {
      game_order_no: '811-107552442731859968',
      gyyx_order_no: '12345567',
      result: 'success',
      result_message: '',
      rmb_yuan: 128,
      server_flag: 's1',
      common_param: 'cp',
      timestamp: '1732600000',
    }

    test('§5.1 test vector (local signer)', () => {
      const a = stringA(VECTOR)
      assert.equal(a, 'common_param=cp&game_order_no=811-107552442731859968&gyyx_order_no=12345567&result=success&rmb_yuan=128&server_flag=s1&timestamp=1732600000')
      assert.equal(signWith('MD5', a), '74fceaed45e99b9fbc26bcfdd6f2ad32')
      assert.equal(signWith('HMAC-SHA256', a), '0797d97e465915a7f99bf8c64636dd629a1bd23832cd55745dd2aeba36267f39')
    })

    test('the test vector passes the signature check on the service (then ORDER_NOT_FOUND), a wrong one does not', async () => {
      const send = async (sign: string | null, signType: string | null, key: 'signType' | 'sign_type' = 'signType'): Promise<Res> => {
        const body: Record<string, unknown> = { ...VECTOR }
        if (sign !== null) body.sign = sign
        if (signType !== null) body[key] = signType
        return await post(A, '/api/pay/callback', body)
      }
      fail(await send('74fceaed45e99b9fbc26bcfdd6f2ad32', 'MD5'), 'ORDER_NOT_FOUND', ['811-107552442731859968', 'game_order_no'])
      fail(await send('74FCEAED45E99B9FBC26BCFDD6F2AD32', 'MD5'), 'ORDER_NOT_FOUND')
      fail(await send('74fceaed45e99b9fbc26bcfdd6f2ad32', 'md5'), 'ORDER_NOT_FOUND')
      fail(await send('74fceaed45e99b9fbc26bcfdd6f2ad32', 'MD5', 'sign_type'), 'ORDER_NOT_FOUND')
      fail(await send('0797d97e465915a7f99bf8c64636dd629a1bd23832cd55745dd2aeba36267f39', 'HMAC-SHA256'), 'ORDER_NOT_FOUND')
      fail(await send('0797D97E465915A7F99BF8C64636DD629A1BD23832CD55745DD2AEBA36267F39', 'hmac-sha256'), 'ORDER_NOT_FOUND')
      fail(await send('74fceaed45e99b9fbc26bcfdd6f2ad33', 'MD5'), 'SIGN_INVALID')
      fail(await send('0797d97e465915a7f99bf8c64636dd629a1bd23832cd55745dd2aeba36267f39', 'MD5'), 'SIGN_INVALID')
      fail(await send('74fceaed45e99b9fbc26bcfdd6f2ad32', 'HMAC-SHA256'), 'SIGN_INVALID')
      fail(await send('74fceaed45e99b9fbc26bcfdd6f2ad3', 'MD5'), 'SIGN_INVALID')
      fail(await send('not-hex-at-all', 'MD5'), 'SIGN_INVALID')
      fail(await send('', 'MD5'), 'SIGN_INVALID')
      fail(await send(null, 'MD5'), 'SIGN_INVALID')
      fail(await send('74fceaed45e99b9fbc26bcfdd6f2ad32', 'SHA1'), 'SIGN_TYPE_UNSUPPORTED', ['signType', 'SHA1'])
      fail(await send('74fceaed45e99b9fbc26bcfdd6f2ad32', null), 'INVALID_PARAMS', 'signType')
      fail(await send('74fceaed45e99b9fbc26bcfdd6f2ad32', ''), 'INVALID_PARAMS', 'signType')
    })

    test('JSON body: a signed success callback pays the order; the answer has no data', async () => {
      const user = uid('cb-json')
      const o = await create(A, { user_id: user, ...MONTH_CARD })
      const { res, gyyx } = await pay(A, o.order, 30)
      okNoData(res)
      const v = okData(await verify(A, { user_id: user, item: '月卡', order: o.order }))
      assert.equal(v.gyyx_order_no, gyyx)
      assert.equal(v.status, 'paid')
    })

    test('JSON number amounts are signed as String(n); string amounts as sent', async () => {
      // 30.00 in the JSON text is the number 30, signed as "30"
      const o1 = await create(A, { user_id: uid('cb-num'), ...MONTH_CARD })
      const p1 = cbParams(o1.order, 30)
      const raw1 = JSON.stringify({ ...p1, signType: 'MD5', sign: signWith('MD5', stringA(p1)) }).replace('"rmb_yuan":30,', '"rmb_yuan":30.00,')
      assert.ok(raw1.includes('"rmb_yuan":30.00,'))
      okNoData(await req(A, 'POST', '/api/pay/callback', { raw: raw1, headers: { 'content-type': 'application/json' } }))
      // a string amount "30.00" is signed as "30.00"
      const o2 = await create(A, { user_id: uid('cb-str'), ...MONTH_CARD })
      okNoData((await pay(A, o2.order, '30.00')).res)
      // "1.500"-style strings with three decimals that are a valid amount
      const o3 = await create(A, { user_id: uid('cb-str3'), ...MONTH_CARD })
      okNoData((await pay(A, o3.order, '30.000')).res)
      const o4 = await create(A, { user_id: uid('cb-fen'), ...ATTR, amount_num: 3 })
      okNoData((await pay(A, o4.order, '299.970')).res)
      const o5 = await create(A, { user_id: uid('cb-fen2'), ...DAILY, amount_num: 3 })
      okNoData((await pay(A, o5.order, 0.3)).res)
    })

    test('form body and query string are accepted; signed over the values as received', async () => {
      const uf = uid('cb-form')
      const of = await create(A, { user_id: uf, ...MONTH_CARD })
      const f = await pay(A, of.order, '30.00', {}, { as: 'form' })
      okNoData(f.res)
      assert.equal(okData(await verify(A, { user_id: uf, item: '月卡', order: of.order })).gyyx_order_no, f.gyyx)

      const uq = uid('cb-query')
      const oq = await create(A, { user_id: uq, ...MONTH_CARD })
      const q = await pay(A, oq.order, '30.00', { result_message: '支付成功 ok&=+' }, { as: 'query' })
      okNoData(q.res)
      assert.equal(okData(await verify(A, { user_id: uq, item: '月卡', order: oq.order })).gyyx_order_no, q.gyyx)

      // HMAC and sign_type in form
      const of2 = await create(A, { user_id: uid('cb-form2'), ...MONTH_CARD })
      okNoData((await pay(A, of2.order, '30', {}, { as: 'form', signType: 'HMAC-SHA256', typeKey: 'sign_type' })).res)
    })

    test('query string with an empty body that declares JSON is still read from the query', async () => {
      const u = uid('cb-query-ct')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      const p = cbParams(o.order, '30.00')
      const qs = encodeForm({ ...p, signType: 'MD5', sign: signWith('MD5', stringA(p)) })
      okNoData(await req(A, 'POST', `/api/pay/callback?${qs}`, { raw: '', headers: { 'content-type': 'application/json' } }))
      okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
    })

    test('an empty form body (with any form content type) also falls back to the query string', async () => {
      const u = uid('cb-query-form')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      const p = cbParams(o.order, '30')
      const qs = encodeForm({ ...p, signType: 'HMAC-SHA256', sign: signWith('HMAC-SHA256', stringA(p)) })
      okNoData(await req(A, 'POST', `/api/pay/callback?${qs}`, { raw: '', headers: { 'content-type': 'application/x-www-form-urlencoded' } }))
      okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
      const u2 = uid('cb-form-charset')
      const o2 = await create(A, { user_id: u2, ...MONTH_CARD })
      const p2 = cbParams(o2.order, '30.0', { result_message: '成功' })
      okNoData(await req(A, 'POST', '/api/pay/callback', {
        raw: encodeForm({ ...p2, signType: 'MD5', sign: signWith('MD5', stringA(p2)) }),
        headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
      }))
      okData(await verify(A, { user_id: u2, item: '月卡', order: o2.order }))
    })

    test('a non-empty body is the only source: the query string is then ignored', async () => {
      const u = uid('cb-src')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      // body valid, query junk
      okNoData((await pay(A, o.order, 30, {}, { query: 'game_order_no=811-1&rmb_yuan=1&sign=x' })).res)
      okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
      // body "{}", query valid: the body (missing everything) answers
      const o2 = await create(A, { user_id: uid('cb-src2'), ...MONTH_CARD })
      const p = cbParams(o2.order, 30)
      const qs = encodeForm({ ...p, signType: 'MD5', sign: signWith('MD5', stringA(p)) })
      fail(await req(A, 'POST', `/api/pay/callback?${qs}`, { json: {} }), 'INVALID_PARAMS')
      fail(await req(A, 'POST', `/api/pay/callback?${qs}`, { raw: 'x=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'INVALID_PARAMS')
    })

    test('repeated parameters in form or query are INVALID_PARAMS; in JSON the last one counts', async () => {
      const o = await create(A, { user_id: uid('cb-rep'), ...MONTH_CARD })
      const p = cbParams(o.order, '30')
      const signed = encodeForm({ ...p, signType: 'MD5', sign: signWith('MD5', stringA(p)) })
      const form = `${signed}&rmb_yuan=31`
      fail(await req(A, 'POST', '/api/pay/callback', { raw: form, headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 'INVALID_PARAMS', 'rmb_yuan')
      fail(await req(A, 'POST', `/api/pay/callback?${signed}&gyyx_order_no=other`), 'INVALID_PARAMS', 'gyyx_order_no')
      fail(await req(A, 'POST', `/api/pay/callback?${signed}&result=success`), 'INVALID_PARAMS', 'result')
      fail(await verify(A, { user_id: 'nobody', item: '月卡', order: o.order }), 'ORDER_NOT_FOUND')

      const user = uid('cb-dupjson')
      const o2 = await create(A, { user_id: user, ...MONTH_CARD })
      const p2 = cbParams(o2.order, 30)
      const sign2 = signWith('MD5', stringA(p2))
      const raw = JSON.stringify({ ...p2, signType: 'MD5', sign: sign2 }).replace('{', '{"gyyx_order_no":"FIRST-VALUE","rmb_yuan":1,')
      okNoData(await req(A, 'POST', '/api/pay/callback', { raw, headers: { 'content-type': 'application/json' } }))
      assert.equal(okData(await verify(A, { user_id: user, item: '月卡', order: o2.order })).gyyx_order_no, p2.gyyx_order_no)
    })

    test('null is empty, booleans are "true"/"false", objects and arrays are INVALID_PARAMS', async () => {
      const o = await create(A, { user_id: uid('cb-types'), ...MONTH_CARD })
      okNoData((await pay(A, o.order, 30, { result_message: null, server_flag: null, common_param: null, flag: true, other_flag: false })).res)
      const o2 = await create(A, { user_id: uid('cb-types2'), ...MONTH_CARD })
      fail((await pay(A, o2.order, 30, { common_param: { a: 1 } })).res, 'INVALID_PARAMS', 'common_param')
      fail((await pay(A, o2.order, 30, { extra: [1, 2] })).res, 'INVALID_PARAMS', 'extra')
      fail((await pay(A, o2.order, [30])).res, 'INVALID_PARAMS', 'rmb_yuan')
      fail((await pay(A, o2.order, 30, { gyyx_order_no: null })).res, 'INVALID_PARAMS', 'gyyx_order_no')
      fail((await pay(A, o2.order, 30, { result: null })).res, 'INVALID_PARAMS', 'result')
      fail((await pay(A, o2.order, null)).res, 'INVALID_PARAMS', 'rmb_yuan')
      fail(await verify(A, { user_id: 'nobody', item: '月卡', order: o2.order }), 'ORDER_NOT_FOUND')
    })

    test('unknown extra parameters are signed too (byte-wise order); empty ones are left out', async () => {
      const o = await create(A, { user_id: uid('cb-extra'), ...MONTH_CARD })
      const extra = { Zeta: 'upper-case sorts first', a_b: 'x', 'a-b': 'y', memo: '', 数量: '1' }
      const p = cbParams(o.order, 30, extra)
      // a signature computed without the extra fields does not hold
      const withoutExtra: Params = { ...p }
      for (const k of Object.keys(extra)) delete withoutExtra[k]
      fail(await callback(A, p, { sign: signWith('MD5', stringA(withoutExtra)) }), 'SIGN_INVALID')
      // signed byte-wise (upper-case names before lower-case, '-' before '_', UTF-8 names last), it holds
      assert.ok(stringA(p).startsWith('Zeta='))
      okNoData(await callback(A, p))
    })

    test('a JSON null signType counts as empty, exactly like ""', async () => {
      // §5: "A JSON null counts as empty"; with sign_type present both spellings must get the same answer
      const answers: string[] = []
      for (const empty of [null, '']) {
        const o = (await create(A, { user_id: uid('cb-null-st'), ...MONTH_CARD })).order
        const p = cbParams(o, 30)
        const r = await post(A, '/api/pay/callback', { ...p, signType: empty, sign_type: 'MD5', sign: signWith('MD5', stringA(p)) })
        assertEnvelope(r)
        answers.push(`${r.status} ${String(r.body.state)}`)
      }
      assert.equal(answers[0], answers[1], `{"signType":null,"sign_type":"MD5"} → ${answers[0]} but {"signType":"","sign_type":"MD5"} → ${answers[1]}`)
      // the same for an optional field and for a required one
      const o2 = (await create(A, { user_id: uid('cb-null-f'), ...MONTH_CARD })).order
      for (const empty of [null, '']) {
        fail((await pay(A, o2, 30, { game_order_no: empty })).res, 'INVALID_PARAMS', 'game_order_no')
        fail(await callback(A, cbParams(o2, 30), { sign: empty }), 'SIGN_INVALID')
      }
    })

    test('signType / sign_type: case-insensitive, signType wins, RSA2 with the configured key', async () => {
      const mk = async (): Promise<string> => (await create(A, { user_id: uid('cb-st'), ...MONTH_CARD })).order
      okNoData((await pay(A, await mk(), 30, {}, { signType: 'Md5' })).res)
      okNoData((await pay(A, await mk(), 30, {}, { signType: 'Hmac-Sha256' })).res)
      okNoData((await pay(A, await mk(), 30, {}, { signType: 'HMAC-SHA256', typeKey: 'sign_type' })).res)
      // both present: signType wins
      const o1 = await mk()
      const p1 = cbParams(o1, 30)
      okNoData(await post(A, '/api/pay/callback', { ...p1, signType: 'MD5', sign_type: 'BOGUS', sign: signWith('MD5', stringA(p1)) }))
      const o2 = await mk()
      const p2 = cbParams(o2, 30)
      fail(await post(A, '/api/pay/callback', { ...p2, signType: 'BOGUS', sign_type: 'MD5', sign: signWith('MD5', stringA(p2)) }), 'SIGN_TYPE_UNSUPPORTED')
      const p3 = cbParams(o2, 30)
      fail(await post(A, '/api/pay/callback', { ...p3, signType: 'HMAC-SHA256', sign_type: 'MD5', sign: signWith('MD5', stringA(p3)) }), 'SIGN_INVALID')
      // RSA2
      const u = uid('cb-rsa')
      const o4 = (await create(A, { user_id: u, ...MONTH_CARD })).order
      fail((await pay(A, o4, 30, {}, { signType: 'RSA2', sign: Buffer.from('x'.repeat(256)).toString('base64') })).res, 'SIGN_INVALID')
      fail((await pay(A, o4, 30, {}, { signType: 'RSA2', algo: 'MD5' })).res, 'SIGN_INVALID')
      const good = await pay(A, o4, 30, { note: 'a+b/c=d' }, { signType: 'RSA2' })
      okNoData(good.res)
      assert.equal(okData(await verify(A, { user_id: u, item: '月卡', order: o4 })).gyyx_order_no, good.gyyx)
      okNoData((await pay(A, await mk(), '30.00', {}, { signType: 'rsa2', as: 'form' })).res)
      okNoData((await pay(A, await mk(), '30.00', {}, { signType: 'RSA2', as: 'query' })).res)
      fail((await pay(A, await mk(), 30, {}, { signType: 'SHA256' })).res, 'SIGN_TYPE_UNSUPPORTED')
      fail((await pay(A, await mk(), 30, {}, { signType: 'RSA' })).res, 'SIGN_TYPE_UNSUPPORTED')
    })

    test('required fields: INVALID_PARAMS naming the field; the optional ones may be absent', async () => {
      const o = await create(A, { user_id: uid('cb-req'), ...MONTH_CARD })
      for (const field of ['game_order_no', 'gyyx_order_no', 'result', 'rmb_yuan']) {
        const p = cbParams(o.order, 30)
        delete p[field]
        fail(await callback(A, p), 'INVALID_PARAMS', field)
        fail(await callback(A, { ...p, [field]: '' }), 'INVALID_PARAMS', field)
      }
      fail(await callback(A, cbParams(o.order, 30), { signType: null }), 'INVALID_PARAMS', 'signType')
      fail(await callback(A, { game_order_no: 42, gyyx_order_no: newGyyx(), result: 'success', rmb_yuan: 30 }), 'ORDER_NOT_FOUND')
      const u = uid('cb-min')
      const o2 = await create(A, { user_id: u, ...MONTH_CARD })
      const minimal = { game_order_no: o2.order, gyyx_order_no: newGyyx(), result: 'success', rmb_yuan: 30 }
      okNoData(await callback(A, minimal))
      okData(await verify(A, { user_id: u, item: '月卡', order: o2.order }))
    })

    test('§5.2 check order: required → signType → sign → rmb_yuan format → rows', async () => {
      const o = await create(A, { user_id: uid('cb-order'), ...MONTH_CARD })
      // missing required field and unsupported signType and no sign: required fields first
      fail(await callback(A, { game_order_no: o.order, result: 'success', rmb_yuan: 30 }, { signType: 'BOGUS', sign: null }), 'INVALID_PARAMS', 'gyyx_order_no')
      // unsupported signType and no sign: signType first
      fail(await callback(A, cbParams(o.order, 30), { signType: 'BOGUS', sign: null }), 'SIGN_TYPE_UNSUPPORTED')
      // bad sign and bad amount: sign first
      fail(await callback(A, cbParams(o.order, 'abc'), { sign: 'deadbeef' }), 'SIGN_INVALID')
      fail(await callback(A, cbParams('811-1', '-1'), { sign: null }), 'SIGN_INVALID')
      // good sign, bad amount, unknown order: amount format first
      for (const bad of ['abc', '-30', '+30', '1e2', ' 30', '30 ', '30,00', '0', '0.00', '30.001', '10000000.01', '３０']) {
        fail(await callback(A, cbParams('811-1', bad)), 'INVALID_PARAMS', 'rmb_yuan')
        fail(await callback(A, cbParams(o.order, bad)), 'INVALID_PARAMS', 'rmb_yuan')
      }
      for (const bad of [-30, 0, 30.001, 1e8, 0.001]) {
        fail(await callback(A, cbParams(o.order, bad)), 'INVALID_PARAMS', 'rmb_yuan')
      }
      fail(await callback(A, cbParams(o.order, 'abc'), { as: 'form' }), 'INVALID_PARAMS', 'rmb_yuan')
      fail(await callback(A, cbParams(o.order, '30.5.1'), { as: 'query' }), 'INVALID_PARAMS', 'rmb_yuan')
      // nothing changed through all that
      const again = await create(A, { user_id: o.user_id, ...MONTH_CARD })
      assert.equal(again.order, o.order)
      assert.equal(again.reused, true)
    })

    test('row: unknown game_order_no → ORDER_NOT_FOUND', async () => {
      fail((await pay(A, '811-1', 30)).res, 'ORDER_NOT_FOUND', ['811-1', 'game_order_no'])
      fail((await pay(A, 'no-such-order', '30.00', {}, { as: 'form' })).res, 'ORDER_NOT_FOUND')
      const other = await create(B, { user_id: uid('b-only'), ...MONTH_CARD })
      fail((await pay(A, other.order, 30)).res, 'ORDER_NOT_FOUND')
    })

    test('row: gyyx_order_no already recorded for a different order → success, nothing changes (before the amount check)', async () => {
      const ux = uid('row2x')
      const uy = uid('row2y')
      const x = await create(A, { user_id: ux, ...MONTH_CARD })
      const y = await create(A, { user_id: uy, ...MONTH_CARD })
      const px = await pay(A, x.order, 30)
      okNoData(px.res)
      okNoData((await pay(A, y.order, 30, { gyyx_order_no: px.gyyx })).res)
      fail(await verify(A, { user_id: uy, item: '月卡', order: y.order }), 'ORDER_NOT_PAID')
      okNoData((await pay(A, y.order, 999, { gyyx_order_no: px.gyyx })).res)
      fail(await verify(A, { user_id: uy, item: '月卡', order: y.order }), 'ORDER_NOT_PAID')
      const vx = okData(await verify(A, { user_id: ux, item: '月卡', order: x.order }))
      assert.equal(vx.gyyx_order_no, px.gyyx)
      const py = await pay(A, y.order, 30)
      okNoData(py.res)
      assert.equal(okData(await verify(A, { user_id: uy, item: '月卡', order: y.order })).gyyx_order_no, py.gyyx)
    })

    test('row: rmb_yuan ≠ order amount → AMOUNT_MISMATCH, order unchanged (before the result check)', async () => {
      const u = uid('row3')
      const o = await create(A, { user_id: u, ...ATTR, amount_num: 3 })
      fail((await pay(A, o.order, 99.99)).res, 'AMOUNT_MISMATCH', ['rmb_yuan', '99.99'])
      fail((await pay(A, o.order, 299.96)).res, 'AMOUNT_MISMATCH')
      fail((await pay(A, o.order, '299.98')).res, 'AMOUNT_MISMATCH')
      fail((await pay(A, o.order, 300)).res, 'AMOUNT_MISMATCH')
      fail((await pay(A, o.order, 1, { result: 'fail' })).res, 'AMOUNT_MISMATCH')
      fail(await verify(A, { user_id: u, item: '商品属性', order: o.order }), 'ORDER_NOT_PAID')
      okNoData((await pay(A, o.order, 299.97)).res)
      okData(await verify(A, { user_id: u, item: '商品属性', order: o.order }))
    })

    test('row: result not a success value → success, recorded as a failed attempt, order unchanged', async () => {
      const u = uid('row4')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      for (const result of ['fail', 'FAILED', 'ok', 'succes', '0']) {
        okNoData((await pay(A, o.order, 30, { result, result_message: 'declined' })).res)
      }
      fail(await verify(A, { user_id: u, item: '月卡', order: o.order }), 'ORDER_NOT_PAID')
      const still = await create(A, { user_id: u, ...MONTH_CARD })
      assert.equal(still.order, o.order)
      okNoData((await pay(A, o.order, 30, { result: 'SUCCESS' })).res)
      okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
    })

    test('rows: same gyyx again is idempotent; another gyyx on a paid order changes nothing', async () => {
      const u = uid('row6')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      const p = cbParams(o.order, 30)
      okNoData(await callback(A, p))
      const v1 = okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
      await sleep(1100)
      okNoData(await callback(A, p))
      okNoData(await callback(A, { ...p, timestamp: nowTs() }))
      okNoData(await callback(A, { ...p, rmb_yuan: '30.00' }, { as: 'form' }))
      const v2 = okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
      assert.equal(v2.paid_at, v1.paid_at)
      assert.equal(v2.purchase_time, v1.purchase_time)
      assert.equal(v2.gyyx_order_no, p.gyyx_order_no)
      // duplicate payment under another gyyx_order_no
      okNoData((await pay(A, o.order, 30)).res)
      const v3 = okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
      assert.equal(v3.gyyx_order_no, p.gyyx_order_no)
      assert.equal(v3.paid_at, v1.paid_at)
      // same gyyx again but a wrong amount: the amount row comes before the "same gyyx" row
      fail(await callback(A, { ...p, rmb_yuan: 31 }), 'AMOUNT_MISMATCH')
      // a failed result for a paid order changes nothing
      okNoData((await pay(A, o.order, 30, { result: 'fail' })).res)
      assert.equal(okData(await verify(A, { user_id: u, item: '月卡', order: o.order })).status, 'paid')
      fail(await cancel(A, { user_id: u, order: o.order }), 'ORDER_ALREADY_PAID')
    })

    test('row: success for a cancelled order → paid (late payment)', async () => {
      const u = uid('row8')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      okData(await cancel(A, { user_id: u, order: o.order }))
      const { res, gyyx } = await pay(A, o.order, 30)
      okNoData(res)
      const v = okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
      assert.equal(v.status, 'paid')
      assert.equal(v.gyyx_order_no, gyyx)
      fail(await cancel(A, { user_id: u, order: o.order }), 'ORDER_ALREADY_PAID')
    })

    test('concurrent duplicates and races with cancel apply a payment exactly once', async () => {
      const u = uid('race')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      const p = cbParams(o.order, 30)
      const same = await Promise.all(Array.from({ length: 12 }, async () => await callback(A, p)))
      for (const r of same) okNoData(r)
      const distinct = await Promise.all(Array.from({ length: 6 }, async () => await pay(A, o.order, 30)))
      for (const d of distinct) okNoData(d.res)
      const v = okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
      assert.equal(v.gyyx_order_no, p.gyyx_order_no)
      assert.equal(v.verify_count, 1)

      const u2 = uid('race2')
      const o2 = await create(A, { user_id: u2, ...MONTH_CARD })
      const ps = Array.from({ length: 6 }, () => cbParams(o2.order, 30))
      const results = await Promise.all([
        ...ps.map(async (x) => await callback(A, x)),
        cancel(A, { user_id: u2, order: o2.order }),
        cancel(A, { user_id: u2, order: o2.order }),
      ])
      for (const r of results.slice(0, 6)) okNoData(r)
      for (const r of results.slice(6)) {
        assertEnvelope(r)
        assert.ok(r.body.state === '' || r.body.state === 'ORDER_ALREADY_PAID', show(r))
      }
      const v2 = okData(await verify(A, { user_id: u2, item: '月卡', order: o2.order }))
      assert.ok(ps.some((x) => x.gyyx_order_no === v2.gyyx_order_no))
      fail(await cancel(A, { user_id: u2, order: o2.order }), 'ORDER_ALREADY_PAID')
    })

    test('content types: text/plain and xml are UNSUPPORTED_MEDIA_TYPE, bad JSON is INVALID_PARAMS', async () => {
      const p = cbParams('811-1', 30)
      const body = JSON.stringify({ ...p, signType: 'MD5', sign: signWith('MD5', stringA(p)) })
      fail(await req(A, 'POST', '/api/pay/callback', { raw: body, headers: { 'content-type': 'text/plain' } }), 'UNSUPPORTED_MEDIA_TYPE')
      fail(await req(A, 'POST', '/api/pay/callback', { raw: '<xml/>', headers: { 'content-type': 'application/xml' } }), 'UNSUPPORTED_MEDIA_TYPE')
      fail(await req(A, 'POST', '/api/pay/callback', { raw: '{"game_order_no":', headers: { 'content-type': 'application/json' } }), 'INVALID_PARAMS')
      fail(await req(A, 'POST', '/api/pay/callback', { raw: '[1,2]', headers: { 'content-type': 'application/json' } }), 'INVALID_PARAMS')
      fail(await req(A, 'POST', '/api/pay/callback', { raw: body, headers: { 'content-type': 'application/json; charset=utf-8' } }), 'ORDER_NOT_FOUND')
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('second server: HTTP_STATUS_MODE=always-200, ORDER_PREFIX, TTL, max age, success results, body limit', () => {
    test('every answer is HTTP 200 with the same body', async () => {
      fail(await goods(B, '?id=987654'), 'GOODS_NOT_FOUND')
      fail(await goods(B, '?id=x'), 'INVALID_PARAMS', 'id')
      fail(await req(B, 'GET', '/api/pay/nope'), 'NOT_FOUND')
      fail(await req(B, 'PUT', '/api/pay/goods'), 'METHOD_NOT_ALLOWED')
      fail(await req(B, 'POST', '/api/pay/create-order', { raw: 'x', headers: { 'content-type': 'text/plain' } }), 'UNSUPPORTED_MEDIA_TYPE')
      fail(await post(B, '/api/pay/create-order', { user_id: 'u', ...MONTH_CARD, description: 'x'.repeat(3000) }), 'PAYLOAD_TOO_LARGE')
      fail(await post(B, '/api/pay/create-order', { user_id: 'u', ...MONTH_CARD, single_pric: 31 }), 'PRICE_MISMATCH')
      fail((await pay(B, 'T9-1', 30)).res, 'ORDER_NOT_FOUND')
      fail(await callback(B, cbParams('T9-1', 30), { sign: 'bad' }), 'SIGN_INVALID')
      const r = await goods(B, '?id=1')
      okData(r)
    })

    test('the body is the same in both status modes', async () => {
      const pairs: Array<[Res, Res]> = []
      const h = { 'x-request-id': 'same-body-1' }
      pairs.push([await goods(A, '?id=987654', h), await goods(B, '?id=987654', h)])
      pairs.push([await req(A, 'GET', '/api/pay/nope', { headers: h }), await req(B, 'GET', '/api/pay/nope', { headers: h })])
      pairs.push([await post(A, '/api/pay/create-order', { user_id: 'x', ...MONTH_CARD, single_pric: 31 }, h), await post(B, '/api/pay/create-order', { user_id: 'x', ...MONTH_CARD, single_pric: 31 }, h)])
      for (const [a, b] of pairs) {
        assert.notEqual(a.status, 200)
        assert.equal(b.status, 200)
        assert.deepEqual(b.body, a.body)
      }
    })

    test('ORDER_PREFIX and ORDER_TTL_SECONDS', async () => {
      const d = await create(B, { user_id: uid('b'), ...MONTH_CARD })
      assert.match(d.order, /^T9-\d+$/)
      assert.ok(Math.abs(Date.parse(d.expire_at) - Date.parse(d.created_at) - 2000) <= 1000, 'TTL 2 s')
      fail(await verify(A, { user_id: d.user_id, item: '月卡', order: d.order }), 'ORDER_NOT_FOUND')
    })

    test('GOODS_SEED catalog: large and tiny prices, the 10,000,000 yuan limit, off-sale goods', async () => {
      const g70 = okData(await goods(B, '?id=70'))
      assert.equal(g70.item, '至尊礼包')
      assertMoney(g70.single_pric, 10_000_000, 'single_pric')
      const g73 = okData(await goods(B, '?id=73'))
      assert.equal(g73.on_sale, false)
      const u = uid('b-big')
      const big = await create(B, { user_id: u, item: '至尊礼包', item_id: 70, single_pric: 10_000_000 })
      assertMoney(big.rmb_yuan, 10_000_000, 'rmb_yuan')
      fail(await post(B, '/api/pay/create-order', { user_id: u, item: '至尊礼包', single_pric: 10_000_000, amount_num: 2 }), 'INVALID_PARAMS', 'amount_num')
      fail(await post(B, '/api/pay/create-order', { user_id: u, item: '九百万', single_pric: 9_999_999.99, amount_num: 2 }), 'INVALID_PARAMS', 'amount_num')
      const nine = await create(B, { user_id: u, item: '九百万', single_pric: 9_999_999.99 })
      assertMoney(nine.rmb_yuan, 9_999_999.99, 'rmb_yuan')
      const tiny = await create(B, { user_id: u, item: '一分钱', single_pric: 0.01, amount_num: 999 })
      assertMoney(tiny.rmb_yuan, 9.99, 'rmb_yuan')
      fail(await post(B, '/api/pay/create-order', { user_id: u, item: '下架了', single_pric: 6 }), 'GOODS_UNAVAILABLE')
      okNoData((await pay(B, big.order, '10000000.00', {}, { as: 'form' })).res)
      okNoData((await pay(B, nine.order, 9_999_999.99)).res)
      fail((await pay(B, tiny.order, '9.98')).res, 'AMOUNT_MISMATCH')
      okNoData((await pay(B, tiny.order, '9.990')).res)
      for (const o of [big, nine, tiny]) assert.equal(okData(await verify(B, { user_id: u, item: o.item, order: o.order })).status, 'paid')
    })

    test('BODY_LIMIT is the largest accepted body in bytes', async () => {
      const make = (size: number): string => {
        const base = JSON.stringify({ user_id: uid('b-limit'), ...MONTH_CARD, pad: '' })
        const s = JSON.stringify({ user_id: JSON.parse(base).user_id, ...MONTH_CARD, pad: 'p'.repeat(size - Buffer.byteLength(base)) })
        assert.equal(Buffer.byteLength(s), size)
        return s
      }
      const json = { 'content-type': 'application/json' }
      okData(await req(B, 'POST', '/api/pay/create-order', { raw: make(2048), headers: json }))
      const over = await req(B, 'POST', '/api/pay/create-order', { raw: make(2049), headers: { ...json, 'x-request-id': 'too-big-1' } })
      fail(over, 'PAYLOAD_TOO_LARGE')
      assert.equal(over.body.trace_id, 'too-big-1')
    })

    test('RSA2 without CALLBACK_RSA_PUBLIC_KEY → SIGN_TYPE_UNSUPPORTED', async () => {
      const d = await create(B, { user_id: uid('b-rsa'), ...MONTH_CARD })
      fail((await pay(B, d.order, 30, {}, { signType: 'RSA2' })).res, 'SIGN_TYPE_UNSUPPORTED')
    })

    test('CALLBACK_SUCCESS_RESULTS=success,OK (case-insensitive)', async () => {
      for (const result of ['OK', 'ok', 'success', 'Success']) {
        const u = uid('b-res')
        const d = await create(B, { user_id: u, ...MONTH_CARD })
        okNoData((await pay(B, d.order, 30, { result })).res)
        okData(await verify(B, { user_id: u, item: '月卡', order: d.order }))
      }
      const u = uid('b-res-fail')
      const d = await create(B, { user_id: u, ...MONTH_CARD })
      okNoData((await pay(B, d.order, 30, { result: 'okay' })).res)
      fail(await verify(B, { user_id: u, item: '月卡', order: d.order }), 'ORDER_NOT_PAID')
    })

    test('CALLBACK_MAX_AGE_SECONDS: timestamp formats and limits, checked after sign and amount format', async () => {
      const u = uid('b-age')
      const d = await create(B, { user_id: u, ...MONTH_CARD })
      const now = Date.now()
      const fmtShanghai = (ms: number): string => new Date(ms + 8 * 3600_000).toISOString().slice(0, 19).replace('T', ' ')
      const forbidden = [
        undefined, '', 'abc', '0', String(Math.floor(now / 1000) - 1000), String(Math.floor(now / 1000) + 1000),
        String(now - 1_000_000), String(now * 1000), fmtShanghai(now - 1000_000), fmtShanghai(now + 1000_000),
        new Date(now).toISOString().slice(0, 19).replace('T', ' '), // UTC wall clock: 8 hours off
        '2024-13-45 99:99:99',
      ]
      for (const ts of forbidden) {
        const p = cbParams(d.order, 30)
        if (ts === undefined) delete p.timestamp
        else p.timestamp = ts
        fail(await callback(B, p), 'CALLBACK_FORBIDDEN')
      }
      // sign and amount format are checked before the age; the age before the rows
      const old = String(Math.floor(now / 1000) - 3600)
      fail(await callback(B, cbParams(d.order, 30, { timestamp: old }), { sign: 'bad' }), 'SIGN_INVALID')
      fail(await callback(B, cbParams(d.order, 'x', { timestamp: old })), 'INVALID_PARAMS', 'rmb_yuan')
      fail(await callback(B, cbParams('T9-1', 30, { timestamp: old })), 'CALLBACK_FORBIDDEN')
      fail(await callback(B, cbParams('T9-1', 30)), 'ORDER_NOT_FOUND')
      fail(await verify(B, { user_id: u, item: '月卡', order: d.order }), 'ORDER_NOT_PAID')
      // accepted forms: seconds (10 digits), milliseconds (13 digits), Shanghai wall clock, small skew
      // digit counts: up to 11 digits are seconds, 12-14 milliseconds, more is unparseable
      const sec = String(Math.floor(now / 1000))
      for (const ts of [`00${sec}`, `00${String(now)}`, `${sec}.5`, `${fmtShanghai(now)}.000`]) {
        fail(await callback(B, cbParams('T9-1', 30, { timestamp: ts })), 'CALLBACK_FORBIDDEN')
      }
      const accepted: Val[] = [
        sec, String(now), fmtShanghai(now), String(Math.floor(now / 1000) + 60), String(Math.floor(now / 1000) - 200),
        `0${sec}`, `0${String(now)}`, Math.floor(now / 1000), now,
      ]
      for (const ts of accepted) {
        const uu = uid('b-age-ok')
        const dd = await create(B, { user_id: uu, ...MONTH_CARD })
        okNoData((await pay(B, dd.order, 30, { timestamp: ts })).res)
        okData(await verify(B, { user_id: uu, item: '月卡', order: dd.order }))
      }
    })

    test('expiry: not reused, not verified, cancel answers expired, a late payment still lands', async () => {
      const u = uid('b-exp')
      const o1 = await create(B, { user_id: u, ...MONTH_CARD })
      const o2 = await create(B, { user_id: u, ...MONTH_CARD, amount_num: 2 })
      const o3 = await create(B, { user_id: u, ...MONTH_CARD, amount_num: 3 })
      assert.equal((await create(B, { user_id: u, ...MONTH_CARD })).order, o1.order)
      await sleep(Math.max(0, Date.parse(o3.expire_at) - Date.now()) + 600)
      const fresh = await create(B, { user_id: u, ...MONTH_CARD })
      assert.equal(fresh.reused, false)
      assert.notEqual(fresh.order, o1.order)
      fail(await verify(B, { user_id: u, item: '月卡', order: o1.order }), 'ORDER_NOT_PAID')
      const c1 = okData(await cancel(B, { user_id: u, order: o1.order }))
      assert.deepEqual({ order: c1.order, status: c1.status }, { order: o1.order, status: 'expired' })
      const c2 = okData(await cancel(B, { user_id: u, order: o1.order }))
      assert.equal(c2.status, 'expired')
      fail(await cancel(B, { user_id: uid('b-exp-other'), order: o2.order }), 'ORDER_NOT_FOUND')
      // late payment on an expired order that was cancelled-as-expired, and on one never touched
      okNoData((await pay(B, o1.order, 30)).res)
      okNoData((await pay(B, o2.order, 60)).res)
      assert.equal(okData(await verify(B, { user_id: u, item: '月卡', order: o1.order })).status, 'paid')
      assert.equal(okData(await verify(B, { user_id: u, item: '月卡', order: o2.order })).status, 'paid')
      fail(await cancel(B, { user_id: u, order: o1.order }), 'ORDER_ALREADY_PAID')
      fail(await cancel(B, { user_id: u, order: o2.order }), 'ORDER_ALREADY_PAID')
      // an amount mismatch on an expired order is still AMOUNT_MISMATCH and changes nothing
      fail((await pay(B, o3.order, 30)).res, 'AMOUNT_MISMATCH')
      fail(await verify(B, { user_id: u, item: '月卡', order: o3.order }), 'ORDER_NOT_PAID')
      assert.equal(okData(await cancel(B, { user_id: u, order: o3.order })).status, 'expired')
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('third server on the same database: CALLBACK_ALLOW_IPS, TRUST_PROXY, RATE_LIMIT_PER_MINUTE, worker ids', () => {
    test('a callback from outside the allow-list is CALLBACK_FORBIDDEN whatever its body', async () => {
      fail(await req(C, 'POST', '/api/pay/callback', { json: {}, noXff: true }), 'CALLBACK_FORBIDDEN')
      fail(await req(C, 'POST', '/api/pay/callback', { raw: 'not json', headers: { 'content-type': 'application/json' }, noXff: true }), 'CALLBACK_FORBIDDEN')
      fail(await req(C, 'POST', '/api/pay/callback', { json: {}, headers: { 'x-forwarded-for': '192.0.2.7' } }), 'CALLBACK_FORBIDDEN')
      const o = await create(A, { user_id: uid('c-forbid'), ...MONTH_CARD })
      fail((await pay(C, o.order, 30, {}, { headers: { 'x-forwarded-for': '192.0.2.8' } })).res, 'CALLBACK_FORBIDDEN')
      fail(await verify(A, { user_id: o.user_id, item: '月卡', order: o.order }), 'ORDER_NOT_PAID')
    })

    test('a callback from an allowed address (via a trusted proxy) is processed; the database is shared', async () => {
      fail(await req(C, 'POST', '/api/pay/callback', { json: {}, headers: { 'x-forwarded-for': '10.1.2.3' } }), 'INVALID_PARAMS')
      const u = uid('c-allow')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      const { res, gyyx } = await pay(C, o.order, 30, {}, { headers: { 'x-forwarded-for': '10.1.2.3' } })
      okNoData(res)
      const v = okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
      assert.equal(v.gyyx_order_no, gyyx)
      const vc = okData(await verify(C, { user_id: u, item: '月卡', order: o.order }))
      assert.equal(vc.verify_count, 2)
    })

    test('RATE_LIMIT_PER_MINUTE: per client address, RATE_LIMITED with the envelope; allow-listed callbacks are exempt', async () => {
      const results: Res[] = []
      for (let i = 0; i < 14; i++) results.push(await goods(C, '?id=1', { 'x-forwarded-for': '192.0.2.50' }))
      for (const r of results.slice(0, 5)) ok(r)
      const limited = results.filter((r) => r.body?.state === 'RATE_LIMITED')
      assert.ok(limited.length >= 1, `some requests over 5/minute are limited: ${results.map((r) => r.status).join(',')}`)
      for (const r of limited) fail(r, 'RATE_LIMITED')
      ok(await goods(C, '?id=1', { 'x-forwarded-for': '192.0.2.51' }))
      for (let i = 0; i < 8; i++) {
        const r = await req(C, 'POST', '/api/pay/callback', { json: {}, headers: { 'x-forwarded-for': '10.9.9.9' } })
        fail(r, 'INVALID_PARAMS')
      }
    })

    test('X-Forwarded-For: the address the trusted proxy appended (rightmost) counts, not what the client wrote', async () => {
      fail(await req(C, 'POST', '/api/pay/callback', { json: {}, headers: { 'x-forwarded-for': '10.0.0.9, 192.0.2.1' } }), 'CALLBACK_FORBIDDEN')
      fail(await req(C, 'POST', '/api/pay/callback', { json: {}, headers: { 'x-forwarded-for': '192.0.2.1, 10.0.0.9' } }), 'INVALID_PARAMS')
      fail(await req(C, 'POST', '/api/pay/callback', { json: {}, headers: { 'x-forwarded-for': 'garbage' } }), 'CALLBACK_FORBIDDEN')
      const codes: string[] = []
      for (let i = 0; i < 10; i++) {
        const r = await goods(C, '?id=2', { 'x-forwarded-for': `198.18.0.${i + 1}, 192.0.2.60` })
        assertEnvelope(r)
        codes.push(r.body.state)
      }
      assert.ok(codes.includes('RATE_LIMITED'), `rotating the client-written part must not escape the limit: ${codes.join(',')}`)
    })

    test('log lines of a request carry its trace id', async () => {
      const marker = `logmark${Date.now()}`
      const r = await goods(C, `?id=1&${marker}=1`, { 'x-request-id': `trace-${marker}` })
      okData(r)
      await sleep(300)
      const lines = C.output.join('').split('\n').filter((l) => l.includes(marker))
      assert.ok(lines.length >= 1, `at LOG_LEVEL=info the request is logged:\n${C.output.join('').slice(-2000)}`)
      for (const l of lines) assert.ok(l.includes(`trace-${marker}`), `log line without the trace id: ${l}`)
    })

    test('two instances on one database: a payment raced through both applies once; one open order per user and goods', async () => {
      const u = uid('cross')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      const ps = Array.from({ length: 8 }, () => cbParams(o.order, 30))
      const rs = await Promise.all(ps.map(async (p, i) => await (i % 2 === 0
        ? callback(A, p)
        : callback(C, p, { headers: { 'x-forwarded-for': '10.20.30.40' } }))))
      for (const r of rs) okNoData(r)
      const v = okData(await verify(A, { user_id: u, item: '月卡', order: o.order }))
      assert.ok(ps.some((p) => p.gyyx_order_no === v.gyyx_order_no))
      assert.equal(v.verify_count, 1)
      const u2 = uid('cross-reuse')
      const made = await Promise.all(Array.from({ length: 8 }, async (_, i) =>
        okData(await post(i % 2 === 0 ? A : C, '/api/pay/create-order', { user_id: u2, ...MONTH_CARD }))))
      assert.equal(new Set(made.map((d) => d.order)).size, 1, `one order: ${made.map((d) => d.order).join(', ')}`)
    })

    test('two instances on one database hold distinct worker ids and never repeat an order number', async () => {
      const made: Array<{ on: string, order: string }> = []
      for (let i = 0; i < 8; i++) {
        made.push({ on: 'A', order: (await create(A, { user_id: uid('wa'), ...MONTH_CARD })).order })
        made.push({ on: 'C', order: (await create(C, { user_id: uid('wc'), ...MONTH_CARD })).order })
      }
      const all = made.map((m) => m.order)
      assert.equal(new Set(all).size, all.length)
      for (let i = 1; i < all.length; i++) assert.ok(snowflake(all[i]).ms >= snowflake(all[i - 1]).ms, 'time part never goes back')
      const wa = new Set(made.filter((m) => m.on === 'A').map((m) => snowflake(m.order).worker))
      const wc = new Set(made.filter((m) => m.on === 'C').map((m) => snowflake(m.order).worker))
      assert.equal(wa.size, 1)
      assert.equal(wc.size, 1)
      assert.notDeepEqual([...wa], [...wc], 'distinct worker ids')
    })

    test('two instances writing concurrently to one (SQLite) database answer every request, unique order numbers', async () => {
      // §4.1/§5.2: any number of instances may share a database; §7: SERVICE_UNAVAILABLE is for an
      // unreachable database or a shutdown, not for two instances writing at the same moment
      const states: Record<string, number> = {}
      const orders: string[] = []
      for (let round = 0; round < 3; round++) {
        const rs = await Promise.all(Array.from({ length: 120 }, async (_, i) =>
          await post(i % 2 === 0 ? A : C, '/api/pay/create-order', { user_id: uid('load'), ...MONTH_CARD })))
        for (const r of rs) {
          assertEnvelope(r)
          const key = `${r.status} ${String(r.body.state)}`
          states[key] = (states[key] ?? 0) + 1
          if (r.body.result === 'success') orders.push(r.body.data.order)
        }
      }
      assert.equal(new Set(orders).size, orders.length, 'unique')
      assert.deepEqual(states, { '200 ': 360 }, `answers to 3 × 120 concurrent create-order split over A and C: ${JSON.stringify(states)}`)
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('every order created on the 811 database', () => {
    test('is unique and matches ^811-\\d+$', () => {
      assert.ok(createdOn811.length > 50)
      assert.equal(new Set(createdOn811).size, createdOn811.length, 'unique')
      for (const o of createdOn811) assert.match(o, ORDER_RE)
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('§8 start-up configuration is validated', () => {
    test('a bad value stops the start with a message naming the variable', async () => {
      const badSeed = join(tempDir(), 'bad-goods.json')
      writeFileSync(badSeed, JSON.stringify([{ id: 1, item: '坏价格', single_pric: 1.005, on_sale: true }]))
      const cases: Array<[string, Record<string, string | undefined>]> = [
        ['HTTP_STATUS_MODE', { HTTP_STATUS_MODE: 'sometimes-200' }],
        ['CALLBACK_SECRET', { NODE_ENV: 'production', CALLBACK_SECRET: undefined }],
        ['ORDER_TTL_SECONDS', { ORDER_TTL_SECONDS: 'soon' }],
        ['WORKER_ID', { WORKER_ID: '1024' }],
        ['BODY_LIMIT', { BODY_LIMIT: '-1' }],
        ['CALLBACK_ALLOW_IPS', { CALLBACK_ALLOW_IPS: 'not-a-cidr' }],
        ['CALLBACK_RSA_PUBLIC_KEY', { CALLBACK_RSA_PUBLIC_KEY: '/nonexistent/key.pem' }],
        ['GOODS_SEED', { GOODS_SEED: '/nonexistent/goods.json' }],
        ['DATABASE_URL', { DATABASE_URL: 'ftp://example.invalid/db' }],
        ['PORT', { PORT: 'eighty' }],
        ['RATE_LIMIT_PER_MINUTE', { RATE_LIMIT_PER_MINUTE: 'many' }],
        ['CALLBACK_MAX_AGE_SECONDS', { CALLBACK_MAX_AGE_SECONDS: '-5' }],
        ['TRUST_PROXY', { TRUST_PROXY: '300.1.1.1/8' }],
        ['LOG_LEVEL', { LOG_LEVEL: 'loud' }],
        ['GOODS_SEED', { GOODS_SEED: badSeed }],
      ]
      const results: Array<{ name: string, code: number | null, output: string }> = []
      for (let i = 0; i < cases.length; i += 2) {
        results.push(...await Promise.all(cases.slice(i, i + 2).map(async ([name, env]) => ({ name, ...(await runExpectingStartFailure(env)) }))))
      }
      for (const r of results) {
        assert.ok(r.code !== null && r.code !== 0, `${r.name}: must exit non-zero, got ${String(r.code)}\n${r.output.slice(0, 800)}`)
        assert.ok(r.output.includes(r.name), `${r.name}: message must name the variable\n${r.output.slice(0, 800)}`)
      }
    })
  })

  // -------------------------------------------------------------------------------------------
  describe('§10 safe by default', () => {
    test('§10.1 start-up refuses (exit 1, naming CALLBACK_SECRET) a missing, short or development secret off loopback or in production', async () => {
      const cases: Array<[string, Record<string, string | undefined>]> = [
        ['HOST=0.0.0.0, no secret', { HOST: '0.0.0.0', CALLBACK_SECRET: undefined }],
        ['HOST=0.0.0.0, an 11-character secret', { HOST: '0.0.0.0', CALLBACK_SECRET: SECRET }],
        ['HOST=0.0.0.0, the development secret', { HOST: '0.0.0.0', CALLBACK_SECRET: DEV_SECRET }],
        ['NODE_ENV=production, a 15-character secret', { NODE_ENV: 'production', CALLBACK_SECRET: 'x'.repeat(15) }],
        ['NODE_ENV=production, the development secret', { NODE_ENV: 'production', CALLBACK_SECRET: DEV_SECRET }],
      ]
      const results = await Promise.all(cases.map(async ([name, env]) => ({ name, ...(await runExpectingStartFailure(env)) })))
      for (const r of results) {
        assert.equal(r.code, 1, `${r.name}: must exit with status 1\n${r.output.slice(0, 800)}`)
        assert.ok(r.output.includes('CALLBACK_SECRET'), `${r.name}: the message must name CALLBACK_SECRET\n${r.output.slice(0, 800)}`)
      }
    })

    test('§10.1 with CALLBACK_SIGN_TYPES=RSA2 alone and its key, production starts without CALLBACK_SECRET and takes RSA2 payments', async () => {
      const D = await serverD()
      const u = uid('d-rsa')
      const o = await create(D, { user_id: u, ...MONTH_CARD })
      const { res, gyyx } = await pay(D, o.order, 30, {}, { signType: 'RSA2' })
      okNoData(res)
      assert.equal(okData(await verify(D, { user_id: u, item: '月卡', order: o.order })).gyyx_order_no, gyyx)
    })

    test('§10.2 a signType outside CALLBACK_SIGN_TYPES is SIGN_TYPE_UNSUPPORTED, after the required fields and before the signature', async () => {
      const D = await serverD()
      const u = uid('d-types')
      const o = await create(D, { user_id: u, ...MONTH_CARD })
      for (const type of ['MD5', 'md5', 'HMAC-SHA256']) {
        fail((await pay(D, o.order, 30, {}, { signType: type })).res, 'SIGN_TYPE_UNSUPPORTED')
        // The development secret is not used either.
        fail((await pay(D, o.order, 30, {}, { signType: type, secret: DEV_SECRET })).res, 'SIGN_TYPE_UNSUPPORTED')
        fail((await pay(D, o.order, 30, {}, { signType: type, sign: 'bad' })).res, 'SIGN_TYPE_UNSUPPORTED')
        fail(await callback(D, { game_order_no: o.order, result: 'success', rmb_yuan: 30 }, { signType: type }), 'INVALID_PARAMS', 'gyyx_order_no')
      }
      fail(await verify(D, { user_id: u, item: '月卡', order: o.order }), 'ORDER_NOT_PAID')
      okNoData((await pay(D, o.order, 30, {}, { signType: 'RSA2' })).res)
      assert.equal(okData(await verify(D, { user_id: u, item: '月卡', order: o.order })).status, 'paid')
    })

    test('§10.3 a signed failed payment whose common_param hides "&name=" is refused, and its re-split into a success never pays', async () => {
      const u = uid('resplit')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      const gyyx = newGyyx()
      const ts = nowTs()
      const failed: Params = {
        game_order_no: o.order,
        gyyx_order_no: gyyx,
        result: 'fail',
        result_message: '',
        rmb_yuan: 30,
        server_flag: 's1',
        // what the player chose; the platform signs it as it signs any value
        common_param: `x&game_order_no=${o.order}&gyyx_order_no=${gyyx}&result=success&rmb_yuan=30&server_flag=s1&timestamp=${ts}&zz=`,
        timestamp: ts,
      }
      // The same stringA split otherwise: the failure's own fields pushed into a parameter sorted last.
      const forged: Params = {
        common_param: 'x',
        game_order_no: o.order,
        gyyx_order_no: gyyx,
        result: 'success',
        rmb_yuan: 30,
        server_flag: 's1',
        timestamp: ts,
        zz: `&game_order_no=${o.order}&gyyx_order_no=${gyyx}&result=fail&rmb_yuan=30&server_flag=s1&timestamp=${ts}`,
      }
      assert.equal(stringA(forged), stringA(failed))
      const sign = signWith('MD5', stringA(failed))
      fail(await callback(A, forged, { sign }), 'INVALID_PARAMS', 'zz')
      fail(await callback(A, forged, { sign, as: 'form' }), 'INVALID_PARAMS', 'zz')
      fail(await callback(A, failed, { sign }), 'INVALID_PARAMS', 'common_param')
      fail(await verify(A, { user_id: u, item: '月卡', order: o.order }), 'ORDER_NOT_PAID')
      // The genuine payment is then the first one.
      const { res, gyyx: paid } = await pay(A, o.order, 30)
      okNoData(res)
      assert.equal(okData(await verify(A, { user_id: u, item: '月卡', order: o.order })).gyyx_order_no, paid)
    })

    test('§10.3 a parameter name with & or =, or a value with "&name=", is INVALID_PARAMS naming it, before signType; nothing changes', async () => {
      const u = uid('ambiguous')
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      for (const name of ['x&y', 'k=v', 'a&b=c']) {
        fail(await callback(A, cbParams(o.order, 30, { [name]: '1' })), 'INVALID_PARAMS', name)
        fail(await callback(A, cbParams(o.order, '30.00', { [name]: '1' }), { as: 'form' }), 'INVALID_PARAMS', name)
      }
      for (const [field, value] of [['common_param', 'x&result=success'], ['result_message', 'ok&a.b-c_D9=1'], ['note', 'p&q=']]) {
        fail(await callback(A, cbParams(o.order, 30, { [field]: value })), 'INVALID_PARAMS', field)
        fail(await callback(A, cbParams(o.order, 30, { [field]: value }), { signType: 'SHA1' }), 'INVALID_PARAMS', field)
        fail(await callback(A, cbParams(o.order, 30, { [field]: value }), { sign: 'bad' }), 'INVALID_PARAMS', field)
        fail(await callback(A, cbParams(o.order, '30', { [field]: value }), { as: 'query' }), 'INVALID_PARAMS', field)
      }
      fail(await verify(A, { user_id: u, item: '月卡', order: o.order }), 'ORDER_NOT_PAID')
    })

    test('§10.3 values with = or & alone, or URL-encoded, pass: a=1;b=2, x&y, a%3D1%26b%3D2', async () => {
      const cases: Array<[string, 'json' | 'form']> = [['a=1;b=2', 'json'], ['x&y', 'json'], ['a%3D1%26b%3D2', 'json'], ['a%3D1%26b%3D2', 'form']]
      for (const [value, as] of cases) {
        const u = uid('plain')
        const o = await create(A, { user_id: u, ...MONTH_CARD })
        const { res, gyyx } = await pay(A, o.order, as === 'form' ? '30.00' : 30, { common_param: value }, { as })
        okNoData(res)
        assert.equal(okData(await verify(A, { user_id: u, item: '月卡', order: o.order })).gyyx_order_no, gyyx, `${value} as ${as}`)
      }
    })

    test('§10.4 U+0000 in a string field is INVALID_PARAMS naming it on every route; an item_id holding one is absent; unknown fields stay ignored', async () => {
      const NUL = '\u0000'
      fail(await goods(A, '?id=1%00'), 'INVALID_PARAMS', 'id')
      const u = uid('nul')
      for (const field of ['user_id', 'item', 'server_flag', 'description', 'game_role_id', 'game_role_name', 'game_role_grade']) {
        const body: Record<string, unknown> = { user_id: u, ...MONTH_CARD }
        body[field] = `${String(body[field] ?? 'v')}${NUL}x`
        fail(await post(A, '/api/pay/create-order', body), 'INVALID_PARAMS', field)
      }
      const o = await create(A, { user_id: u, ...MONTH_CARD })
      assert.equal(o.reused, false, 'the refused requests created no order')
      const absent = await create(A, { user_id: uid('nul-id'), ...MONTH_CARD, item_id: `2${NUL}`, note: `a${NUL}b` })
      assert.equal(absent.item_id, 2)
      assert.equal(okData(await post(A, '/api/pay/create-order', { user_id: u, ...MONTH_CARD, note: `a${NUL}b` })).order, o.order)

      fail(await cancel(A, { user_id: `${u}${NUL}`, order: o.order }), 'INVALID_PARAMS', 'user_id')
      fail(await cancel(A, { user_id: u, order: `${o.order}${NUL}` }), 'INVALID_PARAMS', 'order')
      fail(await verify(A, { user_id: `${u}${NUL}`, item: '月卡', order: o.order }), 'INVALID_PARAMS', 'user_id')
      fail(await verify(A, { user_id: u, item: `月卡${NUL}`, order: o.order }), 'INVALID_PARAMS', 'item')
      fail(await verify(A, { user_id: u, item: '月卡', order: `${o.order}${NUL}` }), 'INVALID_PARAMS', 'order')

      for (const field of ['game_order_no', 'gyyx_order_no', 'result', 'result_message', 'rmb_yuan', 'server_flag', 'common_param', 'timestamp', 'note']) {
        const p = cbParams(o.order, '30', { note: 'n' })
        p[field] = `${String(p[field])}${NUL}`
        fail(await callback(A, p), 'INVALID_PARAMS', field)
      }
      fail(await callback(A, cbParams(o.order, 30, { [`zzNUL${NUL}name`]: '1' })), 'INVALID_PARAMS', 'zzNUL')
      fail(await callback(A, cbParams(o.order, '30.00', { common_param: `a${NUL}b` }), { as: 'form' }), 'INVALID_PARAMS', 'common_param')
      fail(await callback(A, cbParams(o.order, '30.00', { common_param: `a${NUL}b` }), { as: 'query' }), 'INVALID_PARAMS', 'common_param')
      fail(await verify(A, { user_id: u, item: '月卡', order: o.order }), 'ORDER_NOT_PAID')
      assert.equal(okData(await cancel(A, { user_id: u, order: o.order })).status, 'cancelled')
    })

    test('§10.5 over RATE_LIMIT_PER_MINUTE the answer is 429 RATE_LIMITED with Retry-After in whole seconds, before CALLBACK_FORBIDDEN', async () => {
      const from = { 'x-forwarded-for': '192.0.2.77' }
      // Refused requests count too.
      for (let i = 0; i < 5; i++) fail(await req(C, 'POST', '/api/pay/callback', { json: {}, headers: from }), 'CALLBACK_FORBIDDEN')
      const limited = [
        await req(C, 'POST', '/api/pay/callback', { json: {}, headers: from }),
        // over the limit the body is not read
        await req(C, 'POST', '/api/pay/callback', { raw: '{not json', headers: { ...from, 'content-type': 'application/json' } }),
        await goods(C, '?id=1', from),
      ]
      for (const r of limited) {
        fail(r, 'RATE_LIMITED')
        const retry = r.headers.get('retry-after') ?? ''
        assert.match(retry, /^\d+$/, `Retry-After in whole seconds: ${retry}`)
        assert.ok(Number(retry) >= 1 && Number(retry) <= 60, `Retry-After within the minute: ${retry}`)
      }
      // The platform's allowed address is not limited.
      fail(await req(C, 'POST', '/api/pay/callback', { json: {}, headers: { 'x-forwarded-for': '10.7.7.77' } }), 'INVALID_PARAMS')
    })

    test('§10.6 with REQUEST_TIMEOUT_MS=1000 a request whose headers or body never finish is answered 408 or closed within seconds', async () => {
      const D = await serverD()
      const host = `Host: ${new URL(D.base).host}\r\n`
      // bounded wait: the timeout plus "a few seconds"; no exact time is asserted
      const bound = 1000 + 7000
      const [stalled, trickled, body] = await Promise.all([
        slowClient(D, `GET /api/pay/goods?id=1 HTTP/1.1\r\n${host}`, false, bound),
        slowClient(D, `GET /api/pay/goods?id=1 HTTP/1.1\r\n${host}`, true, bound),
        slowClient(D, `POST /api/pay/create-order HTTP/1.1\r\n${host}Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"user_id":`, false, bound),
      ])
      for (const [name, r] of [['headers stalled', stalled], ['headers trickled', trickled], ['body stalled', body]] as const) {
        assert.ok(r.closed, `${name}: still open after ${bound} ms`)
        if (r.answer !== '') assert.match(r.answer, /^HTTP\/1\.[01] 408\b/, `${name}: ${r.answer.slice(0, 200)}`)
      }
      okData(await goods(D, '?id=1'))
    })

    test('§10.8 the serving process runs compiled JavaScript: no tsx on its command line, no esbuild (or other transpiler) process under it', { skip: !existsSync('/proc/self/stat') }, async () => {
      const check = (srv: Srv): void => {
        const tree = processTree(srv.proc.pid as number)
        assert.match(tree[0].cmdline, /gamepay/, `${srv.name}: ${tree[0].cmdline}`)
        for (const p of tree) assert.doesNotMatch(p.cmdline, /tsx|esbuild|ts-node|swc/, `${srv.name}: process ${p.pid}: ${p.cmdline}`)
      }
      check(A)
      check(await serverD())
    })
  })
})
