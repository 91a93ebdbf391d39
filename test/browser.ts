import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import puppeteer, { type Browser, type HTTPRequest, type Page } from 'puppeteer-core'

/**
 * A headless Chromium for browser tests: Debian's own (`CHROMIUM_PATH`, else /usr/bin/chromium, else
 * `chromium-browser` on the PATH) driven by puppeteer-core. Pages reach only 127.0.0.1/localhost: every
 * other request is blocked and recorded, so a test can assert nothing left the machine.
 * Locally a missing Chromium skips the suite with one line saying how to install it; under CI (CI=true)
 * it fails the run instead, as test/backends.ts does for PostgreSQL and Redis.
 *
 *   const chromium = chromiumOrSkip()
 *   describe.skipIf(!chromium)('…', () => {
 *     let browser: Browser
 *     beforeAll(async () => { browser = await launchBrowser(chromium as string) })
 *     afterAll(() => browser?.close())
 *     test('…', async () => {
 *       const { page, blocked } = await openPage(browser)
 *       …; expect(blocked).toEqual([])
 *     })
 *   })
 */

const HOW_TO_INSTALL = 'apt-get install -y chromium (or set CHROMIUM_PATH)'

type Env = Record<string, string | undefined>
const DEBIAN_CHROMIUM = '/usr/bin/chromium'

/**
 * The Chromium executable to use, or null when there is none: CHROMIUM_PATH (which must exist), else
 * /usr/bin/chromium (Debian's package), else `chromium-browser` on the PATH (Ubuntu's name).
 */
export function findChromium(env: Env = process.env, debianPath = DEBIAN_CHROMIUM): string | null {
  const chosen = env.CHROMIUM_PATH
  if (chosen) {
    if (!existsSync(chosen)) throw new Error(`CHROMIUM_PATH=${chosen} does not exist`)
    return chosen
  }
  if (existsSync(debianPath)) return debianPath
  return Bun.which('chromium-browser', { PATH: env.PATH ?? '' })
}

let warned = false
/** The Chromium this run can use; null (said once) when the browser suites skip. Under CI a missing one throws. */
export function chromiumOrSkip(env: Env = process.env, debianPath = DEBIAN_CHROMIUM): string | null {
  const found = findChromium(env, debianPath)
  if (found) return found
  if (env.CI === 'true') throw new Error(`CI must run the browser suites, but Chromium is missing: ${HOW_TO_INSTALL}`)
  if (!warned) {
    warned = true
    console.warn(`browser suites skipped (no Chromium): ${HOW_TO_INSTALL}`)
  }
  return null
}

/** Headless Chromium; `--no-sandbox` only as root (Chromium refuses to start its sandbox there). */
export function launchBrowser(executablePath: string): Promise<Browser> {
  const args = ['--disable-dev-shm-usage', '--disable-background-networking', '--no-first-run']
  if (process.getuid?.() === 0) args.push('--no-sandbox')
  return puppeteer.launch({ executablePath, headless: true, args })
}

const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]'])
/** Schemes that never touch the network. */
const LOCAL_SCHEMES = new Set(['data:', 'blob:', 'about:'])

/** True when `url` stays on this machine. */
export function isLocalUrl(url: string): boolean {
  try {
    const parsed = new URL(url)
    return LOCAL_SCHEMES.has(parsed.protocol) || LOCAL_HOSTS.has(parsed.hostname)
  } catch {
    return false
  }
}

export interface KitPage {
  page: Page
  /** Every URL the page tried to reach off this machine, in order (each was aborted). */
  blocked: string[]
  /** Uncaught exceptions and console.error lines of the page, for a test to print or assert empty. */
  errors: string[]
}

/** A new page in `browser` whose requests to any host but 127.0.0.1/localhost are blocked and recorded. */
export async function openPage(browser: Browser): Promise<KitPage> {
  const page = await browser.newPage()
  const blocked: string[] = []
  const errors: string[] = []
  await page.setRequestInterception(true)
  page.on('request', function blockOffMachine(request: HTTPRequest) {
    if (request.isInterceptResolutionHandled()) return
    if (isLocalUrl(request.url())) {
      void request.continue()
      return
    }
    blocked.push(request.url())
    void request.abort('blockedbyclient')
  })
  page.on('pageerror', (error) => errors.push(String(error)))
  page.on('console', (message) => {
    // A blocked request also logs a console error: it is in `blocked` already.
    if (message.type() === 'error' && !message.text().includes('ERR_BLOCKED_BY_CLIENT')) errors.push(message.text())
  })
  return { page, blocked, errors }
}

let screenshots: string | null = null
/** This run's screenshot folder, made on first use (one per `bun test` run: modules are shared across files). */
export function screenshotDir(): string {
  screenshots ??= mkdtempSync(join(tmpdir(), 'wxauth-screens-'))
  return screenshots
}

let printed = false
/** Prints where this run's screenshots are, once per run; nothing when no screenshot was taken. */
export function printScreenshotDir(): void {
  if (printed || !screenshots) return
  printed = true
  console.log(`screenshots: ${screenshots}`)
}

/** A full-page PNG of `page` as `<name>.png` in this run's folder; returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const path = join(screenshotDir(), `${name.replace(/[^A-Za-z0-9._-]+/g, '-')}.png`) as `${string}.png`
  await page.screenshot({ path, fullPage: true })
  return path
}
