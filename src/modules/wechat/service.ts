import { createHmac } from 'node:crypto'
import { AppError } from '../../libs/errors'
import { isRecord } from '../../libs/json'
import { logger } from '../../libs/log'
import {
  type AccessToken,
  type PhoneInfo,
  WECHAT_ERRCODE,
  type WechatClient,
  type WechatClientOptions,
  type WechatSession,
  type WxaCodeImage,
} from './model'

type JsonObject = Record<string, unknown>

/**
 * The 502, with a warn line saying why: the answer's `msg` (or `reason`, when the client should not
 * get the details) and the errcode. Never the URL: it carries the secret, a code or an access_token.
 */
function unavailable(msg: string, errcode?: number, reason = msg): AppError {
  logger().warn('WeChat unavailable', { reason, errcode })
  return new AppError(502, 'WECHAT_UNAVAILABLE', msg, errcode)
}

const NETWORK_FAILURES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'DNS lookup failed',
  EAI_AGAIN: 'DNS lookup failed',
}

/** Why a fetch threw, from its error code only: Bun's error also holds the URL (`path`), which must not be logged. */
function networkFailureOf(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  if (typeof code !== 'string') return error instanceof Error ? error.name : 'unknown error'
  return NETWORK_FAILURES[code] ? `${NETWORK_FAILURES[code]} (${code})` : code
}

/** Any API's errcode that has no meaning of its own there: 429 when rate limited, else 502. */
export function refusedBy(what: string, errcode: number): AppError {
  if (errcode === WECHAT_ERRCODE.RATE_LIMITED) {
    return new AppError(429, 'WECHAT_RATE_LIMITED', 'WeChat is rate limiting requests; try again shortly', errcode)
  }
  return unavailable(`WeChat refused ${what} (errcode ${errcode})`, errcode)
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
      return refusedBy('the login', errcode)
  }
}

function phoneErrcodeToError(errcode: number): AppError {
  if (errcode === WECHAT_ERRCODE.INVALID_CODE) {
    return new AppError(
      400,
      'PHONE_CODE_INVALID',
      'the phone number code is invalid, expired, used or not this user’s; ask the user again',
      errcode,
    )
  }
  return refusedBy('the phone number request', errcode)
}

const isFilledString = (value: unknown): value is string => typeof value === 'string' && value !== ''

/** WeChat's answers are JSON objects (often labelled text/plain); anything else is a 502. */
function parseAnswer(text: string): JsonObject {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    throw unavailable(text.trim() === '' ? 'WeChat sent an empty answer' : 'WeChat sent an answer that is not JSON')
  }
  if (!isRecord(body)) throw unavailable('WeChat sent an unexpected answer')
  return body
}

/** The body when errcode is absent or 0; otherwise throws what `toError` makes of the errcode. */
function successBody(text: string, toError: (errcode: number) => AppError): JsonObject {
  const body = parseAnswer(text)
  if (typeof body.errcode === 'number' && body.errcode !== 0) throw toError(body.errcode)
  return body
}

/** Validates jscode2session's JSON body. */
export function parseCode2SessionBody(text: string): WechatSession {
  const { openid, session_key: sessionKey, unionid } = successBody(text, errcodeToError)
  if (!isFilledString(openid) || !isFilledString(sessionKey)) {
    throw unavailable('WeChat answered without openid or session_key')
  }
  return { openid, sessionKey, unionid: isFilledString(unionid) ? unionid : null }
}

function parseAccessToken(text: string): AccessToken {
  const { access_token: accessToken, expires_in: expiresIn } = successBody(text, (errcode) =>
    refusedBy('the access_token request', errcode),
  )
  if (!isFilledString(accessToken) || typeof expiresIn !== 'number' || !(expiresIn > 0)) {
    throw unavailable('WeChat answered without access_token or expires_in')
  }
  return { accessToken, expiresInSeconds: expiresIn }
}

function parsePhoneInfo(text: string, appid: string): PhoneInfo {
  const info = successBody(text, phoneErrcodeToError).phone_info
  if (!isRecord(info)) throw unavailable('WeChat answered without phone_info')
  const { phoneNumber, purePhoneNumber, countryCode, watermark } = info
  const countryCodeOk = typeof countryCode === 'number' || isFilledString(countryCode)
  if (typeof phoneNumber !== 'string' || typeof purePhoneNumber !== 'string' || !countryCodeOk) {
    throw unavailable('WeChat sent an incomplete phone_info')
  }
  if (isRecord(watermark) && watermark.appid !== appid) throw unavailable('WeChat answered for another appid')
  return { phoneNumber, purePhoneNumber, countryCode }
}

