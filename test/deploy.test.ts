// The example systemd unit: systemd's own checker where this machine has it, and always the
// settings the README promises, read from the file.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, test } from 'node:test'

const ROOT = resolve(import.meta.dirname, '..')
const UNIT = join(ROOT, 'deploy/gamepay.service')

type Unit = Record<string, Record<string, string[]>>

/** systemd's unit syntax, as far as this file uses it: [Section], Key=value (a key may repeat), # and ; comments. */
function parseUnit (text: string): Unit {
  const unit: Unit = {}
  let section: Record<string, string[]> | null = null
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[(\w+)\]$/.exec(line)
    if (header) {
      section = unit[header[1]] = {}
      continue
    }
    const at = line.indexOf('=')
    assert.ok(section && at > 0, `line ${i + 1} is neither a section, a setting nor a comment: ${raw}`)
    const key = line.slice(0, at).trim()
    ;(section[key] ??= []).push(line.slice(at + 1).trim())
  }
  return unit
}

/** `systemd-analyze`, when it is installed here (Debian: apt-get install systemd). */
function systemdAnalyze (): string | null {
  try {
    return execFileSync('sh', ['-c', 'command -v systemd-analyze'], { encoding: 'utf8' }).trim() || null
  } catch {
    return null
  }
}

/** How long src/server.ts gives in-flight requests on SIGTERM, in seconds. */
function gracefulCloseSeconds (): number {
  const match = /closeWithGrace\(\{\s*delay:\s*([\d_]+)/.exec(readFileSync(join(ROOT, 'src/server.ts'), 'utf8'))
  assert.ok(match, 'src/server.ts passes closeWithGrace its delay')
  return Number(match[1].replaceAll('_', '')) / 1000
}

describe('deploy/gamepay.service', () => {
  const text = readFileSync(UNIT, 'utf8')
  const unit = parseUnit(text)
  const service = unit.Service ?? {}
  const one = (key: string) => {
    assert.equal(service[key]?.length, 1, `[Service] ${key} is set once`)
    return service[key][0]
  }

  test('when systemd\'s checker reads the unit, then it finds nothing to report (or, without it, the unit parses)', () => {
    assert.deepEqual(Object.keys(unit).sort(), ['Install', 'Service', 'Unit'])
    const analyze = systemdAnalyze()
    if (!analyze) return
    // verify checks that ExecStart's program exists: point it at the node running this test.
    const dir = mkdtempSync(join(tmpdir(), 'gamepay-unit-'))
    writeFileSync(join(dir, 'gamepay.service'), text.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`))
    const run = spawnSync(analyze, ['verify', join(dir, 'gamepay.service')], { encoding: 'utf8' })
    assert.equal(run.status, 0, run.stderr)
    // An unknown key or a bad value is only a warning to systemd, but a mistake here.
    assert.equal(run.stderr.trim(), '')
  })

  test('when the unit starts gamepay, then it runs the compiled command as the gamepay user with /etc/gamepay/env', () => {
    assert.match(one('ExecStart'), /^\/\S*\/node \/opt\/gamepay\/bin\/gamepay\.js serve$/)
    assert.ok(existsSync(join(ROOT, 'bin/gamepay.js')))
    assert.equal(one('User'), 'gamepay')
    assert.equal(one('Group'), 'gamepay')
    assert.equal(one('EnvironmentFile'), '/etc/gamepay/env')
    assert.equal(one('Restart'), 'on-failure')
  })

  test('when the unit is stopped, then SIGTERM comes first and systemd waits longer than the graceful close', () => {
    assert.equal(one('KillSignal'), 'SIGTERM')
    const stop = /^(\d+)s?$/.exec(one('TimeoutStopSec'))
    assert.ok(stop, 'TimeoutStopSec in whole seconds')
    assert.ok(Number(stop[1]) > gracefulCloseSeconds(), `${stop[1]} s > ${gracefulCloseSeconds()} s`)
  })

  test('when the service runs, then it is sandboxed: system read-only, no home, own /tmp, state writable', () => {
    assert.equal(one('NoNewPrivileges'), 'yes')
    assert.equal(one('PrivateTmp'), 'yes')
    assert.equal(one('ProtectSystem'), 'strict')
    assert.equal(one('ProtectHome'), 'yes')
    const writable = one('ReadWritePaths').split(/\s+/)
    // The working directory is where a relative sqlite: file lands.
    assert.ok(writable.includes(one('WorkingDirectory')), 'the working directory is writable')
    assert.equal(`/var/lib/${one('StateDirectory')}`, one('WorkingDirectory'))
    // V8 compiles to memory that is writable and executable: node does not start under this.
    assert.notEqual(service.MemoryDenyWriteExecute?.[0], 'yes')
  })
})
