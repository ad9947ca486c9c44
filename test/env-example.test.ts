// .env.example against the code: it names exactly the variables the configuration reads, found by
// watching loadConfig read them, and each default it states is the one the code applies.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, test } from 'node:test'
import { parseEnv } from 'node:util'
import { loadConfig } from '../src/config.ts'

const EXAMPLE = resolve(import.meta.dirname, '../.env.example')

interface Entry { name: string, value: string, commented: boolean, line: number }

/** `NAME=value` lines, set or commented out (`# NAME=value`); every other line is prose or blank. */
function entries (text: string): Entry[] {
  return text.split('\n').flatMap((raw, i) => {
    const match = /^(# )?([A-Z][A-Z0-9_]*)=(.*)$/.exec(raw)
    return match ? [{ name: match[2], value: match[3], commented: match[1] !== undefined, line: i + 1 }] : []
  })
}

/** The names loadConfig reads from env; a refusal (ConfigError) still counts what was read before it. */
function namesRead (env: Record<string, string>): Set<string> {
  const read = new Set<string>()
  const watched = new Proxy(env, {
    get (target, name) {
      if (typeof name === 'string') read.add(name)
      return Reflect.get(target, name)
    },
  })
  try {
    loadConfig(watched)
  } catch {}
  return read
}

/**
 * Every variable the configuration reads. A variable read only when another one is set (a
 * feature switched on) shows once that one holds a value that switches it on: so each name found
 * is set, alone, to each of a few values that switch things on, until no new name turns up.
 */
function configVariables (): Set<string> {
  const dir = mkdtempSync(join(tmpdir(), 'gamepay-env-'))
  const pem = join(dir, 'platform.pub')
  writeFileSync(pem, generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }))
  const switchOn = ['1', 'true', 'production', '0.0.0.0', 'RSA2', 'MD5', '127.0.0.1', 'redis://127.0.0.1:6379',
    'http://127.0.0.1:9', 'sqlite::memory:', pem, 'x'.repeat(32)]
  const found = namesRead({})
  const tried = new Set<string>()
  for (let grew = true; grew;) {
    grew = false
    for (const name of [...found].filter((n) => !tried.has(n))) {
      tried.add(name)
      for (const value of switchOn) {
        for (const more of namesRead({ [name]: value })) {
          if (!found.has(more)) grew = true
          found.add(more)
        }
      }
    }
  }
  return found
}

describe('.env.example', () => {
  const text = readFileSync(EXAMPLE, 'utf8')
  const listed = entries(text)

  test('when compared with what the configuration reads, then it names exactly those variables, each once', () => {
    const names = listed.map((e) => e.name)
    assert.deepEqual(names.filter((n, i) => names.indexOf(n) !== i), [], 'named twice')
    assert.deepEqual([...names].sort(), [...configVariables()].sort())
  })

  test('when a variable is listed, then a one-line comment says what it is', () => {
    const lines = text.split('\n')
    for (const e of listed) {
      const above = lines[e.line - 2] ?? ''
      assert.match(above, /^# \S/, `${e.name} (line ${e.line}) has a comment on the line above`)
      assert.doesNotMatch(above, /^# [A-Z][A-Z0-9_]*=/, `${e.name}: the line above is a comment, not another variable`)
    }
  })

  test('when a line is copied into the environment as it stands, then the configuration is the default one', () => {
    // A commented-out line shows the default; a set one is blank (no default: to be filled in).
    const defaults = loadConfig({})
    for (const e of listed) {
      if (!e.commented) assert.equal(e.value, '', `${e.name} is either commented out with its default, or blank`)
      assert.deepEqual(loadConfig({ [e.name]: e.value }), defaults, `${e.name}=${e.value} is the default`)
    }
  })

  test('when read as a .env file, then it sets only blank values and the configuration is the default one', () => {
    // The parser process.loadEnvFile uses, so comments are read as the service reads them.
    const parsed = parseEnv(text)
    assert.deepEqual(Object.keys(parsed).sort(), listed.filter((e) => !e.commented).map((e) => e.name).sort())
    assert.deepEqual(loadConfig(parsed), loadConfig({}))
  })
})
