import { createCipheriv } from 'node:crypto'
import { encode } from 'uqr'
import { pngFromModules } from '../../libs/png'
import { WECHAT_ERRCODE } from './model'
import { sessionKeySignature } from './service'

const CODE_LIFETIME_MS = 5 * 60 * 1000
const MAX_REMEMBERED_CODES = 100_000
const ACCESS_TOKEN_SECONDS = 7200
/** WeChat hands out a new stable token in the last 5 minutes and keeps the old one working meanwhile. */
const TOKEN_OVERLAP_MS = 5 * 60 * 1000

export interface WechatSimulatorOptions {
  appid: string
  secret: string
  now?: () => number
}

export interface EncryptedData {
  encryptedData: string
  iv: string
}

export interface WechatSimulator {
  /** Answers like api.weixin.qq.com; pass it as the WeChat client's `fetch` or to `Bun.serve`. */
  fetch(request: Request): Promise<Response>
  /** A fresh single-use code for `user`, as wx.login would hand out. */
  issueCode(user: string, options?: { unionid?: boolean }): string
  /** The openid the simulator gives `user` under this appid. */
  openidFor(user: string): string
  /** The session_key handed out at the user's latest login, if any. */
  sessionKeyFor(openid: string): string | undefined
  /** A single-use getPhoneNumber code for this user, as `<button open-type="getPhoneNumber">` would hand out. */
  issuePhoneCode(openid: string, purePhoneNumber?: string): string
  /** `data` plus a watermark, encrypted under the user's latest session_key, as wx.getUserProfile & co. deliver it. */
  encryptFor(openid: string, data: Record<string, unknown>): EncryptedData
  /** Every access_token issued so far stops working (as after a leak or a forced refresh elsewhere). */
  revokeAccessTokens(): void
}

function json(body: unknown, status = 200): Response {
  // WeChat really does label its JSON text/plain; clients must cope.
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'text/plain' } })
}

function wechatError(errcode: number, errmsg: string): Response {
  return json({ errcode, errmsg: `${errmsg}, rid: ${crypto.randomUUID().slice(0, 8)}` })
}

const randomBase64 = (bytes: number) => Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('base64')

/** getwxacodeunlimit's scene: at most 32 of these characters. */
const SCENE_CHARACTERS = /^[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]*$/
const ENV_VERSIONS: ReadonlySet<unknown> = new Set(['release', 'trial', 'develop'])

/** getwxacodeunlimit: a real QR code of the scene as a PNG, or WeChat's errcode for a bad argument. */
function wxaCode({ scene, page, check_path: checkPath, env_version: envVersion }: Record<string, unknown>): Response {
  if (typeof scene !== 'string' || scene.length < 1 || scene.length > 32) {
    return wechatError(40169, 'invalid length for scene, or the data is not json string')
  }
  if (!SCENE_CHARACTERS.test(scene)) return wechatError(40129, 'invalid scene')
  // WeChat takes the page without a leading '/' and without a query string.
  if (page !== undefined && (typeof page !== 'string' || page.startsWith('/') || page.includes('?'))) {
    return wechatError(41030, 'invalid page')
  }
  const badCheckPath = checkPath !== undefined && typeof checkPath !== 'boolean'
  if (badCheckPath || (envVersion !== undefined && !ENV_VERSIONS.has(envVersion))) {
    return wechatError(40097, 'invalid args')
  }
  const png = pngFromModules(encode(scene, { border: 0 }).data)
  return new Response(png, { headers: { 'content-type': 'image/png' } })
}

async function readJsonObject(request: Request): Promise<Record<string, unknown>> {
  try {
    const body: unknown = await request.json()
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {}
  } catch {
    return {}
  }
}

/** Single-use codes that expire after CODE_LIFETIME_MS; memory stays bounded. */
function createCodeBook(now: () => number) {
  const used = new Map<string, number>()
  return function markUsed(code: string): boolean {
    const at = now()
    const usedAt = used.get(code)
    if (usedAt !== undefined && at - usedAt < CODE_LIFETIME_MS) return false
    used.delete(code)
    // Insertion order is age order: forget the oldest codes first, at O(1) per login.
    for (const [old, when] of used) {
      if (at - when < CODE_LIFETIME_MS && used.size < MAX_REMEMBERED_CODES) break
      used.delete(old)
    }
    used.set(code, at)
    return true
  }
}

