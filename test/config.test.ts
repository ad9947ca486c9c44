// Configuration from the environment, validated at start-up; a bad value stops the
// start with a message that names the variable.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { describe, test } from 'node:test'
import { ConfigError, DEV_CALLBACK_SECRET, loadConfig, loadEnv } from '../src/config.ts'
import { createTestApp, forEachDialect, freshDatabaseUrl } from './helper.ts'

const tmp = () => mkdtempSync(join(tmpdir(), 'gamepay-config-'))

function writeTemp (name: string, text: string): string {
  const file = join(tmp(), name)
  writeFileSync(file, text)
  return file
}

/** loadConfig refuses the environment with a ConfigError whose message starts with the variable. */
function assertRefuses (env: Record<string, string>, variable: string) {
  assert.throws(() => loadConfig(env), (err: unknown) => {
    assert.ok(err instanceof ConfigError, `${JSON.stringify(env)}: ${String(err)}`)
    assert.equal(err.name, 'ConfigError')
    assert.ok(err.message.startsWith(`${variable}:`), `${JSON.stringify(env)} → ${err.message}`)
    return true
  })
}

describe('configuration', () => {
  test('when nothing is set, then the documented defaults apply', () => {
    const config = loadConfig({})
    assert.equal(config.port, 8080)
    assert.equal(config.host, '127.0.0.1')
    assert.equal(config.databaseUrl, 'sqlite:./data/gamepay.db')
    assert.equal(config.production, false)
    assert.equal(config.callbackSecret, DEV_CALLBACK_SECRET)
    assert.equal(config.callbackSecretIsDevDefault, true)
    assert.equal(config.callbackRsaPublicKey, null)
    assert.deepEqual(config.callbackSuccessResults, ['success'])
    assert.equal(config.callbackAllowIps, null)
    assert.equal(config.callbackMaxAgeSeconds, null)
    assert.equal(config.orderPrefix, '811')
    assert.equal(config.orderTtlSeconds, 1800)
    assert.equal(config.workerId, null)
    assert.equal(config.goodsSeed, null)
    assert.equal(config.httpStatusMode, 'strict')
    assert.equal(config.bodyLimit, 65536)
    assert.equal(config.rateLimitPerMinute, 0)
    assert.equal(config.trustProxy, false)
    assert.equal(config.logLevel, 'info')
  })

  test('when a variable is set but empty, then it counts as unset', () => {
    const config = loadConfig({ PORT: '', ORDER_PREFIX: '', ORDER_TTL_SECONDS: '', HTTP_STATUS_MODE: '', BODY_LIMIT: '', CALLBACK_SECRET: '  ', WORKER_ID: '' })
    assert.equal(config.port, 8080)
    assert.equal(config.orderPrefix, '811')
    assert.equal(config.orderTtlSeconds, 1800)
    assert.equal(config.httpStatusMode, 'strict')
    assert.equal(config.bodyLimit, 65536)
    assert.equal(config.callbackSecretIsDevDefault, true)
    assert.equal(config.workerId, null)
  })

  test('when every variable has a good value, then each is read as documented', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const pemFile = writeTemp('platform.pem', pem)
    const config = loadConfig({
      PORT: '9090',
      HOST: '0.0.0.0',
      DATABASE_URL: 'postgres://pay:pw@db.internal:5432/gamepay',
      CALLBACK_SECRET: 'live-secret-0123456789',
      CALLBACK_SIGN_TYPES: 'hmac-sha256, RSA2',
      CALLBACK_RSA_PUBLIC_KEY: pemFile,
      CALLBACK_REJECT_RETENTION_DAYS: '7',
      CALLBACK_SUCCESS_RESULTS: 'SUCCESS, Paid ,',
      CALLBACK_ALLOW_IPS: '10.0.0.0/8, 203.0.113.7, 2001:db8::/32',
      CALLBACK_MAX_AGE_SECONDS: '300',
      ORDER_PREFIX: 'GP2024',
      ORDER_TTL_SECONDS: '600',
      WORKER_ID: '0',
      GOODS_SEED: './goods.json',
      HTTP_STATUS_MODE: 'always-200',
      BODY_LIMIT: '1048576',
      RATE_LIMIT_PER_MINUTE: '600',
      REDIS_URL: 'redis://cache.internal:6379',
      REQUEST_TIMEOUT_MS: '15000',
      KEEP_ALIVE_TIMEOUT_MS: '75000',
      TRUST_PROXY: '10.0.0.0/8, 192.168.1.1',
      LOG_LEVEL: 'debug',
      NODE_ENV: 'production',
    })
    assert.equal(config.port, 9090)
    assert.equal(config.host, '0.0.0.0')
    assert.equal(config.databaseUrl, 'postgres://pay:pw@db.internal:5432/gamepay')
    assert.equal(config.production, true)
    assert.equal(config.callbackSecret, 'live-secret-0123456789')
    assert.equal(config.callbackSecretIsDevDefault, false)
    assert.deepEqual(config.callbackSignTypes, ['HMAC-SHA256', 'RSA2'])
    assert.equal(config.callbackRsaPublicKey?.export({ type: 'spki', format: 'pem' }), pem)
    assert.equal(config.callbackRejectRetentionDays, 7)
    assert.equal(config.redisUrl, 'redis://cache.internal:6379')
    assert.equal(config.requestTimeoutMs, 15000)
    assert.equal(config.keepAliveTimeoutMs, 75000)
    assert.deepEqual(config.callbackSuccessResults, ['success', 'paid'])
    assert.ok(config.callbackAllowIps)
    assert.equal(config.callbackAllowIps.check('10.20.30.40', 'ipv4'), true)
    assert.equal(config.callbackAllowIps.check('203.0.113.7', 'ipv4'), true)
    assert.equal(config.callbackAllowIps.check('203.0.113.8', 'ipv4'), false)
    assert.equal(config.callbackAllowIps.check('2001:db8::1', 'ipv6'), true)
    assert.equal(config.callbackMaxAgeSeconds, 300)
    assert.equal(config.orderPrefix, 'GP2024')
    assert.equal(config.orderTtlSeconds, 600)
    assert.equal(config.workerId, 0)
    assert.equal(config.goodsSeed, './goods.json')
    assert.equal(config.httpStatusMode, 'always-200')
    assert.equal(config.bodyLimit, 1048576)
    assert.equal(config.rateLimitPerMinute, 600)
    assert.deepEqual(config.trustProxy, ['10.0.0.0/8', '192.168.1.1'])
    assert.equal(config.logLevel, 'debug')
  })

  test('when DATABASE_URL names any supported database, then it is accepted', () => {
    for (const url of ['sqlite::memory:', 'sqlite:/var/lib/gamepay.db', 'postgres://u@h/db', 'postgresql://u@h/db', 'mysql://root@127.0.0.1:3306/gamepay']) {
      assert.equal(loadConfig({ DATABASE_URL: url }).databaseUrl, url)
    }
  })

  test('when WORKER_ID is at either end of 0-1023, then it is accepted', () => {
    assert.equal(loadConfig({ WORKER_ID: '0' }).workerId, 0)
    assert.equal(loadConfig({ WORKER_ID: '1023' }).workerId, 1023)
  })

  test('when a value is bad, then loadConfig throws a ConfigError that names the variable', () => {
    const cases: Array<[string, string]> = [
      ['PORT', 'abc'], ['PORT', '70000'], ['PORT', '-1'], ['PORT', '80.5'],
      ['DATABASE_URL', 'mongodb://localhost/x'], ['DATABASE_URL', 'gamepay.db'],
      ['CALLBACK_SUCCESS_RESULTS', ' , '],
      ['CALLBACK_ALLOW_IPS', 'not-an-ip'], ['CALLBACK_ALLOW_IPS', '10.0.0.0/33'], ['CALLBACK_ALLOW_IPS', '10.0.0.0/8/1'], ['CALLBACK_ALLOW_IPS', '10.0.0.0/x'],
      ['CALLBACK_MAX_AGE_SECONDS', '0'], ['CALLBACK_MAX_AGE_SECONDS', 'soon'], ['CALLBACK_MAX_AGE_SECONDS', '-60'],
      ['ORDER_PREFIX', '8-1'], ['ORDER_PREFIX', 'x'.repeat(17)], ['ORDER_PREFIX', '订单'],
      ['ORDER_TTL_SECONDS', '0'], ['ORDER_TTL_SECONDS', '-5'], ['ORDER_TTL_SECONDS', '1.5'], ['ORDER_TTL_SECONDS', '30m'],
      ['WORKER_ID', '1024'], ['WORKER_ID', '-1'], ['WORKER_ID', 'auto'],
      ['HTTP_STATUS_MODE', 'lenient'], ['HTTP_STATUS_MODE', 'ALWAYS-200'],
      ['BODY_LIMIT', '10'], ['BODY_LIMIT', '64k'],
      ['RATE_LIMIT_PER_MINUTE', '-1'], ['RATE_LIMIT_PER_MINUTE', 'many'],
      ['TRUST_PROXY', 'loadbalancer'], ['TRUST_PROXY', '10.0.0.0/40'],
      ['LOG_LEVEL', 'loud'], ['LOG_LEVEL', 'INFO'],
      ['CALLBACK_RSA_PUBLIC_KEY', '/nonexistent/platform.pem'],
      ['CALLBACK_RSA_PUBLIC_KEY', writeTemp('not-a-key.pem', 'hello')],
      ['CALLBACK_SIGN_TYPES', 'SHA1'], ['CALLBACK_SIGN_TYPES', 'MD5,RSA'], ['CALLBACK_SIGN_TYPES', ' , '],
      ['CALLBACK_REJECT_RETENTION_DAYS', '0'], ['CALLBACK_REJECT_RETENTION_DAYS', 'forever'],
      ['REDIS_URL', 'localhost:6379'], ['REDIS_URL', 'http://cache:6379'],
      ['REQUEST_TIMEOUT_MS', '10'], ['REQUEST_TIMEOUT_MS', '10s'], ['KEEP_ALIVE_TIMEOUT_MS', '0'],
    ]
    for (const [variable, value] of cases) assertRefuses({ [variable]: value }, variable)
  })

  test('when NODE_ENV=production and CALLBACK_SECRET is missing or blank, then the start is refused naming CALLBACK_SECRET', () => {
    assertRefuses({ NODE_ENV: 'production' }, 'CALLBACK_SECRET')
    assertRefuses({ NODE_ENV: 'production', CALLBACK_SECRET: '' }, 'CALLBACK_SECRET')
    assertRefuses({ NODE_ENV: 'production', CALLBACK_SECRET: '   ' }, 'CALLBACK_SECRET')
  })

  test('when HOST is not loopback, then CALLBACK_SECRET is required, at least 16 characters and not the development secret', () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'gamepay.internal']) {
      assertRefuses({ HOST: host }, 'CALLBACK_SECRET')
      assertRefuses({ HOST: host, CALLBACK_SECRET: 'short-secret' }, 'CALLBACK_SECRET')
      assertRefuses({ HOST: host, CALLBACK_SECRET: DEV_CALLBACK_SECRET }, 'CALLBACK_SECRET')
      assert.equal(loadConfig({ HOST: host, CALLBACK_SECRET: 'sixteen-chars-ok' }).callbackSecret, 'sixteen-chars-ok')
    }
    assert.match(String((() => { try { loadConfig({ HOST: '0.0.0.0' }) } catch (err) { return err } })()), /HOST=0\.0\.0\.0 is not a loopback address/)
  })

  test('when NODE_ENV=production, then a short CALLBACK_SECRET or the development secret is refused, even on loopback', () => {
    assertRefuses({ NODE_ENV: 'production', CALLBACK_SECRET: 'fifteen-chars!!' }, 'CALLBACK_SECRET')
    assertRefuses({ NODE_ENV: 'production', CALLBACK_SECRET: DEV_CALLBACK_SECRET }, 'CALLBACK_SECRET')
    assert.equal(loadConfig({ NODE_ENV: 'production', CALLBACK_SECRET: 'sixteen-chars-ok' }).callbackSecretIsDevDefault, false)
  })

  test('when HOST is a loopback address outside production, then the development secret is allowed', () => {
    for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]']) {
      const config = loadConfig({ HOST: host })
      assert.equal(config.callbackSecret, DEV_CALLBACK_SECRET, host)
      assert.equal(config.callbackSecretIsDevDefault, true)
    }
  })

  test('when CALLBACK_SIGN_TYPES is RSA2 alone, then no CALLBACK_SECRET is needed or used, but the public key is', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const pem = writeTemp('platform.pem', publicKey.export({ type: 'spki', format: 'pem' }).toString())
    const config = loadConfig({ NODE_ENV: 'production', HOST: '0.0.0.0', CALLBACK_SIGN_TYPES: 'rsa2', CALLBACK_RSA_PUBLIC_KEY: pem })
    assert.equal(config.callbackSecret, null)
    assert.deepEqual(config.callbackSignTypes, ['RSA2'])
    assertRefuses({ CALLBACK_SIGN_TYPES: 'RSA2' }, 'CALLBACK_RSA_PUBLIC_KEY')
    assertRefuses({ NODE_ENV: 'production', CALLBACK_SIGN_TYPES: 'RSA2,MD5', CALLBACK_RSA_PUBLIC_KEY: pem }, 'CALLBACK_SECRET')
  })

  test('when the RSA public key is not RSA or shorter than 2048 bits, then the start is refused naming CALLBACK_RSA_PUBLIC_KEY', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
    assertRefuses({ CALLBACK_RSA_PUBLIC_KEY: writeTemp('ec.pem', ec) }, 'CALLBACK_RSA_PUBLIC_KEY')
    assertRefuses({ CALLBACK_RSA_PUBLIC_KEY: writeTemp('weak.pem', weak) }, 'CALLBACK_RSA_PUBLIC_KEY')
    assert.throws(() => loadConfig({ CALLBACK_RSA_PUBLIC_KEY: writeTemp('weak2.pem', weak) }), /1024-bit key; at least 2048 bits/)
  })

  test('when not in production and CALLBACK_SECRET is missing, then the development secret is used and flagged for the start-up warning', () => {
    for (const env of [{}, { NODE_ENV: 'development' }, { NODE_ENV: 'test' }]) {
      const config = loadConfig(env)
      assert.equal(config.callbackSecret, DEV_CALLBACK_SECRET)
      assert.equal(config.callbackSecretIsDevDefault, true)
    }
  })

  test('when a .env file is present, then it fills in variables and the real environment wins', () => {
    const file = writeTemp('.env', 'GAMEPAY_CFGTEST_FROM_FILE=file\nGAMEPAY_CFGTEST_BOTH=file\n')
    process.env.GAMEPAY_CFGTEST_BOTH = 'real'
    try {
      const env = loadEnv(file)
      assert.equal(env.GAMEPAY_CFGTEST_FROM_FILE, 'file')
      assert.equal(env.GAMEPAY_CFGTEST_BOTH, 'real')
      assert.equal(loadEnv(join(tmp(), 'missing.env')), process.env)
    } finally {
      delete process.env.GAMEPAY_CFGTEST_FROM_FILE
      delete process.env.GAMEPAY_CFGTEST_BOTH
    }
  })

  test('when `gamepay serve` starts with a bad value, then it stops with exit code 1 and a message naming the variable', () => {
    const bin = resolve('bin/gamepay.js')
    const cwd = tmp()
    for (const [env, variable] of [[{ PORT: 'abc' }, 'PORT'], [{ NODE_ENV: 'production' }, 'CALLBACK_SECRET']] as const) {
      const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(PORT|NODE_ENV|CALLBACK_SECRET|DATABASE_URL)$/.test(k)))
      const run = spawnSync(process.execPath, [bin, 'serve'], { cwd, env: { ...clean, ...env }, encoding: 'utf8', timeout: 30_000 })
      assert.equal(run.status, 1, run.stderr)
      assert.match(run.stderr, new RegExp(`configuration error: ${variable}:`))
      assert.doesNotMatch(run.stderr, /\n\s+at /, 'a message, not a stack trace')
    }
  })
})

