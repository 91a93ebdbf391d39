export type FetchLike = (request: Request) => Promise<Response>

export interface WechatSession {
  openid: string
  sessionKey: string
  unionid: string | null
}

export interface AccessToken {
  accessToken: string
  expiresInSeconds: number
}

/** getuserphonenumber's phone_info, minus the watermark. countryCode arrives as WeChat sends it. */
export interface PhoneInfo {
  phoneNumber: string
  purePhoneNumber: string
  countryCode: string | number
}

export type TokenApi = 'stable' | 'classic'

/** What wxa/getwxacodeunlimit draws: `scene` (≤ 32 characters) reaches `page` of the `envVersion` build. */
export interface WxaCodeRequest {
  scene: string
  /** Without a leading '/', e.g. `pages/index/index`. */
  page: string
  /** Whether WeChat checks that `page` exists in the released version. */
  checkPath: boolean
  envVersion: 'release' | 'trial' | 'develop'
}

export interface WxaCodeImage {
  /** As WeChat labels it: image/jpeg or image/png. */
  contentType: string
  bytes: Uint8Array<ArrayBuffer>
}

export interface WechatClient {
  readonly appid: string
  /** The longest a call may take before it fails with 502. */
  readonly timeoutMs: number
  /** Exchanges a wx.login code at jscode2session; throws AppError with the mapped code. */
  code2Session(code: string): Promise<WechatSession>
  /** A fresh access_token from the stable (default) or classic token API. */
  fetchAccessToken(): Promise<AccessToken>
  /** Trades a getPhoneNumber button code for the user's phone number. */
  getPhoneNumber(accessToken: string, code: string, openid: string): Promise<PhoneInfo>
  /** Whether `sessionKey` is still the user's current session_key (wxa/checksession). */
  checkSessionKey(accessToken: string, openid: string, sessionKey: string): Promise<boolean>
  /** The mini program code (an image) for `scene` from wxa/getwxacodeunlimit. */
  getUnlimitedWxaCode(accessToken: string, request: WxaCodeRequest): Promise<WxaCodeImage>
}

export interface WechatClientOptions {
  appid: string
  secret: string
  apiBase: string
  timeoutMs: number
  /** `stable` (default): POST /cgi-bin/stable_token; `classic`: GET /cgi-bin/token. */
  tokenApi?: TokenApi
  /** Where requests go; defaults to the global fetch. The simulator's `fetch` plugs in here. */
  fetch?: FetchLike
}

export const WECHAT_ERRCODE = {
  SYSTEM_BUSY: -1,
  INVALID_CREDENTIAL: 40001,
  INVALID_APPID: 40013,
  INVALID_ACCESS_TOKEN: 40014,
  INVALID_CODE: 40029,
  INVALID_SECRET: 40125,
  CODE_USED: 40163,
  USER_BLOCKED: 40226,
  ACCESS_TOKEN_EXPIRED: 42001,
  RATE_LIMITED: 45011,
  INVALID_SIGNATURE: 87009,
} as const

/** errcodes saying the access_token itself was refused: drop it, fetch once, retry once. */
export const ACCESS_TOKEN_REJECTED: ReadonlySet<number> = new Set([
  WECHAT_ERRCODE.INVALID_CREDENTIAL,
  WECHAT_ERRCODE.INVALID_ACCESS_TOKEN,
  WECHAT_ERRCODE.ACCESS_TOKEN_EXPIRED,
])
