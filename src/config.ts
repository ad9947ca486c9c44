import { createPublicKey, type KeyObject } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { BlockList, isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { normalizeSignType, type SignType } from './domain/signature.ts'

export type HttpStatusMode = 'strict' | 'always-200'

export interface Config {
  port: number
  host: string
  databaseUrl: string
  dbPoolSize: number
  dbStatementTimeoutMs: number
  production: boolean
  /** The MD5/HMAC-SHA256 secret; null when only RSA2 is accepted (CALLBACK_SIGN_TYPES=RSA2). */
  callbackSecret: string | null
  callbackSecretIsDevDefault: boolean
  callbackSignTypes: SignType[]
  /** The platform's RSA public key, parsed and checked once at start. */
  callbackRsaPublicKey: KeyObject | null
  callbackSuccessResults: string[]
  callbackAllowIps: BlockList | null
  callbackMaxAgeSeconds: number | null
  /** Days a refused (unverified) callback's log row is kept before the sweep purges it. */
  callbackRejectRetentionDays: number
  orderPrefix: string
  orderTtlSeconds: number
  workerId: number | null
  /** How long a worker-id lease lives without a heartbeat: how soon a crashed instance's id is free again. */
  workerLeaseTtlMs: number
  /** Processes serving the port together (node's cluster module); 1: this process serves alone. */
  workers: number
  goodsSeed: string | null
  httpStatusMode: HttpStatusMode
  bodyLimit: number
  rateLimitPerMinute: number
  /** Shares the rate-limit budget between instances; null: each instance counts its own. */
  redisUrl: string | null
  /** Where paid orders are announced; null when no NOTIFY_URL is set: then no events are made. */
  notify: NotifyConfig | null
  /** Bearer token /metrics asks for; null: /metrics is open. */
  metricsToken: string | null
  /** Headers and body must have arrived within this; Node checks every second. */
  requestTimeoutMs: number
  keepAliveTimeoutMs: number
  trustProxy: string[] | false
  logLevel: string
  /** Console session cookies: Secure on requests that arrived over TLS (auto), or always. */
  consoleSecureCookie: 'auto' | 'always'
  /** The console's sandbox cashier, which signs callbacks with CALLBACK_SECRET: never in production. */
  sandboxCashier: boolean
}

export interface NotifyConfig {
  /** NOTIFY_URL: every server_flag's events, unless NOTIFY_URL_<FLAG> names another endpoint. */
  url: string | null
  /** NOTIFY_URL_<FLAG> by FLAG (see notifyEnvSuffix). */
  urlsByFlag: Map<string, string>
  secret: string
  secretIsDevDefault: boolean
  /** The delays before each retry; after the last one fails the event is failed. */
  retrySeconds: number[]
  timeoutMs: number
  /** Deliveries in flight at once in one instance. */
  concurrency: number
}

export class ConfigError extends Error {
  constructor (variable: string, problem: string) {
    super(`${variable}: ${problem}`)
    this.name = 'ConfigError'
  }
}

export const DEV_CALLBACK_SECRET = 'gamepay-development-secret'
export const DEV_NOTIFY_SECRET = 'gamepay-development-notify-secret'
const DEFAULT_NOTIFY_RETRY_SECONDS = '15,60,300,900,3600,7200,21600,43200,86400'
const MIN_SECRET_LENGTH = 16
const MIN_RSA_BITS = 2048
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

type Env = Record<string, string | undefined>

/** Reads `.env` (when present) under the real environment, which always wins. */
export function loadEnv (file = '.env'): Env {
  if (existsSync(file)) process.loadEnvFile(file)
  return process.env
}

function int (env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `must be a whole number, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${raw}`)
  return value
}

function str (env: Env, name: string): string | null {
  const raw = env[name]?.trim()
  return raw || null
}

function list (raw: string | null): string[] {
  return raw ? raw.split(',').map((s) => s.trim()).filter(Boolean) : []
}

