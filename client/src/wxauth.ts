/**
 * wxauth client for WeChat Mini Programs: wx.login → POST /auth/login → skey in wx storage, then
 * every request carries the skey. A rejected skey triggers one shared re-login and one retry.
 * No dependencies; uses only wx.login, wx.request and the wx storage calls.
 * Written in ES2017 syntax so older mini program runtimes can run the build as is.
 */

export interface WxRequestSuccess {
  statusCode: number
  data: unknown
  header: Record<string, string>
}

export interface WxFail {
  errMsg: string
}

export interface WxRequestOptions {
  url: string
  method?: string
  data?: unknown
  header?: Record<string, string>
  timeout?: number
  success(result: WxRequestSuccess): void
  fail(error: WxFail): void
}

/** The part of the mini program's `wx` this client uses. */
export interface WxLike {
  login(options: { timeout?: number; success(result: { code: string }): void; fail(error: WxFail): void }): void
  request(options: WxRequestOptions): unknown
  getStorageSync(key: string): unknown
  setStorageSync(key: string, value: string): void
  removeStorageSync(key: string): void
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS'

export interface RequestOptions {
  /** A path on baseUrl, e.g. "/notes". */
  url: string
  method?: HttpMethod
  data?: unknown
  header?: Record<string, string>
}

export interface Response<T = unknown> {
  statusCode: number
  data: T
  header: Record<string, string>
}

export interface User {
  id: number
  openid: string
  unionid: string | null
  createdAt: string
}

export interface LoginResult {
  skey: string
  expiresAt: string
  user: User
}

export interface WxAuthOptions {
  /** The wxauth server, e.g. "https://api.example.com". */
  baseUrl: string
  /** Defaults to the mini program's global `wx`. */
  wx?: WxLike
  /** wx storage key holding the skey. Default "wxauth:skey". */
  storageKey?: string
  /** Header carrying the skey: "skey" (default) or "Authorization" (sent as `Bearer <skey>`). */
  headerName?: string
  /** ms for wx.login and each wx.request. Default 10000. */
  timeout?: number
  /** Called once per failed login, with the error every waiting caller receives. */
  onLoginFailed?: (error: WxAuthError) => void
}

/** The browser that asked for a web login, as the server saw it when the browser created the code. */
export interface WebLoginBrowser {
  /** The browser's IP address; null when the server could not tell. */
  ip: string | null
  userAgent: string
  /** When the browser created the code (ISO 8601). */
  createdAt: string
}

export interface WebLoginScan {
  browser: WebLoginBrowser
  /** When the code expires (ISO 8601): confirm before then. */
  expiresAt: string
}

/**
 * Web login: a web page shows a mini program code; the user scans it, and this mini program (logged in)
 * confirms or denies. The code opens your web-login page with the ticket as its `scene`:
 *
 * ```js
 * Page({
 *   async onLoad(query) {
 *     this.scene = decodeURIComponent(query.scene) // WeChat hands the scene over URI-encoded
 *     const { browser, expiresAt } = await auth.webLogin.scan(this.scene)
 *     this.setData({ browser, expiresAt }) // show it: the user checks the IP and time are theirs
 *   },
 *   confirm() { return auth.webLogin.confirm(this.scene) },
 *   deny() { return auth.webLogin.deny(this.scene) },
 * })
 * ```
 *
 * Each call sends the skey (logging in first or again when needed, as `request` does). A failure rejects
 * with a `WxAuthError`: TICKET_INVALID (unknown or used up), TICKET_EXPIRED, TICKET_CLAIMED (another
 * user scanned it first), or any other server or NETWORK error.
 */
export interface WebLogin {
  /** Tells the server this user scanned the code (the browser shows "scanned"); resolves with the browser to show. */
  scan(scene: string): Promise<WebLoginScan>
  /** Signs the browser in as this user. Call `scan` first and show its browser: the user must see which browser they sign in. */
  confirm(scene: string): Promise<void>
  /** Refuses: the browser shows "denied" and must ask for a new code. */
  deny(scene: string): Promise<void>
}

export interface WxAuth {
  /** Logs in now (sharing a login already in flight) and stores the skey. */
  login(): Promise<LoginResult>
  /** Sends a request with the skey, logging in first or again when needed. Resolves with any HTTP status. */
  request<T = unknown>(options: RequestOptions): Promise<Response<T>>
  /** Ends the session on the server and forgets the skey (forgotten even if the server cannot be reached). */
  logout(): Promise<void>
  /** The stored skey, or null. */
  skey(): string | null
  /** Scan-to-login for web pages: scan, then confirm or deny a browser's code. */
  webLogin: WebLogin
}

/**
 * Why a login or request failed. `code` and `msg` are the server's when it answered (e.g.
 * WECHAT_CODE_INVALID); otherwise WX_LOGIN_FAILED (wx.login failed), NETWORK (wx.request failed)
 * or BAD_RESPONSE (the server answered something that is not wxauth's).
 */
export class WxAuthError extends Error {
  // `declare`: no class-field syntax in the build, which older runtimes cannot parse.
  declare readonly code: string
  declare readonly msg: string
  declare readonly statusCode: number | null
  declare readonly errcode: number | null

  constructor(code: string, msg: string, statusCode: number | null = null, errcode: number | null = null) {
    super(`${code}: ${msg}`)
    this.name = 'WxAuthError'
    this.code = code
    this.msg = msg
    this.statusCode = statusCode
    this.errcode = errcode
  }
}

const SKEY_REJECTED = ['SKEY_MISSING', 'SKEY_INVALID']

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null
}

function isLoginResult(value: unknown): value is LoginResult {
  return isObject(value) && typeof value.skey === 'string' && value.skey !== '' && isObject(value.user)
}