forEachDialect('start-up configuration', (dialect) => {
  test('when NODE_ENV=production and no GOODS_SEED is given, then no demo catalog is loaded', async () => {
    const t = await createTestApp(dialect, { env: { NODE_ENV: 'production' } })
    try {
      const res = await t.app.inject({ method: 'GET', url: '/api/pay/goods?id=1' })
      assert.equal(res.json().state, 'GOODS_NOT_FOUND')
      assert.deepEqual(await t.ctx.store.db.selectFrom('goods').selectAll().execute(), [])
    } finally {
      await t.close()
    }
  })

  test('when GOODS_SEED names a missing or invalid file, then the start is refused naming GOODS_SEED', async () => {
    const bad = [
      join(tmp(), 'missing.json'),
      writeTemp('goods.json', '{not json'),
      writeTemp('goods.json', JSON.stringify([{ id: 1, item: '月卡', single_pric: 1.005 }])),
      writeTemp('goods.json', JSON.stringify([{ id: 1, item: '月卡', single_pric: 30 }, { id: 1, item: '季卡', single_pric: 80 }])),
    ]
    const url = await freshDatabaseUrl(dialect)
    for (const file of bad) {
      await assert.rejects(createTestApp(dialect, { url, env: { GOODS_SEED: file } }), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err))
        assert.ok(err.message.startsWith('GOODS_SEED:'), err.message)
        return true
      })
    }
  })
})
