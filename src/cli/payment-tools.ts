import { createPrivateKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { Config } from '../config.ts'
import { buildStringA, computeSign, normalizeSignType, toSignValue, type SignType } from '../domain/signature.ts'
import { configReader, type CliEnv } from './cli-env.ts'
import { CliError } from './cli-error.ts'

/** The flags that choose the key, shared by `sign` and `simulate-payment`. */
export const KEY_OPTIONS = {
  type: { type: 'string' },
  secret: { type: 'string' },
  'private-key': { type: 'string' },
} as const

export const KEY_HELP = `  --type TYPE          MD5, HMAC-SHA256 or RSA2 (default MD5; RSA2 when --private-key is given)
  --secret SECRET      the MD5/HMAC-SHA256 secret (default: CALLBACK_SECRET as the server reads it, from the
                       environment or .env; unset, the development secret a server on loopback uses)
  --private-key FILE   PEM private key for RSA2, the pair of the server's CALLBACK_RSA_PUBLIC_KEY`

export const SIGN_OPTIONS = {
  json: { type: 'string' },
  ...KEY_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const

export const SIGN_HELP = `gamepay sign [name=value ...] [--json '{...}'] [options]

Prints stringA, the signType and the sign of payment callback parameters, computed as the payment
platform computes them. Parameters come as name=value pairs (signed as written), as a JSON object
(numbers signed as JavaScript prints them), or both; a pair wins over the same name in --json.

  --json JSON          the parameters as one JSON object
${KEY_HELP}
  -h, --help           this help

Where the secret came from is printed on stderr; the secret itself never is.`

interface KeyFlags { type?: string, secret?: string, 'private-key'?: string }

export interface SigningKey {
  type: SignType
  secret?: string
  privateKeyPem?: string
  /** Where the key came from, for people: never the key itself. */
  source: string
}

export function signTypeOf (flags: KeyFlags): SignType {
  const raw = flags.type ?? (flags['private-key'] ? 'RSA2' : 'MD5')
  const type = normalizeSignType(raw)
  if (!type) throw new CliError(`--type must be MD5, HMAC-SHA256 or RSA2, got "${raw}"`)
  return type
}

/** The configuration, read only when the flags leave something to it. */
export function keyedConfigReader (flags: KeyFlags, env: CliEnv, bypass: (withOwnKey: boolean) => string): () => Config {
  const withOwnKey = flags.secret !== undefined || signTypeOf(flags) === 'RSA2'
  return configReader(env, { withOwnKey, bypass: bypass(withOwnKey) })
}

/** The key to sign with: the flags, else CALLBACK_SECRET exactly as the server would resolve it. */
export function signingKey (flags: KeyFlags, env: CliEnv, config: () => Config): SigningKey {
  const type = signTypeOf(flags)
  if (type === 'RSA2') {
    const file = flags['private-key']
    if (!file) throw new CliError('--type RSA2 signs with a private key: pass --private-key <pem file>')
    let pem: string
    try {
      pem = readFileSync(file, 'utf8')
    } catch (err) {
      throw new CliError(`--private-key: cannot read "${file}" (${(err as NodeJS.ErrnoException).code ?? String(err)})`)
    }
    try {
      createPrivateKey(pem)
    } catch {
      throw new CliError(`--private-key: "${file}" is not a PEM private key`)
    }
    return { type, privateKeyPem: pem, source: `--private-key ${file}` }
  }
  if (flags.secret !== undefined) {
    if (flags.secret === '') throw new CliError('--secret is empty')
    return { type, secret: flags.secret, source: '--secret' }
  }
  const { callbackSecret, callbackSecretIsDevDefault, callbackSignTypes } = config()
  if (callbackSecret === null) {
    throw new CliError(`the server accepts only RSA2 (CALLBACK_SIGN_TYPES=${callbackSignTypes.join(',')}), so there is no ` +
      `CALLBACK_SECRET to sign ${type} with`, 'pass --private-key <pem file> to sign with RSA2, or --secret')
  }
  const origin = env.origin('CALLBACK_SECRET')
  const source = callbackSecretIsDevDefault || !origin ? 'the development secret' : `CALLBACK_SECRET from ${origin}`
  return { type, secret: callbackSecret, source }
}

/** Signs parameters as the payment platform does; returns stringA, the sign, and the parameters with signType and sign. */
export function signParams (params: Record<string, unknown>, type: SignType,
  key: { secret?: string | null, privateKeyPem?: string }) {
  const text: Record<string, string | null> = Object.create(null)
  for (const [k, v] of Object.entries(params)) {
    const s = toSignValue(v)
    if (s === undefined) throw new CliError(`${k}: objects and arrays cannot be signed`)
    text[k] = s
  }
  const stringA = buildStringA(text)
  const sign = computeSign(type, stringA, key)
  return { stringA, sign, body: { ...params, signType: type, sign } }
}

function jsonObject (text: string): Record<string, unknown> {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new CliError(`--json is not valid JSON: ${(err as Error).message}`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new CliError('--json must be a JSON object')
  return value as Record<string, unknown>
}

export function signCommand (args: string[], env: CliEnv, note: (line: string) => void = console.error): string {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: SIGN_OPTIONS })
  if (values.help) return SIGN_HELP
  const params = values.json ? jsonObject(values.json) : {}
  for (const pair of positionals) {
    const at = pair.indexOf('=')
    if (at < 1) throw new CliError(`"${pair}" is not name=value`, 'see gamepay sign --help')
    params[pair.slice(0, at)] = pair.slice(at + 1)
  }
  const key = signingKey(values, env, keyedConfigReader(values, env, () => '--secret or --private-key'))
  const { stringA, sign } = signParams(params, key.type, key)
  note(`secret: ${key.source}`)
  return `stringA=${stringA}\nsignType=${key.type}\nsign=${sign}`
}