function isWebLoginScan(value: unknown): value is WebLoginScan {
  return (
    isObject(value) &&
    typeof value.expiresAt === 'string' &&
    isObject(value.browser) &&
    typeof value.browser.userAgent === 'string' &&
    typeof value.browser.createdAt === 'string' &&
    (value.browser.ip === null || typeof value.browser.ip === 'string')
  )
}

function isSkeyRejection(response: Response): boolean {
  const data = response.data
  return response.statusCode === 401 && isObject(data) && SKEY_REJECTED.indexOf(String(data.code)) !== -1
}

/** The server's `{ code, msg }` as an error, or BAD_RESPONSE when the body is something else. */
function errorFromResponse(response: Response, what = 'login'): WxAuthError {
  const data = response.data
  if (isObject(data) && typeof data.code === 'string' && typeof data.msg === 'string') {
    const errcode = typeof data.errcode === 'number' ? data.errcode : null
    return new WxAuthError(data.code, data.msg, response.statusCode, errcode)
  }
  return new WxAuthError('BAD_RESPONSE', `${what} answered HTTP ${response.statusCode}`, response.statusCode)
}

declare const wx: WxLike | undefined

function defaultWx(): WxLike {
  if (typeof wx === 'undefined') throw new Error('wxauth: no global wx; pass { wx } to createWxAuth')
  return wx
}

export function createWxAuth(options: WxAuthOptions): WxAuth {
  const wx = options.wx || defaultWx()
  const baseUrl = options.baseUrl.replace(/\/+$/, '')
  const storageKey = options.storageKey || 'wxauth:skey'
  const headerName = options.headerName || 'skey'
  const timeout = options.timeout || 10000
  const bearer = headerName.toLowerCase() === 'authorization'
  let loginInFlight: Promise<LoginResult> | null = null

  function storedSkey(): string | null {
    const value = wx.getStorageSync(storageKey)
    return typeof value === 'string' && value !== '' ? value : null
  }

  function send(request: RequestOptions, skey: string | null): Promise<Response> {
    const header: Record<string, string> = Object.assign({}, request.header)
    if (skey) header[headerName] = bearer ? `Bearer ${skey}` : skey
    const path = request.url.charAt(0) === '/' ? request.url : `/${request.url}`
    return new Promise((resolve, reject) => {
      wx.request({
        url: baseUrl + path,
        method: request.method || 'GET',
        data: request.data,
        header,
        timeout,
        success: (result) => resolve({ statusCode: result.statusCode, data: result.data, header: result.header }),
        fail: (error) => reject(new WxAuthError('NETWORK', error.errMsg)),
      })
    })
  }

  function wxLoginCode(): Promise<string> {
    return new Promise((resolve, reject) => {
      wx.login({
        timeout,
        success: (result) => resolve(result.code),
        fail: (error) => reject(new WxAuthError('WX_LOGIN_FAILED', error.errMsg)),
      })
    })
  }

  async function loginOnce(): Promise<LoginResult> {
    try {
      const code = await wxLoginCode()
      const response = await send({ url: '/auth/login', method: 'POST', data: { code } }, null)
      if (response.statusCode !== 200 || !isLoginResult(response.data)) throw errorFromResponse(response)
      wx.setStorageSync(storageKey, response.data.skey)
      return response.data
    } catch (caught) {
      const error = caught instanceof WxAuthError ? caught : new WxAuthError('WX_LOGIN_FAILED', String(caught))
      if (options.onLoginFailed) options.onLoginFailed(error)
      throw error
    }
  }

  /** Every caller during a login shares it: one wx.login, one POST /auth/login. */
  function login(): Promise<LoginResult> {
    if (!loginInFlight) {
      const done = () => {
        loginInFlight = null
      }
      loginInFlight = loginOnce()
      loginInFlight.then(done, done)
    }
    return loginInFlight
  }

  /** The skey to retry with after `rejected` was refused: one a concurrent login already stored, or a new login's. */
  async function skeyAfterRejection(rejected: string): Promise<string> {
    const current = storedSkey()
    if (current && current !== rejected) return current
    if (current === rejected) wx.removeStorageSync(storageKey)
    return (await login()).skey
  }

  async function request<T>(req: RequestOptions): Promise<Response<T>> {
    const skey = storedSkey() || (await login()).skey
    const first = await send(req, skey)
    if (!isSkeyRejection(first)) return first as Response<T>
    const retried = await send(req, await skeyAfterRejection(skey))
    return retried as Response<T>
  }

  async function logout(): Promise<void> {
    const skey = storedSkey()
    if (!skey) return
    wx.removeStorageSync(storageKey)
    await send({ url: '/auth/logout', method: 'POST' }, skey)
  }

  /** POST /web/login/<scene>/<action> with the skey; anything but `expected` rejects with the server's error. */
  async function webLoginCall(scene: string, action: 'scan' | 'confirm' | 'deny', expected: number): Promise<unknown> {
    if (typeof scene !== 'string' || scene === '')
      throw new WxAuthError('TICKET_INVALID', 'no scene: open this page from the code')
    const url = `/web/login/${encodeURIComponent(scene)}/${action}`
    const response = await request({ url, method: 'POST' })
    if (response.statusCode !== expected) throw errorFromResponse(response, `web login ${action}`)
    return response.data
  }

  const webLogin: WebLogin = {
    async scan(scene) {
      const data = await webLoginCall(scene, 'scan', 200)
      if (!isWebLoginScan(data))
        throw new WxAuthError('BAD_RESPONSE', 'web login scan answered an unexpected body', 200)
      return data
    },
    async confirm(scene) {
      await webLoginCall(scene, 'confirm', 204)
    },
    async deny(scene) {
      await webLoginCall(scene, 'deny', 204)
    },
  }

  return { login, request, logout, skey: storedSkey, webLogin }
}
