/**
 * test/browser.ts itself: Chromium starts, renders a page served on 127.0.0.1, takes a screenshot, and
 * blocks (and records) the page's request to another host.
 */
import { afterAll, beforeAll, describe, expect, spyOn, test } from 'bun:test'
import type { Browser } from 'puppeteer-core'
import {
  chromiumOrSkip,
  findChromium,
  isLocalUrl,
  launchBrowser,
  openPage,
  printScreenshotDir,
  screenshot,
} from './browser'

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
const EXTERNAL_SCRIPT = 'https://cdn.example.com/x.js'
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>kit</title><script src="${EXTERNAL_SCRIPT}"></script></head>
<body><h1 id="hello">Hello from 127.0.0.1</h1>
<script>document.body.dataset.state = typeof window.fromCdn === 'undefined' ? 'no-cdn' : 'cdn'</script></body></html>`

describe('browser kit helpers', () => {
  test('isLocalUrl: loopback and data: stay, everything else leaves the machine', () => {
    expect(isLocalUrl('http://127.0.0.1:3000/web')).toBe(true)
    expect(isLocalUrl('http://localhost/x')).toBe(true)
    expect(isLocalUrl('http://[::1]:8080/')).toBe(true)
    expect(isLocalUrl('data:image/png;base64,AAAA')).toBe(true)
    expect(isLocalUrl(EXTERNAL_SCRIPT)).toBe(false)
    expect(isLocalUrl('http://127.0.0.1.example.com/')).toBe(false)
    expect(isLocalUrl('http://localhost.example.com/')).toBe(false)
    expect(isLocalUrl('not a url')).toBe(false)
  })

  test('findChromium: CHROMIUM_PATH wins, and a wrong one says so', () => {
    expect(findChromium({ CHROMIUM_PATH: process.execPath })).toBe(process.execPath)
    expect(() => findChromium({ CHROMIUM_PATH: '/nonexistent/chromium' })).toThrow('CHROMIUM_PATH')
  })

  test('no Chromium: skipped with one line locally, an error under CI', () => {
    const none = { PATH: '/nonexistent' }
    expect(findChromium(none, '/nonexistent/chromium')).toBeNull()
    expect(() => chromiumOrSkip({ ...none, CI: 'true' }, '/nonexistent/chromium')).toThrow(
      'apt-get install -y chromium',
    )
    const warn = spyOn(console, 'warn').mockImplementation(() => {})
    try {
      expect(chromiumOrSkip(none, '/nonexistent/chromium')).toBeNull()
      expect(chromiumOrSkip(none, '/nonexistent/chromium')).toBeNull()
      expect(warn).toHaveBeenCalledTimes(1)
      expect(String(warn.mock.calls[0]?.[0])).toContain('apt-get install -y chromium')
    } finally {
      warn.mockRestore()
    }
  })
})

const chromium = chromiumOrSkip()

describe.skipIf(!chromium)('browser kit in Chromium', () => {
  let browser: Browser | undefined
  let server: ReturnType<typeof Bun.serve> | undefined

  beforeAll(async () => {
    server = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      fetch: () => new Response(PAGE, { headers: { 'content-type': 'text/html; charset=utf-8' } }),
    })
    browser = await launchBrowser(chromium as string)
  })
  afterAll(async () => {
    await browser?.close()
    server?.stop(true)
    printScreenshotDir()
  })

  test('renders a local page, screenshots it, and blocks the request to another host', async () => {
    const { page, blocked } = await openPage(browser as Browser)
    await page.goto(`http://127.0.0.1:${server?.port}/`, { waitUntil: 'load' })
    await page.waitForSelector('body[data-state]')
    expect(await page.$eval('#hello', (element) => element.textContent)).toBe('Hello from 127.0.0.1')
    expect(await page.$eval('body', (body) => body.getAttribute('data-state'))).toBe('no-cdn')
    expect(blocked).toEqual([EXTERNAL_SCRIPT])

    const path = await screenshot(page, 'browser kit')
    expect(path).toMatch(/wxauth-screens-[^/]+\/browser-kit\.png$/)
    const bytes = new Uint8Array(await Bun.file(path).arrayBuffer())
    expect([...bytes.subarray(0, 8)]).toEqual(PNG_SIGNATURE)
    expect(bytes.length).toBeGreaterThan(1000)
    await page.close()
  })
})
