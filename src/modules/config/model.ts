import type { LogLevel } from '../../libs/log'
import type { WebLoginEnv } from '../web-login/model'
import type { TokenApi } from '../wechat/model'

/** `start` serves WeChat; `dev` serves the simulator; `admin` (admin commands, migrate) opens start's stores without WeChat credentials. */
export type Mode = 'start' | 'dev' | 'admin'

export interface Config {
  port: number
  host: string
  databasePath: string
  /** postgres://… : users, sessions, notes and the access_token in PostgreSQL instead of SQLite. */
  databaseUrl?: string
  /** redis://… : sessions, login replay and the access_token lease in Redis. */
  redisUrl?: string
  /** Longest wait for one PostgreSQL query or Redis command before answering 503 STORE_UNAVAILABLE. */
  storeTimeoutMs: number
  wechat: {
    appid: string
    secret: string
    apiBase: string
    timeoutMs: number
    tokenApi: TokenApi
  }
  sessionTtlSeconds: number
  sweepIntervalSeconds: number
  sessionSliding: boolean
  maxSessionsPerUser: number
  /** Logins per minute per client IP; 0 turns the limit off. */
  loginRateLimit: number
  trustProxy: boolean
  logLevel: LogLevel
  metrics: boolean
  /** Scan a mini program code to log in on the web (WEB_LOGIN=true); null when off. */
  webLogin: WebLoginConfig | null
  /** Openids that may use the admin console (ADMIN_OPENIDS); empty: the console is off. */
  adminOpenids: readonly string[]
  /** Days login attempts are kept for the console's activity view (LOGIN_EVENTS_DAYS). */
  loginEventsDays: number
}

export interface WebLoginConfig {
  /** The mini program page the code opens (WEB_LOGIN_PAGE), without a leading slash. */
  page: string
  /** Which version of the mini program the code opens (WEB_LOGIN_ENV). */
  envVersion: WebLoginEnv
  /** How long a ticket (one code) lives, in seconds (WEB_LOGIN_TTL). */
  ttlSeconds: number
  /** Origins besides the server's own whose cookie-authenticated writes are accepted (WEB_ORIGINS). */
  origins: readonly string[]
}

export { LOG_LEVELS, type LogLevel } from '../../libs/log'

export const DEFAULTS = {
  PORT: 3000,
  HOST: '0.0.0.0',
  DATABASE_PATH: './data/wxauth.db',
  WECHAT_API_BASE: 'https://api.weixin.qq.com',
  WECHAT_TIMEOUT_MS: 5000,
  STORE_TIMEOUT_MS: 2000,
  WECHAT_TOKEN_API: 'stable',
  SESSION_TTL: 7200,
  SWEEP_INTERVAL: 60,
  SESSION_SLIDING: false,
  MAX_SESSIONS_PER_USER: 10,
  LOGIN_RATE_LIMIT: 20,
  TRUST_PROXY: false,
  LOG_LEVEL: 'info',
  METRICS: false,
  WEB_LOGIN: false,
  WEB_LOGIN_PAGE: 'pages/web-login/index',
  WEB_LOGIN_ENV: 'release',
  WEB_LOGIN_TTL: 120,
  LOGIN_EVENTS_DAYS: 30,
} as const

/** What `bun run dev` uses instead: reachable from this machine only (any code logs in), and its own database. */
export const DEV_DEFAULTS = {
  HOST: '127.0.0.1',
  DATABASE_PATH: './data/wxauth-dev.db',
} as const

const DAY_SECONDS = 24 * 60 * 60

/** The whole numbers each session-policy setting may take, for the environment and for wxauth() alike: [min, max]. */
export const LIMITS = {
  SESSION_TTL: [1, 365 * DAY_SECONDS],
  SWEEP_INTERVAL: [1, DAY_SECONDS],
  MAX_SESSIONS_PER_USER: [1, 10_000],
  LOGIN_RATE_LIMIT: [0, 1_000_000],
  STORE_TIMEOUT_MS: [10, 60_000],
  WEB_LOGIN_TTL: [10, 3600],
  LOGIN_EVENTS_DAYS: [1, 3650],
} as const

/** Credentials `bun run dev` uses with the built-in simulator; never valid at WeChat. */
export const SIMULATOR_CREDENTIALS = { appid: 'wx_simulator_appid', secret: 'simulator-secret' } as const