/**
 * getwxacodeunlimit answers with the image itself, or with `{ errcode, errmsg }` as JSON (labelled
 * application/json or text/plain). Every errcode is a 502 carrying it, so a refused access_token is retried.
 */
function parseWxaCodeAnswer({ contentType, bytes }: WxaCodeImage): WxaCodeImage {
  if (/^image\//i.test(contentType.trim())) {
    if (bytes.length === 0) throw unavailable('WeChat sent an empty image')
    return { contentType, bytes }
  }
  const { errcode } = parseAnswer(new TextDecoder().decode(bytes))
  if (typeof errcode === 'number' && errcode !== 0) {
    throw unavailable(`WeChat refused the mini program code (errcode ${errcode})`, errcode)
  }
  throw unavailable('WeChat answered the mini program code request without an image')
}

/** wxa/checksession's signature: hex HMAC-SHA256 of "", keyed with the base64 session_key string itself. */
export function sessionKeySignature(sessionKey: string): string {
  return createHmac('sha256', sessionKey).update('').digest('hex')
}

export function createWechatClient({
  appid,
  secret,
  apiBase,
  timeoutMs,
  tokenApi = 'stable',
  fetch = globalThis.fetch,
}: WechatClientOptions): WechatClient {
  if (!appid || !secret) throw new Error('createWechatClient needs appid and secret')
  const base = apiBase.replace(/\/+$/, '')
  const url = (path: string, query: Record<string, string>) => `${base}${path}?${new URLSearchParams(query)}`
  const postJson = (body: JsonObject): RequestInit => ({
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })

  /**
   * The answer's body as `read` takes it (read within the timeout). Network failures, timeouts and
   * non-2xx answers become 502; URLs never reach a message.
   */
  async function exchange<T>(target: string, init: RequestInit, read: (response: Response) => Promise<T>): Promise<T> {
    const request = new Request(target, { ...init, signal: AbortSignal.timeout(timeoutMs) })
    let response: Response
    let body: T
    try {
      response = await fetch(request)
      body = await read(response)
    } catch (error) {
      const timedOut = error instanceof DOMException && error.name === 'TimeoutError'
      if (timedOut) throw unavailable(`WeChat did not answer within ${timeoutMs} ms`)
      throw unavailable('could not reach WeChat', undefined, `could not reach WeChat: ${networkFailureOf(error)}`)
    }
    if (!response.ok) throw unavailable(`WeChat answered HTTP ${response.status}`)
    return body
  }

  const send = (target: string, init: RequestInit = {}): Promise<string> =>
    exchange(target, init, (response) => response.text())

  const sendForBytes = (target: string, init: RequestInit = {}): Promise<WxaCodeImage> =>
    exchange(target, init, async (response) => ({
      contentType: response.headers.get('content-type') ?? '',
      bytes: new Uint8Array(await response.arrayBuffer()),
    }))

  function requestAccessToken(): Promise<string> {
    if (tokenApi === 'classic') return send(url('/cgi-bin/token', { grant_type: 'client_credential', appid, secret }))
    return send(
      `${base}/cgi-bin/stable_token`,
      postJson({ grant_type: 'client_credential', appid, secret, force_refresh: false }),
    )
  }

  return {
    appid,
    timeoutMs,
    async code2Session(code) {
      const query = { appid, secret, js_code: code, grant_type: 'authorization_code' }
      return parseCode2SessionBody(await send(url('/sns/jscode2session', query)))
    },
    async fetchAccessToken() {
      return parseAccessToken(await requestAccessToken())
    },
    async getPhoneNumber(accessToken, code, openid) {
      const text = await send(
        url('/wxa/business/getuserphonenumber', { access_token: accessToken }),
        postJson({ code, openid }),
      )
      return parsePhoneInfo(text, appid)
    },
    async checkSessionKey(accessToken, openid, sessionKey) {
      const query = {
        access_token: accessToken,
        openid,
        signature: sessionKeySignature(sessionKey),
        sig_method: 'hmac_sha256',
      }
      const body = parseAnswer(await send(url('/wxa/checksession', query)))
      if (body.errcode === 0) return true
      if (body.errcode === WECHAT_ERRCODE.INVALID_SIGNATURE) return false
      if (typeof body.errcode === 'number') throw refusedBy('the session_key check', body.errcode)
      throw unavailable('WeChat answered the session_key check without an errcode')
    },
    async getUnlimitedWxaCode(accessToken, { scene, page, checkPath, envVersion }) {
      const answer = await sendForBytes(
        url('/wxa/getwxacodeunlimit', { access_token: accessToken }),
        postJson({ scene, page, check_path: checkPath, env_version: envVersion }),
      )
      return parseWxaCodeAnswer(answer)
    },
  }
}
