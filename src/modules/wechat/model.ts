export type FetchLike = (request: Request) => Promise<Response>

export interface WechatSession {
  openid: string
  sessionKey: string
  unionid: string | null
}

export interface WechatClient {
  /** Exchanges a wx.login code at jscode2session; throws AppError with the mapped code. */
  code2Session(code: string): Promise<WechatSession>
}

export interface WechatClientOptions {
  appid: string
  secret: string
  apiBase: string
  timeoutMs: number
  /** Where requests go; defaults to the global fetch. The simulator's `fetch` plugs in here. */
  fetch?: FetchLike
}

export const WECHAT_ERRCODE = {
  SYSTEM_BUSY: -1,
  INVALID_APPID: 40013,
  INVALID_CODE: 40029,
  INVALID_SECRET: 40125,
  CODE_USED: 40163,
  USER_BLOCKED: 40226,
  RATE_LIMITED: 45011,
} as const