/** access_tokens as WeChat keeps them: each valid until a time; the stable one is reused until its last 5 minutes. */
function createTokenBook(now: () => number) {
  const validUntil = new Map<string, number>()
  let stable: string | null = null

  function issue(): string {
    const token = `sim-token-${randomBase64(24)}`
    validUntil.set(token, now() + ACCESS_TOKEN_SECONDS * 1000)
    return token
  }
  const secondsLeft = (token: string) => Math.floor(((validUntil.get(token) ?? 0) - now()) / 1000)

  return {
    stable(forceRefresh: boolean) {
      if (stable && forceRefresh) validUntil.delete(stable)
      if (!stable || !validUntil.has(stable) || secondsLeft(stable) * 1000 < TOKEN_OVERLAP_MS) stable = issue()
      return { access_token: stable, expires_in: secondsLeft(stable) }
    },
    classic() {
      for (const [token, until] of validUntil) validUntil.set(token, Math.min(until, now() + TOKEN_OVERLAP_MS))
      const token = issue()
      return { access_token: token, expires_in: ACCESS_TOKEN_SECONDS }
    },
    /** 0 when usable, else the errcode WeChat answers with. */
    check(token: string | null): number {
      const until = token === null ? undefined : validUntil.get(token)
      if (until === undefined) return WECHAT_ERRCODE.INVALID_CREDENTIAL
      return until > now() ? 0 : WECHAT_ERRCODE.ACCESS_TOKEN_EXPIRED
    },
    revokeAll() {
      validUntil.clear()
      stable = null
    },
  }
}

/**
 * A stand-in for WeChat's server APIs. A login code reads `<user>[+unionid][#anything]`:
 * the same user always gets the same openid; `+unionid` adds a unionid; each code works once.
 * A phone code `phone:<digits>[#anything]` gives that number to whoever asks, once.
 * A login or phone code `errcode:<n>` answers that errcode.
 */