/** A CIDR list ("10.0.0.0/8, 127.0.0.1") as a BlockList; IPv4 entries also match their IPv6-mapped form. */
export function parseCidrList (name: string, raw: string): BlockList {
  const blocks = new BlockList()
  for (const entry of list(raw)) {
    const [address, bits, extra] = entry.split('/')
    const family = isIP(address)
    if (family === 0 || extra !== undefined) throw new ConfigError(name, `"${entry}" is not an IP address or CIDR block`)
    const type = family === 4 ? 'ipv4' : 'ipv6'
    if (bits === undefined) {
      blocks.addAddress(address, type)
      continue
    }
    const prefix = Number(bits)
    if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) throw new ConfigError(name, `"${entry}" has a bad prefix length`)
    blocks.addSubnet(address, prefix, type)
  }
  return blocks
}

/** localhost, 127.0.0.0/8 or ::1: only such a listener may run on development secrets. */
export function isLoopbackHost (host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  if (h === 'localhost' || h === '::1') return true
  const v4 = h.startsWith('::ffff:') ? h.slice(7) : h
  return isIP(v4) === 4 && v4.startsWith('127.')
}

/**
 * A shared secret (CALLBACK_SECRET, NOTIFY_SECRET): a development default only while the service
 * listens on loopback outside production; otherwise required, long enough, and not the default.
 */
export function requireSecret (name: string, value: string | null, devDefault: string, strict: { production: boolean, host: string }) {
  const why = strict.production ? 'NODE_ENV=production' : !isLoopbackHost(strict.host) ? `HOST=${strict.host} is not a loopback address` : null
  if (why === null) return { secret: value ?? devDefault, isDevDefault: value === null }
  if (value === null) throw new ConfigError(name, `is required because ${why}`)
  if (value.length < MIN_SECRET_LENGTH) throw new ConfigError(name, `must be at least ${MIN_SECRET_LENGTH} characters because ${why}`)
  if (value === devDefault) throw new ConfigError(name, `must not be the development secret because ${why}`)
  return { secret: value, isDevDefault: false }
}

function readRsaPublicKey (file: string): KeyObject {
  const name = 'CALLBACK_RSA_PUBLIC_KEY'
  let pem: string
  try {
    pem = readFileSync(file, 'utf8')
  } catch {
    throw new ConfigError(name, `cannot read the PEM file "${file}"`)
  }
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch {
    throw new ConfigError(name, `"${file}" is not a PEM public key`)
  }
  if (key.asymmetricKeyType !== 'rsa') throw new ConfigError(name, `"${file}" is a ${key.asymmetricKeyType} key, not RSA`)
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
  if (bits < MIN_RSA_BITS) throw new ConfigError(name, `"${file}" is a ${bits}-bit key; at least ${MIN_RSA_BITS} bits are required`)
  return key
}

/** The variable-name form of a server_flag: `s1` → `S1`, `cn-east.2` → `CN_EAST_2` (NOTIFY_URL_CN_EAST_2). */
export const notifyEnvSuffix = (serverFlag: string) => serverFlag.toUpperCase().replace(/[^A-Z0-9]/g, '_')

/** The endpoint for an order's events: its server_flag's own, else NOTIFY_URL; null: none is configured. */
export function notifyUrlFor (notify: NotifyConfig, serverFlag: string): string | null {
  return (serverFlag === '' ? undefined : notify.urlsByFlag.get(notifyEnvSuffix(serverFlag))) ?? notify.url
}

