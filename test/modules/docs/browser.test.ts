/**
 * The API reference in a real browser: headless Chromium opens GET /openapi on wxauth served as the entry
 * point serves it (servedWithTelemetry). Every request off 127.0.0.1 is blocked and recorded: a page that
 * still loaded its viewer from a CDN would list it there, and would render nothing.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import type { Browser } from 'puppeteer-core'
import { ASSETS, ASSETS_PATH } from '../../../src/modules/docs/reference'
import { TEST_BACKEND } from '../../backends'
import { chromiumOrSkip, launchBrowser, openPage, printScreenshotDir, screenshot } from '../../browser'
import { observedApp } from '../../helpers'

const chromium = chromiumOrSkip()
const TAGS = ['auth', 'wechat', 'notes', 'health', 'web-login']
const WEB_LOGIN = { page: 'pages/web-login/index', envVersion: 'release', ttlSeconds: 120, origins: [] } as const

// The page is the same whatever WXAUTH_TEST_BACKEND says: one run is enough.
describe.skipIf(!chromium || TEST_BACKEND !== 'sqlite')('the API reference in Chromium', () => {
  let browser: Browser
  let server: ReturnType<typeof Bun.serve>

  beforeAll(async () => {
    const { served } = observedApp({ webLogin: WEB_LOGIN })
    server = Bun.serve({ ...served, hostname: '127.0.0.1', port: 0 })
    browser = await launchBrowser(chromium as string)
  }, 30_000)

  afterAll(async () => {
    await browser?.close()
    await server?.stop(true)
    printScreenshotDir()
  })

  test('renders every tag and operation from this server alone, with no script or CSP error', async () => {
    const { page, blocked, errors } = await openPage(browser)
    const fetched = new Set<string>()
    page.on('requestfinished', (request) => fetched.add(new URL(request.url()).pathname))
    await page.goto(`http://127.0.0.1:${server.port}/openapi`, { waitUntil: 'load' })
    // Swagger UI fetches the document, then draws one block per operation.
    await page
      .waitForFunction(`document.querySelectorAll('.opblock').length >= ${TAGS.length}`, { timeout: 30_000 })
      .catch((error: Error) => {
        throw new Error(`${error.message}; blocked: ${JSON.stringify(blocked)}; errors: ${JSON.stringify(errors)}`)
      })
    const operationIds = await page.$$eval('.opblock', (blocks) => blocks.map((block) => block.id))
    for (const tag of TAGS) {
      expect(operationIds.filter((id) => id.startsWith(`operations-${tag}-`)).length, tag).toBeGreaterThan(0)
    }
    const paths = await page.$$eval('.opblock-summary-path', (elements) =>
      elements.map((element) => element.textContent),
    )
    expect(paths).toContain('/auth/login')
    await screenshot(page, 'openapi-reference')

    // Opened, an operation shows its schemas and highlighted examples (styled through the CSSOM, which the CSP allows).
    await page.click('#operations-auth-postAuthLogin .opblock-summary-control')
    await page.waitForSelector('#operations-auth-postAuthLogin .responses-table .highlight-code', { timeout: 10_000 })
    await screenshot(page, 'openapi-reference-login')

    // "Try it out" calls this server (connect-src 'self'): GET /healthz answers 200 on the page.
    const healthz = '#operations-health-getHealthz'
    await page.click(`${healthz} .opblock-summary-control`)
    await page.click(`${healthz} .try-out__btn`)
    await page.click(`${healthz} .execute`)
    await page.waitForFunction(
      `document.querySelector('${healthz} .live-responses-table td.response-col_status:not(.col_header)')?.textContent.trim() === '200'`,
      { timeout: 10_000 },
    )
    // The Authorize dialog lists the three schemes.
    await page.click('.auth-wrapper .authorize')
    await page.waitForSelector('.modal-ux .auth-container', { timeout: 10_000 })
    expect((await page.$$('.modal-ux .auth-container')).length).toBe(3)
    await screenshot(page, 'openapi-reference-authorize')

    expect(blocked).toEqual([])
    expect(errors).toEqual([])
    const assets = Object.values(ASSETS).map((asset) => `${ASSETS_PATH}/${asset.name}`)
    expect([...fetched]).toEqual(expect.arrayContaining(['/openapi', '/openapi/json', ...assets]))
  }, 60_000)
})
