/**
 * The admin console in a real browser: headless Chromium against `wxauth dev` (WEB_LOGIN=true and the
 * simulator's openid of one user in ADMIN_OPENIDS). Mini program logins over HTTP seed the activity
 * (OK, a bad code, two over the rate limit); `wxauth admin-link` makes a one-time link; the admin signs in
 * with it, sees the chart, finds a user by openid prefix and revokes their sessions (their skey is refused
 * at once). A second browser signs in through the web login as a user who is not an admin and gets the
 * "not an administrator" screen. Screenshots of each step go to a temporary folder, printed at the end.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'puppeteer-core'
import { SIMULATOR_CREDENTIALS } from '../../../src/modules/config/model'
import { createWechatSimulator } from '../../../src/modules/wechat/simulator'
import { TEST_BACKEND } from '../../backends'
import { chromiumOrSkip, type KitPage, launchBrowser, openPage, printScreenshotDir, screenshot } from '../../browser'
import { type DevServer, startDevServer } from '../../children'

const ROOT = join(import.meta.dir, '../../..')
const chromium = chromiumOrSkip()
const STEP_TIMEOUT_MS = 10_000
/** Logins per minute per address: the seeding below spends exactly these, then two more are refused. */
const LOGIN_RATE_LIMIT = 5
const LAPTOP = { width: 1280, height: 900 }
const PHONE = { width: 390, height: 844, isMobile: true, hasTouch: true, deviceScaleFactor: 2 }

// The dev server logs in on the simulator with the dev credentials: a code's user part decides the openid.
const simulator = createWechatSimulator(SIMULATOR_CREDENTIALS)
const ADMIN_USER = 'console-admin'
const ADMIN_OPENID = simulator.openidFor(ADMIN_USER)

/** The environment of the server and of the CLI next to it: the same database and admins. */
function environment(dataDir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    DATABASE_PATH: join(dataDir, 'dev.db'),
    WEB_LOGIN: 'true',
    ADMIN_OPENIDS: ADMIN_OPENID,
    LOGIN_RATE_LIMIT: String(LOGIN_RATE_LIMIT),
  }
}

/** `wxauth admin-link <openid>` as an operator runs it next to the server: the path of the link it prints. */
async function adminLink(dataDir: string, openid: string): Promise<string> {
  const proc = Bun.spawn(['bun', 'src/index.ts', 'admin-link', openid], {
    cwd: ROOT,
    env: environment(dataDir),
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])
  const path = /\/admin\/link\/[A-Za-z0-9_-]+#[A-Za-z0-9_-]+/.exec(stdout)?.[0]
  if (code !== 0 || !path) throw new Error(`wxauth admin-link failed (exit ${code}):\n${stdout}${stderr}`)
  return path
}

interface Answer {
  status: number
  body: Record<string, unknown> | null
}