function httpUrl (name: string, raw: string): string {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(name, `"${raw}" is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(name, 'must be an http:// or https:// URL')
  return url.toString()
}

function notifyConfig (env: Env, strict: { production: boolean, host: string }): NotifyConfig | null {
  const url = str(env, 'NOTIFY_URL')
  const urlsByFlag = new Map<string, string>()
  for (const name of Object.keys(env).sort()) {
    const value = name.startsWith('NOTIFY_URL_') ? str(env, name) : null
    if (value) urlsByFlag.set(name.slice('NOTIFY_URL_'.length), httpUrl(name, value))
  }
  if (!url && urlsByFlag.size === 0) return null
  const retrySeconds = list(str(env, 'NOTIFY_RETRY_SECONDS') ?? DEFAULT_NOTIFY_RETRY_SECONDS).map((s) => {
    if (!/^\d+$/.test(s) || Number(s) < 1 || Number(s) > 604_800) {
      throw new ConfigError('NOTIFY_RETRY_SECONDS', `"${s}" is not a whole number of seconds between 1 and 604800`)
    }
    return Number(s)
  })
  const { secret, isDevDefault } = requireSecret('NOTIFY_SECRET', str(env, 'NOTIFY_SECRET'), DEV_NOTIFY_SECRET, strict)
  return {
    url: url ? httpUrl('NOTIFY_URL', url) : null,
    urlsByFlag,
    secret,
    secretIsDevDefault: isDevDefault,
    retrySeconds,
    timeoutMs: int(env, 'NOTIFY_TIMEOUT_MS', 5000, 100, 120_000),
    concurrency: int(env, 'NOTIFY_CONCURRENCY', 8, 1, 256),
  }
}

/**
 * WORKERS: how many processes serve the port (src/supervisor.ts forks them); `auto` is one per CPU.
 * Each worker leases its own snowflake worker id, so a fixed WORKER_ID can't go with more than one.
 *
 * Refused on SQLite. A SQLite file has one writer at a time, and every path that matters writes
 * (create-order, callback, verification, the expiry sweep), so extra processes add no write
 * throughput: they queue for the same lock. Worse, better-sqlite3 waits synchronously: a worker
 * whose BEGIN IMMEDIATE finds another process writing sleeps in SQLite's busy handler with its
 * whole event loop stopped, every request it holds waiting too, and each process commits (and
 * syncs) on its own instead of sharing the one process's commits. One process is the fast and
 * predictable way to run SQLite; PostgreSQL or MySQL is the way to more cores.
 */
function workerCount (env: Env, databaseUrl: string, fixedWorkerId: boolean): number {
  const raw = str(env, 'WORKERS')
  const count = raw === 'auto' ? availableParallelism() : int(env, 'WORKERS', 1, 1, 256)
  if (count === 1) return 1
  if (fixedWorkerId) {
    throw new ConfigError('WORKER_ID', `cannot be fixed with WORKERS=${raw}: each of the ${count} worker processes leases its own worker id; leave WORKER_ID blank`)
  }
  if (databaseUrl.startsWith('sqlite:')) {
    throw new ConfigError('WORKERS', `must be 1 with SQLite (got ${raw}, ${count} processes): one SQLite file takes one writer at a time, ` +
      'so more processes only queue for its lock, each blocked while it waits; use PostgreSQL or MySQL to serve from several processes')
  }
  return count
}

function signTypes (raw: string | null): SignType[] {
  const types = list(raw ?? 'MD5,HMAC-SHA256,RSA2').map((t) => {
    const type = normalizeSignType(t)
    if (!type) throw new ConfigError('CALLBACK_SIGN_TYPES', `"${t}" is not MD5, HMAC-SHA256 or RSA2`)
    return type
  })
  if (types.length === 0) throw new ConfigError('CALLBACK_SIGN_TYPES', 'must name at least one of MD5, HMAC-SHA256, RSA2')
  return [...new Set(types)]
}

export function loadConfig (env: Env = process.env): Config {
  const production = env.NODE_ENV === 'production'
  const host = str(env, 'HOST') ?? '127.0.0.1'
  const types = signTypes(str(env, 'CALLBACK_SIGN_TYPES'))
  const keyFile = str(env, 'CALLBACK_RSA_PUBLIC_KEY')
  const rsaKey = keyFile ? readRsaPublicKey(keyFile) : null
  if (types.length === 1 && types[0] === 'RSA2' && !rsaKey) {
    throw new ConfigError('CALLBACK_RSA_PUBLIC_KEY', 'is required when CALLBACK_SIGN_TYPES accepts RSA2 alone')
  }
  // With RSA2 alone no shared secret is used, so none is asked for.
  const sharedSecret = types.some((t) => t !== 'RSA2')
    ? requireSecret('CALLBACK_SECRET', str(env, 'CALLBACK_SECRET'), DEV_CALLBACK_SECRET, { production, host })
    : { secret: null, isDevDefault: false }

  const redisUrl = str(env, 'REDIS_URL')
  if (redisUrl && !/^rediss?:\/\//.test(redisUrl)) throw new ConfigError('REDIS_URL', 'must start with redis:// or rediss://')

  const databaseUrl = str(env, 'DATABASE_URL') ?? 'sqlite:./data/gamepay.db'
  if (!/^(sqlite:|postgres:\/\/|postgresql:\/\/|mysql:\/\/)/.test(databaseUrl)) {
    throw new ConfigError('DATABASE_URL', 'must start with sqlite:, postgres:// or mysql://')
  }

  const prefix = str(env, 'ORDER_PREFIX') ?? '811'
  if (!/^[A-Za-z0-9]{1,16}$/.test(prefix)) throw new ConfigError('ORDER_PREFIX', 'must be 1-16 letters or digits')

  const statusMode = str(env, 'HTTP_STATUS_MODE') ?? 'strict'
  if (statusMode !== 'strict' && statusMode !== 'always-200') throw new ConfigError('HTTP_STATUS_MODE', 'must be strict or always-200')

  const logLevel = str(env, 'LOG_LEVEL') ?? 'info'
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`)

  const successResults = list(str(env, 'CALLBACK_SUCCESS_RESULTS') ?? 'success').map((s) => s.toLowerCase())
  if (successResults.length === 0) throw new ConfigError('CALLBACK_SUCCESS_RESULTS', 'must name at least one value')

  const allowIps = str(env, 'CALLBACK_ALLOW_IPS')
  const trustProxy = str(env, 'TRUST_PROXY')
  if (trustProxy) parseCidrList('TRUST_PROXY', trustProxy)
  const workerId = str(env, 'WORKER_ID')
  const maxAge = str(env, 'CALLBACK_MAX_AGE_SECONDS')

  const secureCookie = str(env, 'CONSOLE_SECURE_COOKIE') ?? 'auto'
  if (secureCookie !== 'auto' && secureCookie !== 'always') throw new ConfigError('CONSOLE_SECURE_COOKIE', 'must be auto or always')
  const sandbox = str(env, 'SANDBOX_CASHIER') ?? (production ? 'off' : 'on')
  if (sandbox !== 'on' && sandbox !== 'off') throw new ConfigError('SANDBOX_CASHIER', 'must be on or off')
  if (sandbox === 'on' && production) throw new ConfigError('SANDBOX_CASHIER', 'cannot be on with NODE_ENV=production: it pays orders without a platform')

  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host,
    databaseUrl,
    dbPoolSize: int(env, 'DB_POOL_SIZE', 10, 1, 1000),
    dbStatementTimeoutMs: int(env, 'DB_STATEMENT_TIMEOUT_MS', 5000, 100, 600_000),
    production,
    callbackSecret: sharedSecret.secret,
    callbackSecretIsDevDefault: sharedSecret.isDevDefault,
    callbackSignTypes: types,
    callbackRsaPublicKey: rsaKey,
    callbackSuccessResults: successResults,
    callbackAllowIps: allowIps ? parseCidrList('CALLBACK_ALLOW_IPS', allowIps) : null,
    callbackMaxAgeSeconds: maxAge ? int(env, 'CALLBACK_MAX_AGE_SECONDS', 0, 1, 31_536_000) : null,
    callbackRejectRetentionDays: int(env, 'CALLBACK_REJECT_RETENTION_DAYS', 30, 1, 3650),
    orderPrefix: prefix,
    orderTtlSeconds: int(env, 'ORDER_TTL_SECONDS', 1800, 1, 31_536_000),
    workerId: workerId ? int(env, 'WORKER_ID', 0, 0, 1023) : null,
    workerLeaseTtlMs: int(env, 'WORKER_LEASE_TTL_MS', 30_000, 6_000, 3_600_000),
    workers: workerCount(env, databaseUrl, workerId !== null),
    goodsSeed: str(env, 'GOODS_SEED'),
    httpStatusMode: statusMode,
    bodyLimit: int(env, 'BODY_LIMIT', 65536, 1024, 104_857_600),
    rateLimitPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 0, 0, 10_000_000),
    redisUrl,
    notify: notifyConfig(env, { production, host }),
    metricsToken: str(env, 'METRICS_TOKEN'),
    requestTimeoutMs: int(env, 'REQUEST_TIMEOUT_MS', 10_000, 1_000, 600_000),
    // Longer than a load balancer's idle timeout (nginx keeps upstream connections 60 s), so the
    // balancer, not Node, closes an idle connection and never reuses one Node just closed.
    keepAliveTimeoutMs: int(env, 'KEEP_ALIVE_TIMEOUT_MS', 65_000, 1_000, 600_000),
    trustProxy: trustProxy ? list(trustProxy) : false,
    logLevel,
    consoleSecureCookie: secureCookie,
    sandboxCashier: sandbox === 'on',
  }
}
