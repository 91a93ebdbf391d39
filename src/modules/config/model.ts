import type { TokenApi } from '../wechat/model'

export type Mode = 'start' | 'dev'

export interface Config {
  port: number
  host: string
  databasePath: string
  wechat: {
    appid: string
    secret: string
    apiBase: string
    timeoutMs: number
    tokenApi: TokenApi
  }
  sessionTtlSeconds: number
  sweepIntervalSeconds: number
}

export const DEFAULTS = {
  PORT: 3000,
  HOST: '0.0.0.0',
  DATABASE_PATH: './data/wxauth.db',
  WECHAT_API_BASE: 'https://api.weixin.qq.com',
  WECHAT_TIMEOUT_MS: 5000,
  WECHAT_TOKEN_API: 'stable',
  SESSION_TTL: 7200,
  SWEEP_INTERVAL: 60,
} as const

/** Credentials `bun run dev` uses with the built-in simulator; never valid at WeChat. */
export const SIMULATOR_CREDENTIALS = { appid: 'wx_simulator_appid', secret: 'simulator-secret' } as const