async function call(server: DevServer, method: string, path: string, skey?: string, body?: unknown): Promise<Answer> {
  const response = await fetch(server.url + path, {
    method,
    headers: { ...(skey ? { skey } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await response.text()
  return { status: response.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> | null }
}

interface LoggedIn {
  skey: string
  user: { id: number; openid: string }
}

/** A mini program login with a simulator code; the dev server accepts any code. */
async function miniProgramLogin(server: DevServer, code: string): Promise<LoggedIn> {
  const answer = await call(server, 'POST', '/auth/login', undefined, { code })
  if (answer.status !== 200) throw new Error(`login ${code}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`)
  return answer.body as unknown as LoggedIn
}

// Page-side code is passed as text: the test's TypeScript has no DOM types.
const settled = (page: Page, view: string, timeout = STEP_TIMEOUT_MS) =>
  page.waitForSelector(`body[data-view="${view}"]:not([data-busy])`, { timeout })

const count = (page: Page, selector: string) => page.$$eval(selector, (nodes) => nodes.length)

const waitForCount = (page: Page, selector: string, expected: number) =>
  page.waitForFunction(`document.querySelectorAll(${JSON.stringify(selector)}).length === ${expected}`, {
    timeout: STEP_TIMEOUT_MS,
  })

/** Script errors and CSP violations; an answer with an error status (401 of /auth/me, 404 of /favicon.ico) is no error. */
const scriptErrors = (kit: KitPage) => kit.errors.filter((error) => !error.startsWith('Failed to load resource'))

// The dev server keeps everything in SQLite whatever WXAUTH_TEST_BACKEND says: one run is enough.
describe.skipIf(!chromium || TEST_BACKEND !== 'sqlite')('admin console in Chromium against wxauth dev', () => {
  let browser: Browser
  let server: DevServer
  let dataDir: string
  let admin: LoggedIn
  let alice: LoggedIn[]
  let bob: LoggedIn

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wxauth-console-'))
    server = await startDevServer(environment(dataDir))
    browser = await launchBrowser(chromium as string)

    // Activity for the overview: four logins (the admin once, alice twice, bob once), a code WeChat
    // refuses, then two over LOGIN_RATE_LIMIT from this address.
    admin = await miniProgramLogin(server, `${ADMIN_USER}#seed`)
    expect(admin.user.openid).toBe(ADMIN_OPENID)
    alice = [await miniProgramLogin(server, 'alice#1'), await miniProgramLogin(server, 'alice#2')]
    bob = await miniProgramLogin(server, 'bob#1')
    expect((await call(server, 'POST', '/auth/login', undefined, { code: 'errcode:40029' })).status).toBe(401)
    for (const code of ['alice#3', 'alice#4']) {
      const refused = await call(server, 'POST', '/auth/login', undefined, { code })
      expect(refused.status).toBe(429)
      expect(refused.body?.code).toBe('RATE_LIMITED')
    }
  }, 30_000)

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
    rmSync(dataDir, { recursive: true, force: true })
    printScreenshotDir()
  })

  test('an admin link signs in; the overview charts OK and failed logins; a user found by openid prefix loses every session at once', async () => {
    const kit = await openPage(browser)
    const { page } = kit
    await page.setViewport(LAPTOP)

    // The one-time link: opening it uses nothing up; the button signs in and goes to /admin.
    const linkPath = await adminLink(dataDir, ADMIN_OPENID)
    const linkPage = await page.goto(server.url + linkPath, { waitUntil: 'load' })
    expect(linkPage?.status()).toBe(200)
    expect(linkPage?.headers()['content-security-policy']).toContain("script-src 'sha256-")
    await screenshot(page, 'console-1-admin-link')
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('#sign-in')])
    expect(new URL(page.url()).pathname).toBe('/admin')

    // Overview: totals, the chart (one rect per non-zero hour and outcome) and the failure reasons.
    await settled(page, 'overview')
    await page.waitForSelector('#chart svg rect[data-outcome][data-hour]', { timeout: STEP_TIMEOUT_MS })
    expect(await page.$eval('#stat-users', (node) => node.textContent)).toBe('3')
    const bars = await page.$$eval('#chart svg rect[data-outcome][data-hour]', (rects) =>
      rects.map((rect) => ({
        outcome: rect.getAttribute('data-outcome'),
        count: Number(rect.getAttribute('data-count')),
      })),
    )
    const total = (outcome: string) =>
      bars.filter((bar) => bar.outcome === outcome).reduce((sum, bar) => sum + bar.count, 0)
    expect(total('OK')).toBeGreaterThanOrEqual(4)
    expect(total('RATE_LIMITED')).toBe(2)
    expect(total('WECHAT_CODE_INVALID')).toBe(1)
    // Every bar says what it is (a tooltip and the accessible name), and the numbers are also a table.
    expect(await count(page, '#chart svg rect[data-outcome] > title')).toBe(bars.length)
    expect(await count(page, '#chart-rows tr')).toBe(bars.length)
    expect(await count(page, '#chart-legend li')).toBe(new Set(bars.map((bar) => bar.outcome)).size)
    const failures = await page.$$eval('#failures li[data-outcome]', (items) =>
      items.map((item) => item.getAttribute('data-outcome')),
    )
    expect(failures).toContain('RATE_LIMITED')
    expect(failures).toContain('WECHAT_CODE_INVALID')
    expect(await page.$eval('#me-openid', (node) => node.textContent)).toBe(ADMIN_OPENID)
    await screenshot(page, 'console-2-overview')

    // On a phone: the chart redraws to the width and nothing makes the page scroll sideways.
    await page.setViewport(PHONE)
    await page.reload({ waitUntil: 'load' })
    await settled(page, 'overview')
    await page.waitForSelector('#chart svg rect[data-outcome]', { timeout: STEP_TIMEOUT_MS })
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(true)
    await screenshot(page, 'console-3-overview-phone')
    await page.setViewport(LAPTOP)

    // Users: search by the start of alice's openid; the list narrows to her and the hash keeps the query.
    const [first] = alice
    if (!first) throw new Error('alice did not log in')
    const prefix = first.user.openid.slice(0, 10)
    await page.click('#nav a[data-nav="users"]')
    await settled(page, 'users')
    await page.type('#user-search', prefix)
    await page.waitForFunction(
      `(() => {
        const rows = document.querySelectorAll('#user-table tbody tr[data-user-id]')
        return rows.length === 1 && rows[0].dataset.userId === ${JSON.stringify(String(first.user.id))}
      })()`,
      { timeout: STEP_TIMEOUT_MS },
    )
    expect(await page.evaluate('location.hash')).toBe(`#/users?q=${encodeURIComponent(prefix)}`)
    await screenshot(page, 'console-4-user-search')

    // Her page: two mini program sessions. A revoke asks first; cancelling changes nothing.
    await page.click(`#user-table tbody tr[data-user-id="${first.user.id}"] a`)
    await settled(page, 'user')
    await waitForCount(page, '#sessions tbody tr[data-session-id]', 2)
    await page.click('#sessions [data-revoke]')
    await page.waitForSelector('#confirm-dialog[open]', { timeout: STEP_TIMEOUT_MS })
    await page.click('#confirm-cancel')
    await page.waitForSelector('#confirm-dialog:not([open])', { timeout: STEP_TIMEOUT_MS })
    expect(await count(page, '#sessions tbody tr[data-session-id]')).toBe(2)
    for (const session of alice) expect((await call(server, 'GET', '/auth/me', session.skey)).status).toBe(200)

    // Revoke all, confirmed: the list empties and her skeys are refused at once.
    await page.click('#revoke-all')
    await page.waitForSelector('#confirm-dialog[open]', { timeout: STEP_TIMEOUT_MS })
    await screenshot(page, 'console-5-confirm-revoke-all')
    await page.click('#confirm-revoke')
    await waitForCount(page, '#sessions tbody tr[data-session-id]', 0)
    await settled(page, 'user')
    expect(await page.$eval('#notice', (node) => node.textContent)).toContain('Revoked 2 sessions')
    for (const session of alice) expect((await call(server, 'GET', '/auth/me', session.skey)).status).toBe(401)
    expect((await call(server, 'GET', '/auth/me', bob.skey)).status).toBe(200)
    expect((await call(server, 'GET', '/auth/me', admin.skey)).status).toBe(200)
    expect(await page.$eval('#revoke-all', (button) => (button as unknown as { disabled: boolean }).disabled)).toBe(
      true,
    )
    await screenshot(page, 'console-6-sessions-revoked')

    // Login attempts: every seeded one is listed.
    await page.click('#nav a[data-nav="logins"]')
    await settled(page, 'logins')
    expect(await count(page, '#login-table tbody tr[data-event-id]')).toBeGreaterThanOrEqual(7)
    await screenshot(page, 'console-7-logins')

    expect(kit.blocked).toEqual([])
    expect(scriptErrors(kit)).toEqual([])
    // Nothing secret in the server's log: not an skey, not a session cookie.
    expect(server.output()).not.toContain(first.skey)
    await page.close()
  }, 90_000)

  test('a user who is not an admin signs in with the web login and sees "not an administrator"; a used link is refused', async () => {
    // A second browser: its own cookie jar, nobody signed in.
    const other = await launchBrowser(chromium as string)
    try {
      const kit = await openPage(other)
      const { page } = kit
      await page.setViewport(LAPTOP)
      const created = page.waitForResponse(
        (response) => response.request().method() === 'POST' && new URL(response.url()).pathname === '/web/login',
        { timeout: STEP_TIMEOUT_MS },
      )
      await page.goto(`${server.url}/admin`, { waitUntil: 'load' })
      const { ticket } = (await (await created).json()) as { ticket: string }
      await settled(page, 'sign-in')
      await page.waitForSelector('body[data-signin="waiting"]', { timeout: STEP_TIMEOUT_MS })
      await screenshot(page, 'console-8-sign-in-code')

      // Bob's mini program scans the code and confirms: the browser is signed in as bob.
      const at = `/web/login/${encodeURIComponent(ticket)}`
      expect((await call(server, 'POST', `${at}/scan`, bob.skey)).status).toBe(200)
      expect((await call(server, 'POST', `${at}/confirm`, bob.skey)).status).toBe(204)
      await settled(page, 'forbidden')
      expect(await page.$eval('#forbidden h1', (node) => node.textContent)).toBe('This account is not an administrator')
      expect(await page.$eval('#forbidden-openid', (node) => node.textContent)).toBe(bob.user.openid)
      expect(await count(page, '#logout')).toBe(1)
      // The console's data stays closed to bob's cookie.
      const cookie = (await page.cookies(server.url)).find((entry) => entry.name === 'wxauth_session')
      expect(cookie?.httpOnly).toBe(true)
      const overview = await fetch(`${server.url}/admin/api/overview`, {
        headers: { cookie: `wxauth_session=${cookie?.value}` },
      })
      expect(overview.status).toBe(403)
      expect(((await overview.json()) as { code: string }).code).toBe('ADMIN_ONLY')
      await screenshot(page, 'console-9-not-an-admin')

      // Log out: back to a code to scan.
      await page.click('#forbidden-logout')
      await settled(page, 'sign-in')
      expect((await page.cookies(server.url)).some((entry) => entry.name === 'wxauth_session')).toBe(false)

      // An admin link works once: a second use says so and signs nobody in.
      const linkPath = await adminLink(dataDir, ADMIN_OPENID)
      // Used first outside the browser, as the link page would: its #fragment (the secret) POSTed to its path.
      const [path = '', secret = ''] = linkPath.split('#')
      const used = await fetch(server.url + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', origin: server.url },
        body: JSON.stringify({ secret }),
      })
      expect(used.status).toBe(204)
      await page.goto(server.url + linkPath, { waitUntil: 'load' })
      await page.click('#sign-in')
      await page.waitForSelector('body[data-state="used"]', { timeout: STEP_TIMEOUT_MS })
      expect(await page.$eval('#message', (node) => node.textContent)).toContain('used up or expired')
      expect(await page.$eval('#detail', (node) => node.textContent)).not.toBe('')
      expect((await page.cookies(server.url)).some((entry) => entry.name === 'wxauth_session')).toBe(false)
      await screenshot(page, 'console-10-link-used')

      expect(kit.blocked).toEqual([])
      expect(scriptErrors(kit)).toEqual([])
    } finally {
      await other.close()
    }
  }, 60_000)
})
