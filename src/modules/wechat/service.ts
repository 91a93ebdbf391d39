import { AppError } from '../../libs/errors'
import { WECHAT_ERRCODE, type WechatClient, type WechatClientOptions, type WechatSession } from './model'

function unavailable(msg: string, errcode?: number): AppError {
  return new AppError(502, 'WECHAT_UNAVAILABLE', msg, errcode)
}

/** Maps a jscode2session errcode to our error; switch on the number, never on errmsg. */
export function errcodeToError(errcode: number): AppError {
  switch (errcode) {
    case WECHAT_ERRCODE.INVALID_CODE:
    case WECHAT_ERRCODE.CODE_USED:
      return new AppError(
        401,
        'WECHAT_CODE_INVALID',
        'the login code is invalid, expired or already used; call wx.login again',
        errcode,
      )
    case WECHAT_ERRCODE.USER_BLOCKED:
      return new AppError(403, 'WECHAT_USER_BLOCKED', 'WeChat has blocked this user from logging in', errcode)
    case WECHAT_ERRCODE.RATE_LIMITED:
      return new AppError(429, 'WECHAT_RATE_LIMITED', 'WeChat is rate limiting logins; try again shortly', errcode)
    default:
      return unavailable(`WeChat refused the login (errcode ${errcode})`, errcode)
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Validates jscode2session's JSON body (which may arrive as text/plain). */
export function parseCode2SessionBody(text: string): WechatSession {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw unavailable(text.trim() === '' ? 'WeChat sent an empty answer' : 'WeChat sent an answer that is not JSON')
  }
  if (!isRecord(body)) throw unavailable('WeChat sent an unexpected answer')
  const errcode = body.errcode
  if (typeof errcode === 'number' && errcode !== 0) throw errcodeToError(errcode)
  const { openid, session_key: sessionKey, unionid } = body
  if (typeof openid !== 'string' || openid === '' || typeof sessionKey !== 'string' || sessionKey === '') {
    throw unavailable('WeChat answered without openid or session_key')
  }
  return { openid, sessionKey, unionid: typeof unionid === 'string' && unionid !== '' ? unionid : null }
}

export function createWechatClient({
  appid,
  secret,
  apiBase,
  timeoutMs,
  fetch = globalThis.fetch,
}: WechatClientOptions): WechatClient {
  if (!appid || !secret) throw new Error('createWechatClient needs appid and secret')
  const endpoint = `${apiBase.replace(/\/+$/, '')}/sns/jscode2session`

  async function requestSession(code: string): Promise<string> {
    const query = new URLSearchParams({ appid, secret, js_code: code, grant_type: 'authorization_code' })
    const request = new Request(`${endpoint}?${query}`, { signal: AbortSignal.timeout(timeoutMs) })
    let response: Response
    let text: string
    try {
      response = await fetch(request)
      text = await response.text()
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === 'TimeoutError'
      throw unavailable(timedOut ? `WeChat did not answer within ${timeoutMs} ms` : 'could not reach WeChat')
    }
    if (!response.ok) throw unavailable(`WeChat answered HTTP ${response.status}`)
    return text
  }

  return {
    async code2Session(code) {
      return parseCode2SessionBody(await requestSession(code))
    },
  }
}