export function createWechatSimulator({ appid, secret, now = Date.now }: WechatSimulatorOptions): WechatSimulator {
  const markUsed = createCodeBook(now)
  const tokens = createTokenBook(now)
  const sessionKeys = new Map<string, string>()
  const phoneCodes = new Map<string, { openid: string; purePhoneNumber: string; issuedAt: number }>()

  const openidFor = (user: string) =>
    `o${new Bun.CryptoHasher('sha256').update(`${appid}:${user}`).digest('base64url').slice(0, 27)}`
  const unionidFor = (user: string) =>
    `u${new Bun.CryptoHasher('sha256').update(`union:${user}`).digest('base64url').slice(0, 27)}`
  const forcedErrcode = (code: string) => /^errcode:(-?\d+)$/.exec(code)?.[1]

  function credentialsError(params: { appid?: unknown; secret?: unknown }): Response | null {
    if (params.appid !== appid) return wechatError(WECHAT_ERRCODE.INVALID_APPID, 'invalid appid')
    if (params.secret !== secret) return wechatError(WECHAT_ERRCODE.INVALID_SECRET, 'invalid appsecret')
    return null
  }

  function jscode2session(params: URLSearchParams): Response {
    const code = params.get('js_code') ?? ''
    const refused = credentialsError({ appid: params.get('appid'), secret: params.get('secret') })
    if (refused) return refused
    if (params.get('grant_type') !== 'authorization_code') return wechatError(40002, 'invalid grant_type')
    const forced = forcedErrcode(code)
    if (forced) return wechatError(Number(forced), 'simulated error')
    if (code === '') return wechatError(WECHAT_ERRCODE.INVALID_CODE, 'invalid code')
    if (!markUsed(code)) return wechatError(WECHAT_ERRCODE.CODE_USED, 'code been used')
    const [userPart = code] = code.split('#')
    const withUnionid = userPart.endsWith('+unionid')
    const user = withUnionid ? userPart.slice(0, -'+unionid'.length) : userPart
    const openid = openidFor(user)
    const sessionKey = randomBase64(16)
    sessionKeys.set(openid, sessionKey)
    return json({ openid, session_key: sessionKey, ...(withUnionid ? { unionid: unionidFor(user) } : {}) })
  }

  function stableToken(body: Record<string, unknown>): Response {
    const refused = credentialsError(body)
    if (refused) return refused
    if (body.grant_type !== 'client_credential') return wechatError(40002, 'invalid grant_type')
    return json(tokens.stable(body.force_refresh === true))
  }

  function classicToken(params: URLSearchParams): Response {
    const refused = credentialsError({ appid: params.get('appid'), secret: params.get('secret') })
    if (refused) return refused
    if (params.get('grant_type') !== 'client_credential') return wechatError(40002, 'invalid grant_type')
    return json(tokens.classic())
  }

  /** The number behind a phone code: one issued to this openid, or a free-form `phone:<digits>[#anything]`. */
  function redeemPhoneCode(code: string, openid: unknown): string | null {
    const issued = phoneCodes.get(code)
    if (issued) {
      phoneCodes.delete(code)
      const fresh = now() - issued.issuedAt < CODE_LIFETIME_MS
      return fresh && openid === issued.openid ? issued.purePhoneNumber : null
    }
    const freeForm = /^phone:(\d{5,15})(#.*)?$/.exec(code)
    return freeForm?.[1] && markUsed(code) ? freeForm[1] : null
  }

  function phoneNumber(body: Record<string, unknown>): Response {
    const code = typeof body.code === 'string' ? body.code : ''
    const forced = forcedErrcode(code)
    if (forced) return wechatError(Number(forced), 'simulated error')
    const purePhoneNumber = redeemPhoneCode(code, body.openid)
    if (!purePhoneNumber) return wechatError(WECHAT_ERRCODE.INVALID_CODE, 'invalid code')
    return json({
      errcode: 0,
      errmsg: 'ok',
      phone_info: {
        phoneNumber: purePhoneNumber,
        purePhoneNumber,
        countryCode: '86',
        watermark: { timestamp: Math.floor(now() / 1000), appid },
      },
    })
  }

  function checkSession(params: URLSearchParams): Response {
    const sessionKey = sessionKeys.get(params.get('openid') ?? '')
    const signed = sessionKey !== undefined && params.get('signature') === sessionKeySignature(sessionKey)
    if (params.get('sig_method') !== 'hmac_sha256' || !signed) {
      return wechatError(WECHAT_ERRCODE.INVALID_SIGNATURE, 'invalid signature')
    }
    return json({ errcode: 0, errmsg: 'ok' })
  }

  async function route(request: Request, url: URL): Promise<Response> {
    const key = `${request.method} ${url.pathname}`
    if (key === 'GET /sns/jscode2session') return jscode2session(url.searchParams)
    if (key === 'POST /cgi-bin/stable_token') return stableToken(await readJsonObject(request))
    if (key === 'GET /cgi-bin/token') return classicToken(url.searchParams)
    const tokenErrcode = tokens.check(url.searchParams.get('access_token'))
    const tokenApis = ['POST /wxa/business/getuserphonenumber', 'GET /wxa/checksession', 'POST /wxa/getwxacodeunlimit']
    if (tokenApis.includes(key) && tokenErrcode !== 0) return wechatError(tokenErrcode, 'invalid credential')
    if (key === 'POST /wxa/business/getuserphonenumber') return phoneNumber(await readJsonObject(request))
    if (key === 'GET /wxa/checksession') return checkSession(url.searchParams)
    if (key === 'POST /wxa/getwxacodeunlimit') return wxaCode(await readJsonObject(request))
    return json({ errcode: 40066, errmsg: 'invalid url' }, 404)
  }

  return {
    fetch: (request) => route(request, new URL(request.url)),
    issueCode(user, options) {
      return `${user}${options?.unionid ? '+unionid' : ''}#${crypto.randomUUID()}`
    },
    openidFor,
    sessionKeyFor: (openid) => sessionKeys.get(openid),
    issuePhoneCode(openid, purePhoneNumber = '13800138000') {
      const code = `issued-phone-${crypto.randomUUID()}`
      phoneCodes.set(code, { openid, purePhoneNumber, issuedAt: now() })
      return code
    },
    encryptFor(openid, data) {
      const sessionKey = sessionKeys.get(openid)
      if (!sessionKey) throw new Error('encryptFor: this user has not logged in to the simulator')
      const iv = crypto.getRandomValues(new Uint8Array(16))
      const cipher = createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv)
      const plain = JSON.stringify({ ...data, watermark: { timestamp: Math.floor(now() / 1000), appid } })
      const encrypted = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return { encryptedData: encrypted.toString('base64'), iv: Buffer.from(iv).toString('base64') }
    },
    revokeAccessTokens: () => tokens.revokeAll(),
  }
}
