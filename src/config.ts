import { existsSync, readFileSync } from 'node:fs'
import { BlockList, isIP } from 'node:net'

export type HttpStatusMode = 'strict' | 'always-200'

export interface Config {
  port: number
  host: string
  databaseUrl: string
  dbPoolSize: number
  dbStatementTimeoutMs: number
  production: boolean
  callbackSecret: string
  callbackSecretIsDevDefault: boolean
  callbackRsaPublicKey: string | null
  callbackSuccessResults: string[]
  callbackAllowIps: BlockList | null
  callbackMaxAgeSeconds: number | null
  orderPrefix: string
  orderTtlSeconds: number
  workerId: number | null
  /** How long a worker-id lease lives without a heartbeat: how soon a crashed instance's id is free again. */
  workerLeaseTtlMs: number
  goodsSeed: string | null
  httpStatusMode: HttpStatusMode
  bodyLimit: number
  rateLimitPerMinute: number
  trustProxy: string[] | false
  logLevel: string
}

export class ConfigError extends Error {
  constructor (variable: string, problem: string) {
    super(`${variable}: ${problem}`)
    this.name = 'ConfigError'
  }
}

export const DEV_CALLBACK_SECRET = 'gamepay-development-secret'
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

export function loadConfig (env: Env = process.env): Config {
  const production = env.NODE_ENV === 'production'
  const secret = str(env, 'CALLBACK_SECRET')
  if (production && !secret) throw new ConfigError('CALLBACK_SECRET', 'is required when NODE_ENV=production')

  const keyFile = str(env, 'CALLBACK_RSA_PUBLIC_KEY')
  let rsaKey: string | null = null
  if (keyFile) {
    try {
      rsaKey = readFileSync(keyFile, 'utf8')
    } catch {
      throw new ConfigError('CALLBACK_RSA_PUBLIC_KEY', `cannot read the PEM file "${keyFile}"`)
    }
    if (!rsaKey.includes('PUBLIC KEY')) throw new ConfigError('CALLBACK_RSA_PUBLIC_KEY', `"${keyFile}" is not a PEM public key`)
  }

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

  return {
    port: int(env, 'PORT', 8080, 0, 65535),
    host: str(env, 'HOST') ?? '127.0.0.1',
    databaseUrl,
    dbPoolSize: int(env, 'DB_POOL_SIZE', 10, 1, 1000),
    dbStatementTimeoutMs: int(env, 'DB_STATEMENT_TIMEOUT_MS', 5000, 100, 600_000),
    production,
    callbackSecret: secret ?? DEV_CALLBACK_SECRET,
    callbackSecretIsDevDefault: !secret,
    callbackRsaPublicKey: rsaKey,
    callbackSuccessResults: successResults,
    callbackAllowIps: allowIps ? parseCidrList('CALLBACK_ALLOW_IPS', allowIps) : null,
    callbackMaxAgeSeconds: maxAge ? int(env, 'CALLBACK_MAX_AGE_SECONDS', 0, 1, 31_536_000) : null,
    orderPrefix: prefix,
    orderTtlSeconds: int(env, 'ORDER_TTL_SECONDS', 1800, 1, 31_536_000),
    workerId: workerId ? int(env, 'WORKER_ID', 0, 0, 1023) : null,
    workerLeaseTtlMs: int(env, 'WORKER_LEASE_TTL_MS', 30_000, 6_000, 3_600_000),
    goodsSeed: str(env, 'GOODS_SEED'),
    httpStatusMode: statusMode,
    bodyLimit: int(env, 'BODY_LIMIT', 65536, 1024, 104_857_600),
    rateLimitPerMinute: int(env, 'RATE_LIMIT_PER_MINUTE', 0, 0, 10_000_000),
    trustProxy: trustProxy ? list(trustProxy) : false,
    logLevel,
  }
}
