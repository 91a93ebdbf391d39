import { WECHAT_ERRCODE } from './model'

const CODE_LIFETIME_MS = 5 * 60 * 1000
const MAX_REMEMBERED_CODES = 100_000

export interface WechatSimulatorOptions {
  appid: string
  secret: string
  now?: () => number
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
}

function json(body: unknown, status = 200): Response {
  // WeChat really does label its JSON text/plain; clients must cope.
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'text/plain' } })
}

function wechatError(errcode: number, errmsg: string): Response {
  return json({ errcode, errmsg: `${errmsg}, rid: ${crypto.randomUUID().slice(0, 8)}` })
}

/**
 * A stand-in for WeChat's jscode2session. A code reads `<user>[+unionid][#anything]`:
 * the same user always gets the same openid; `+unionid` adds a unionid; each code works once.
 * `errcode:<n>` answers that errcode.
 */
export function createWechatSimulator({ appid, secret, now = Date.now }: WechatSimulatorOptions): WechatSimulator {
  const usedCodes = new Map<string, number>()
  const sessionKeys = new Map<string, string>()

  const openidFor = (user: string) =>
    `o${new Bun.CryptoHasher('sha256').update(`${appid}:${user}`).digest('base64url').slice(0, 27)}`
  const unionidFor = (user: string) =>
    `u${new Bun.CryptoHasher('sha256').update(`union:${user}`).digest('base64url').slice(0, 27)}`

  function markUsed(code: string): boolean {
    const at = now()
    const usedAt = usedCodes.get(code)
    if (usedAt !== undefined && at - usedAt < CODE_LIFETIME_MS) return false
    usedCodes.delete(code)
    // Insertion order is age order: forget the oldest codes first, at O(1) per login.
    for (const [old, when] of usedCodes) {
      if (at - when < CODE_LIFETIME_MS && usedCodes.size < MAX_REMEMBERED_CODES) break
      usedCodes.delete(old)
    }
    usedCodes.set(code, at)
    return true
  }

  function jscode2session(params: URLSearchParams): Response {
    const code = params.get('js_code') ?? ''
    if (params.get('appid') !== appid) return wechatError(WECHAT_ERRCODE.INVALID_APPID, 'invalid appid')
    if (params.get('secret') !== secret) return wechatError(WECHAT_ERRCODE.INVALID_SECRET, 'invalid appsecret')
    if (params.get('grant_type') !== 'authorization_code') return wechatError(40002, 'invalid grant_type')
    const forced = /^errcode:(-?\d+)$/.exec(code)
    if (forced) return wechatError(Number(forced[1]), 'simulated error')
    if (code === '') return wechatError(WECHAT_ERRCODE.INVALID_CODE, 'invalid code')
    if (!markUsed(code)) return wechatError(WECHAT_ERRCODE.CODE_USED, 'code been used')
    const [userPart = code] = code.split('#')
    const withUnionid = userPart.endsWith('+unionid')
    const user = withUnionid ? userPart.slice(0, -'+unionid'.length) : userPart
    const openid = openidFor(user)
    const sessionKey = Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString('base64')
    sessionKeys.set(openid, sessionKey)
    return json({ openid, session_key: sessionKey, ...(withUnionid ? { unionid: unionidFor(user) } : {}) })
  }

  return {
    async fetch(request) {
      const url = new URL(request.url)
      if (request.method === 'GET' && url.pathname === '/sns/jscode2session') return jscode2session(url.searchParams)
      return json({ errcode: 40066, errmsg: 'invalid url' }, 404)
    },
    issueCode(user, options) {
      return `${user}${options?.unionid ? '+unionid' : ''}#${crypto.randomUUID()}`
    },
    openidFor,
    sessionKeyFor: (openid) => sessionKeys.get(openid),
  }
}
