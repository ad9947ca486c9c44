// The operator console in a real browser: Debian's Chromium driven by playwright-core against a
// real server process. It checks what the pages show, and takes the README's screenshots
// (UPDATE_SCREENSHOTS=1 writes them to docs/screenshots/; otherwise to a scratch directory).
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { chromium, type Browser, type Page } from 'playwright-core'
import { createOrder, openStore, payOrder, ROOT, startInstance, stopAll, type Instance } from './processes.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const PASSWORD = 'a console password of some length'
const SHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? join(ROOT, 'docs', 'screenshots') : mkdtempSync(join(tmpdir(), 'gamepay-shots-'))
const dbFile = join(mkdtempSync(join(tmpdir(), 'gamepay-browser-')), 'console.db')
const url = `sqlite:${dbFile}`

function gamepay (args: string[], input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [join(ROOT, 'bin', 'gamepay.js'), ...args], { env: { PATH: process.env.PATH ?? '', DATABASE_URL: url, LOG_LEVEL: 'silent' } },
      (err, stdout, stderr) => err ? reject(new Error(`${args.join(' ')}: ${stderr}`)) : resolve(stdout))
    child.stdin?.end(input)
  })
}

describe('the console in Chromium', { skip: !existsSync(CHROMIUM) && !process.env.CI ? `no browser at ${CHROMIUM}` : false }, () => {
  let server: Instance
  let browser: Browser
  let page: Page
  const orders: Record<string, string> = {}

  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })

  before(async () => {
    mkdirSync(SHOTS, { recursive: true })
    server = await startInstance({ url, env: { NODE_ENV: 'development', SANDBOX_CASHIER: 'on' } })
    await gamepay(['admin', 'create', 'ops', '--role', 'admin'], PASSWORD)
    const base = server.base
    const make = async (name: string, user: string) => {
      const res = await createOrder(base, user)
      assert.equal(res.status, 200, JSON.stringify(res.body))
      orders[name] = res.body.data.order
    }
    // A paid order, verified; a second payment of the same order (money to refund); an amount
    // mismatch; an order left for the sandbox; one whose callback the platform "lost".
    await make('paid', 'player-1001')
    assert.equal((await payOrder(base, orders.paid, 'PLAT-1001')).status, 200)
    await make('twice', 'player-1002')
    assert.equal((await payOrder(base, orders.twice, 'PLAT-1002')).status, 200)
    assert.equal((await payOrder(base, orders.twice, 'PLAT-1002-B')).status, 200)
    await make('mismatch', 'player-1003')
    assert.equal((await payOrder(base, orders.mismatch, 'PLAT-1003', { amount: 31 })).status, 400)
    await make('sandbox', 'player-1004')
    await make('lost', 'player-1005')

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // The machine's network is closed: no background connections, no component updates.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    })
    const context = await browser.newContext({ locale: 'en-US', extraHTTPHeaders: { 'accept-language': 'en-US,en;q=0.9' }, viewport: { width: 1280, height: 800 } })
    page = await context.newPage()
    page.on('dialog', (dialog) => { dialog.accept().catch(() => {}) })
  })

  after(async () => {
    await browser?.close()
    await stopAll()
  })

  test('an operator signs in', async () => {
    await page.goto(`${server.base}/console/orders`)
    assert.match(page.url(), /\/console\/sign-in\?next=/)
    await shot('sign-in')
    await page.getByLabel('Name').fill('ops')
    await page.getByLabel('Password').fill(PASSWORD)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL(/\/console\/orders/)
    await page.getByText('ops (admin)').waitFor()
  })

  test('finds an order by user id and opens its timeline with the callback\'s verdict', async () => {
    await page.getByLabel('User id').fill('player-1001')
    await page.getByRole('button', { name: 'Search' }).click()
    await page.waitForURL(/user_id=player-1001/)
    const rows = page.locator('table tbody tr')
    assert.equal(await rows.count(), 1)
    assert.match(await rows.first().innerText(), /paid/)
    await shot('orders')
    await page.getByRole('link', { name: orders.paid }).click()
    await page.waitForURL(new RegExp(`/console/orders/${orders.paid}`))
    await page.getByText('Callback received: paid').waitFor()
    assert.equal(await page.locator('[data-verdict]').first().innerText(), 'valid')
    assert.equal(await page.locator('[data-glance="paid"]').innerText(), 'yes')
    await shot('order')
  })

  test('resolves an anomaly with a note', async () => {
    await page.goto(`${server.base}/console/anomalies?kind=amount_mismatch`)
    const row = page.locator('tr', { hasText: orders.mismatch })
    await row.locator('summary', { hasText: 'Resolve' }).click()
    await row.getByLabel('Note').fill('Player paid 31 by mistake; refunded 1 yuan through support')
    await row.getByRole('button', { name: 'Resolve' }).click()
    await page.getByRole('status').waitFor()
    await page.goto(`${server.base}/console/anomalies?kind=amount_mismatch&resolved=all`)
    await page.getByText(/resolved by ops/).waitFor()
  })

  test('records the refund of a duplicate payment, and the order\'s timeline shows it', async () => {
    await page.goto(`${server.base}/console/anomalies?kind=duplicate_payment`)
    await shot('anomalies')
    const row = page.locator('tr', { hasText: 'PLAT-1002-B' })
    await row.locator('summary', { hasText: 'Record refund' }).click()
    await row.getByLabel('Platform refund number').fill('RF-20261130-1')
    await row.getByLabel('Refunded at (Beijing time)').fill(shanghaiNow().slice(0, 16).replace(' ', 'T'))
    await row.getByRole('button', { name: 'Record refund' }).click()
    await page.getByRole('status').waitFor()
    await page.goto(`${server.base}/console/orders/${orders.twice}`)
    await page.getByText(/Refund recorded: 30.00 yuan, refund RF-20261130-1/).waitFor()
    const store = openStore(url)
    try {
      const refund = await store.db.selectFrom('refunds').selectAll().executeTakeFirstOrThrow()
      assert.equal(refund.refund_no, 'RF-20261130-1')
      assert.equal(Number(refund.amount_fen), 3000)
      const order = await store.db.selectFrom('orders').select(['status', 'paid_fen']).where('order_no', '=', orders.twice).executeTakeFirstOrThrow()
      assert.deepEqual({ status: order.status, paid: Number(order.paid_fen) }, { status: 'paid', paid: 3000 })
    } finally {
      await store.close()
    }
  })

  test('changes a price and sees it in the history, while the existing order keeps its price', async () => {
    await page.goto(`${server.base}/console/goods/2`)
    await page.getByLabel('Price (yuan)').fill('28.00')
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('status').waitFor()
    const history = page.locator('table', { hasText: 'Old → new' })
    await history.getByText('30.00 → 28.00').waitFor()
    assert.match(await history.innerText(), /ops/)
    await shot('goods')
    const store = openStore(url)
    try {
      const kept = await store.db.selectFrom('orders').select('amount_fen').where('order_no', '=', orders.sandbox).executeTakeFirstOrThrow()
      assert.equal(Number(kept.amount_fen), 3000)
    } finally {
      await store.close()
    }
  })

  test('pays an order in the sandbox cashier and sees it paid', async () => {
    await page.goto(`${server.base}/console/sandbox`)
    await page.getByLabel('Order number').fill(orders.sandbox)
    await page.getByRole('button', { name: 'Show the order' }).click()
    await page.getByRole('button', { name: 'Pay', exact: true }).click()
    await page.getByText(/Sent a successful payment callback/).waitFor()
    await shot('sandbox')
    await page.goto(`${server.base}/console/orders/${orders.sandbox}`)
    assert.equal(await page.locator('[data-glance="paid"]').innerText(), 'yes')
    assert.equal(await page.locator('[data-verdict]').first().innerText(), 'valid')
  })

  test('imports a statement with one lost payment, applies it, and sees the order paid and audited', async () => {
    const statement = [
      'platform_order_no,game_order_no,amount,time',
      `PLAT-1001,${orders.paid},30.00,${shanghaiNow()}`,
      `PLAT-LOST-1005,${orders.lost},30.00,${shanghaiNow()}`,
    ].join('\n')
    await page.goto(`${server.base}/console/reconciliation`)
    await page.getByLabel('Statement file').setInputFiles({ name: 'statement.csv', mimeType: 'text/csv', buffer: Buffer.from(statement) })
    await page.getByRole('button', { name: 'Compare' }).click()
    const lost = page.locator('tr', { hasText: 'PLAT-LOST-1005' })
    await lost.waitFor()
    await shot('reconciliation')
    await lost.getByLabel('Note (optional)').fill('callback lost during the platform outage')
    await lost.getByRole('button', { name: 'Apply payment' }).click()
    await page.waitForURL(new RegExp(`/console/orders/${orders.lost}\\?done=applied`))
    assert.equal(await page.locator('[data-glance="paid"]').innerText(), 'yes')
    await page.getByText(/applied by hand by ops/).waitFor()
    await page.goto(`${server.base}/console/audit?target=${orders.lost}`)
    await page.getByText('payment.manual-apply').waitFor()
    const store = openStore(url)
    try {
      const payment = await store.db.selectFrom('payments').selectAll().where('order_no', '=', orders.lost).executeTakeFirstOrThrow()
      assert.deepEqual({ gyyx: payment.gyyx_order_no, kind: payment.kind, by: payment.applied_by }, { gyyx: 'PLAT-LOST-1005', kind: 'applied', by: 'ops' })
    } finally {
      await store.close()
    }
  })

  test('the dashboard reads at a glance, and the order page works on a phone, in Chinese', async () => {
    await page.goto(`${server.base}/console/dashboard`)
    assert.equal(await page.locator('[data-period="today"] [data-figure="created"]').innerText(), '5')
    await shot('dashboard')
    await page.setViewportSize({ width: 390, height: 844 })
    await page.goto(`${server.base}/console/orders/${orders.twice}?lang=zh`)
    await page.getByRole('heading', { name: '时间线' }).waitFor()
    await shot('order-phone')
    // The switch back, by keyboard: the link is reachable and named.
    await page.getByRole('link', { name: 'English' }).focus()
    await page.keyboard.press('Enter')
    await page.getByRole('heading', { name: 'Timeline' }).waitFor()
  })
})

/** Now as the platform's statement writes it: Asia/Shanghai wall-clock time. */
function shanghaiNow () {
  return new Date(Date.now() + 8 * 3_600_000).toISOString().slice(0, 19).replace('T', ' ')
}
