// Reading a callback's parameters: every source gives a null-prototype map, so `__proto__`,
// `constructor` or `toString` are ordinary names, signed and checked like any other.

export type Params = Record<string, unknown>

/** Parameters as read from one source, with the first name that appeared twice and the first inexact number. */
export class ParsedParams {
  constructor (
    readonly params: Params,
    readonly repeated: string | null = null,
    readonly inexact: string | null = null
  ) {}
}

export function fromSearchParams (text: string): ParsedParams {
  const params: Params = Object.create(null)
  let repeated: string | null = null
  for (const [name, value] of new URLSearchParams(text)) {
    if (name in params) repeated ??= name
    params[name] = value
  }
  return new ParsedParams(params, repeated)
}

export class NotAnObject extends Error {}

/**
 * A JSON object body. JSON.parse keeps `__proto__` as an own key (it never sets a prototype); the
 * copy into a null-prototype map keeps it so. A number is signed as String(n), so one that a double
 * cannot hold exactly (2024112612345678901 reads back as …8800) would be checked against other text
 * than the platform signed: it is reported as inexact.
 */
export function fromJson (text: string): ParsedParams {
  const value: unknown = JSON.parse(text)
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new NotAnObject()
  const params: Params = Object.assign(Object.create(null), value)
  let inexact: string | null = null
  for (const [name, token] of topLevelNumbers(text)) {
    if (typeof params[name] === 'number' && !sameDecimal(token, params[name] as number)) {
      inexact = name
      break
    }
  }
  return new ParsedParams(params, null, inexact)
}

// The number tokens of a valid JSON object's own members, by name (the last one wins, as in JSON.parse).
// Hand-written because Node 20's JSON.parse gives a reviver no access to the source text.
function topLevelNumbers (text: string): Map<string, string> {
  const found = new Map<string, string>()
  let depth = 0
  let key = ''
  let afterColon = false
  for (let i = 0; i < text.length;) {
    const c = text[i]
    if (c === '"') {
      let end = i + 1
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      if (depth === 1 && !afterColon) key = JSON.parse(text.slice(i, end + 1))
      afterColon = false
      i = end + 1
    } else if (c === ':' && depth === 1) {
      afterColon = true
      i++
    } else if (depth === 1 && afterColon && (c === '-' || (c >= '0' && c <= '9'))) {
      let end = i
      while (end < text.length && /[-+0-9.eE]/.test(text[end])) end++
      found.set(key, text.slice(i, end))
      afterColon = false
      i = end
    } else {
      if (c === '{' || c === '[') depth++
      else if (c === '}' || c === ']') depth--
      if (!/\s/.test(c) && c !== ':') afterColon = false
      i++
    }
  }
  return found
}

/** Digits and exponent of a decimal text with no leading or trailing zeros: equal values, equal forms. */
function canonicalDecimal (text: string): string | null {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text)
  if (!m) return null
  let digits = (m[1] + (m[2] ?? '')).replace(/^0+/, '')
  let exponent = Number(m[3] ?? 0) - (m[2]?.length ?? 0)
  if (digits === '') return '0'
  while (digits.endsWith('0')) {
    digits = digits.slice(0, -1)
    exponent++
  }
  return `${text.startsWith('-') ? '-' : ''}${digits}e${exponent}`
}

function sameDecimal (token: string, value: number): boolean {
  const given = canonicalDecimal(token)
  return given !== null && given === canonicalDecimal(String(value))
}
