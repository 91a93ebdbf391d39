/**
 * The web login in a real browser: headless Chromium (Debian's) opens GET /web on a dev server
 * (`wxauth dev`, WEB_LOGIN=true), this test plays the mini program over HTTP (it reads the ticket from
 * the code the page shows), and the page signs in, keeps its session over a reload and logs out.
 * Screenshots of each step go to a temporary folder, printed at the end.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import jsQR from 'jsqr'
import { PNG } from 'pngjs'
import type { Browser, Page } from 'puppeteer-core'
import { TEST_BACKEND } from '../../backends'
import { chromiumOrSkip, type KitPage, launchBrowser, openPage, printScreenshotDir, screenshot } from '../../browser'
import { type DevServer, startDevServer } from '../../children'

const chromium = chromiumOrSkip()
const STEP_TIMEOUT_MS = 10_000

/** The scene in the code the page shows, read as the phone's camera would: from the image's pixels. */
async function sceneShownBy(page: Page, server: DevServer): Promise<string> {
  const src = await page.$eval('#qrcode', (image) => image.getAttribute('src') ?? '')
  // The image is the browser's to fetch (it needs the HttpOnly binding cookie): take the cookie from it.
  const cookies = await page.cookies(new URL(src, server.url).href)
  const binding = cookies.find((cookie) => cookie.name === 'wxauth_web_ticket')
  expect(binding?.httpOnly).toBe(true)
  const response = await fetch(new URL(src, server.url), { headers: { cookie: `wxauth_web_ticket=${binding?.value}` } })
  expect(response.status).toBe(200)
  const png = PNG.sync.read(Buffer.from(await response.arrayBuffer()))
  const decoded = jsQR(new Uint8ClampedArray(png.data), png.width, png.height)
  if (!decoded) throw new Error('the code on the page does not decode')
  return decoded.data
}

async function miniProgram(server: DevServer, path: string, skey?: string, body?: unknown) {
  const response = await fetch(server.url + path, {
    method: 'POST',
    headers: { ...(skey ? { skey } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  })
  const text = await response.text()
  return { status: response.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> | null }
}

const stateOf = (page: Page) => page.$eval('body', (body) => body.dataset.state ?? '')
const waitForState = (page: Page, state: string, timeout = STEP_TIMEOUT_MS) =>
  page.waitForSelector(`body[data-state="${state}"]`, { timeout })

/** The code image has loaded and decoded in the browser (not a broken image). */
// Page-side code as text: the test's TypeScript has no DOM types.
const codeImageLoaded = (page: Page) =>
  page.waitForFunction(
    "(() => { const image = document.querySelector('#qrcode'); return image?.complete === true && image.naturalWidth > 0 })()",
    { timeout: STEP_TIMEOUT_MS },
  )

// The dev server keeps everything in SQLite whatever WXAUTH_TEST_BACKEND says: one run is enough.
describe.skipIf(!chromium || TEST_BACKEND !== 'sqlite')('web login in Chromium against wxauth dev', () => {
  let browser: Browser
  let server: DevServer
  let dataDir: string
  let kit: KitPage

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'wxauth-web-login-'))
    server = await startDevServer({ DATABASE_PATH: join(dataDir, 'dev.db'), WEB_LOGIN: 'true' })
    browser = await launchBrowser(chromium as string)
    kit = await openPage(browser)
  })

  afterAll(async () => {
    await browser?.close()
    await server?.stop()
    rmSync(dataDir, { recursive: true, force: true })
    printScreenshotDir()
  })

  test('shows a code, signs in within 2 s of the confirm, keeps the session over a reload, logs out to a fresh code', async () => {
    const { page } = kit
    await page.goto(`${server.url}/web`, { waitUntil: 'load' })
    await waitForState(page, 'waiting')
    await codeImageLoaded(page)
    expect(await page.$eval('#status', (element) => element.textContent)).toContain('Scan')
    await screenshot(page, '1-code-shown')

    // The mini program: logged in (dev accepts any code), it scans the code on the screen.
    const login = await miniProgram(server, '/auth/login', undefined, { code: 'browser-test-phone' })
    expect(login.status).toBe(200)
    const { skey, user } = login.body as { skey: string; user: { id: number; openid: string } }
    const scene = await sceneShownBy(page, server)
    expect(scene).toMatch(/^[A-Za-z0-9_-]{22}$/)
    const scanned = await miniProgram(server, `/web/login/${encodeURIComponent(scene)}/scan`, skey)
    expect(scanned.status).toBe(200)
    expect(scanned.body?.browser).toMatchObject({ userAgent: expect.stringContaining('Chrome') })
    await waitForState(page, 'scanned')
    expect(await page.$eval('#status', (element) => element.textContent)).toContain('Confirm')
    await screenshot(page, '2-scanned-confirm-on-phone')

    const confirmedAt = performance.now()
    expect((await miniProgram(server, `/web/login/${encodeURIComponent(scene)}/confirm`, skey)).status).toBe(204)
    await waitForState(page, 'signed-in', 2000)
    expect(performance.now() - confirmedAt).toBeLessThan(2000)
    expect(await page.$eval('#user-openid', (element) => element.textContent)).toBe(user.openid)
    const session = (await page.cookies(server.url)).find((cookie) => cookie.name === 'wxauth_session')
    expect(session?.httpOnly).toBe(true)
    expect(session?.sameSite).toBe('Lax')
    // The page never sees its session: the cookie is not readable from script.
    expect(await page.evaluate('document.cookie')).not.toContain('wxauth_session')
    await screenshot(page, '3-signed-in')

    await page.reload({ waitUntil: 'load' })
    await waitForState(page, 'signed-in')
    expect(await page.$eval('#user-openid', (element) => element.textContent)).toBe(user.openid)
    await screenshot(page, '4-signed-in-after-reload')

    await page.click('#logout')
    await waitForState(page, 'waiting')
    await codeImageLoaded(page)
    expect(await sceneShownBy(page, server)).not.toBe(scene)
    expect((await page.cookies(server.url)).some((cookie) => cookie.name === 'wxauth_session')).toBe(false)
    // The session is over on the server too: the old cookie value no longer signs anyone in.
    const me = await fetch(`${server.url}/auth/me`, { headers: { cookie: `wxauth_session=${session?.value}` } })
    expect(me.status).toBe(401)
    await screenshot(page, '5-logged-out-fresh-code')

    expect(kit.blocked).toEqual([])
    // Script errors and CSP violations would be here; answers with an error status (the 401 of /auth/me
    // before signing in, /favicon.ico's 404) are the page working as meant.
    expect(kit.errors.filter((error) => !error.startsWith('Failed to load resource'))).toEqual([])
    expect(await stateOf(page)).toBe('waiting')
    // Nothing secret in the server's log: not the skey, not the session cookie's value.
    expect(server.output()).not.toContain(skey)
    expect(server.output()).not.toContain(session?.value ?? 'no session')
  }, 60_000)
})
