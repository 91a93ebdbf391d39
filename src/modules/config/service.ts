import { isExactOrigin } from '../../libs/origin'
import { PAGE_PATH, WEB_LOGIN_ENVS } from '../web-login/model'
import {
  type Config,
  DEFAULTS,
  DEV_DEFAULTS,
  LIMITS,
  LOG_LEVELS,
  type Mode,
  SIMULATOR_CREDENTIALS,
  type WebLoginConfig,
} from './model'

export type Env = Record<string, string | undefined>

/** A configuration problem: start-up stops and prints this one line. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}

function readInteger(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name]?.trim()
  if (raw === undefined || raw === '') return fallback
  const value = /^\d+$/.test(raw) ? Number(raw) : Number.NaN
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`)
  }
  return value
}

function readString(env: Env, name: string, fallback: string): string {
  const raw = env[name]?.trim()
  return raw === undefined || raw === '' ? fallback : raw
}

function readChoice<T extends string>(env: Env, name: string, choices: readonly T[], fallback: T): T {
  const raw = readString(env, name, fallback)
  const choice = choices.find((candidate) => candidate === raw)
  if (choice === undefined) throw new ConfigError(`${name} must be one of ${choices.join(', ')}, got "${raw}"`)
  return choice
}

function readBoolean(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase()
  if (raw === undefined || raw === '') return fallback
  if (raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  throw new ConfigError(`${name} must be true or false, got "${env[name]}"`)
}

function readApiBase(env: Env): string {
  const raw = readString(env, 'WECHAT_API_BASE', DEFAULTS.WECHAT_API_BASE)
  const protocol = URL.canParse(raw) ? new URL(raw).protocol : null
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new ConfigError(`WECHAT_API_BASE must be an http(s) URL, got "${raw}"`)
  }
  return raw.replace(/\/+$/, '')
}

function readUrl(env: Env, name: string, protocols: readonly string[], example: string): string | undefined {
  const raw = env[name]?.trim()
  if (raw === undefined || raw === '') return undefined
  const protocol = URL.canParse(raw) ? new URL(raw).protocol : null
  // The value may carry a password: never echo it.
  if (!protocol || !protocols.includes(protocol)) throw new ConfigError(`${name} must be a URL like ${example}`)
  return raw
}

function readCredentials(env: Env, mode: Mode): { appid: string; secret: string } {
  if (mode !== 'start') return SIMULATOR_CREDENTIALS
  const appid = env.WECHAT_APPID?.trim() ?? ''
  const secret = env.WECHAT_SECRET?.trim() ?? ''
  const missing = [appid ? '' : 'WECHAT_APPID', secret ? '' : 'WECHAT_SECRET'].filter(Boolean)
  if (missing.length > 0) throw new ConfigError(`missing required environment variables: ${missing.join(', ')}`)
  return { appid, secret }
}

function readPage(env: Env): string {
  const page = readString(env, 'WEB_LOGIN_PAGE', DEFAULTS.WEB_LOGIN_PAGE)
  if (!PAGE_PATH.test(page)) {
    throw new ConfigError(`WEB_LOGIN_PAGE must be a mini program page path like pages/web-login/index, got "${page}"`)
  }
  return page
}

/** Each entry must be exactly an origin: http(s)://host[:port], nothing after it. */
function readOrigins(env: Env): string[] {
  const entries = (env.WEB_ORIGINS ?? '').split(',').map((entry) => entry.trim())
  return entries.filter(Boolean).map((entry) => {
    if (!isExactOrigin(entry)) {
      throw new ConfigError(`WEB_ORIGINS must list origins like https://admin.example.com (no path), got "${entry}"`)
    }
    return entry
  })
}

/** Every WEB_* variable is checked even with WEB_LOGIN off: a typo fails now, not on the day it is turned on. */
function readWebLogin(env: Env): WebLoginConfig | null {
  const config: WebLoginConfig = {
    page: readPage(env),
    envVersion: readChoice(env, 'WEB_LOGIN_ENV', WEB_LOGIN_ENVS, DEFAULTS.WEB_LOGIN_ENV),
    ttlSeconds: readInteger(env, 'WEB_LOGIN_TTL', DEFAULTS.WEB_LOGIN_TTL, ...LIMITS.WEB_LOGIN_TTL),
    origins: readOrigins(env),
  }
  return readBoolean(env, 'WEB_LOGIN', DEFAULTS.WEB_LOGIN) ? config : null
}

/** An openid as WeChat hands them out: letters, digits, - and _. */
const OPENID = /^[A-Za-z0-9_-]{1,128}$/

/** The console signs admins in with the web login: ADMIN_OPENIDS without WEB_LOGIN=true is a mistake, not a silent no. */
function readAdminOpenids(env: Env, webLogin: WebLoginConfig | null): string[] {
  const openids = (env.ADMIN_OPENIDS ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
  const bad = openids.find((openid) => !OPENID.test(openid))
  if (bad !== undefined)
    throw new ConfigError(`ADMIN_OPENIDS must list openids (letters, digits, - and _), got "${bad}"`)
  if (openids.length > 0 && !webLogin) {
    throw new ConfigError('ADMIN_OPENIDS needs WEB_LOGIN=true: admins sign in to the console with the web login')
  }
  return openids
}

/** Reads and validates the whole configuration; throws ConfigError naming the bad variable. */
export function readConfig(env: Env, mode: Mode): Config {
  return {
    port: readInteger(env, 'PORT', DEFAULTS.PORT, 0, 65535),
    host: readString(env, 'HOST', mode === 'dev' ? DEV_DEFAULTS.HOST : DEFAULTS.HOST),
    databasePath: readString(
      env,
      'DATABASE_PATH',
      mode === 'dev' ? DEV_DEFAULTS.DATABASE_PATH : DEFAULTS.DATABASE_PATH,
    ),
    databaseUrl: readUrl(env, 'DATABASE_URL', ['postgres:', 'postgresql:'], 'postgres://user:password@host:5432/db'),
    redisUrl: readUrl(env, 'REDIS_URL', ['redis:', 'rediss:'], 'redis://host:6379'),
    storeTimeoutMs: readInteger(env, 'STORE_TIMEOUT_MS', DEFAULTS.STORE_TIMEOUT_MS, ...LIMITS.STORE_TIMEOUT_MS),
    wechat: {
      ...readCredentials(env, mode),
      apiBase: readApiBase(env),
      timeoutMs: readInteger(env, 'WECHAT_TIMEOUT_MS', DEFAULTS.WECHAT_TIMEOUT_MS, 1, 120_000),
      tokenApi: readChoice(env, 'WECHAT_TOKEN_API', ['stable', 'classic'], DEFAULTS.WECHAT_TOKEN_API),
    },
    sessionTtlSeconds: readInteger(env, 'SESSION_TTL', DEFAULTS.SESSION_TTL, ...LIMITS.SESSION_TTL),
    sweepIntervalSeconds: readInteger(env, 'SWEEP_INTERVAL', DEFAULTS.SWEEP_INTERVAL, ...LIMITS.SWEEP_INTERVAL),
    sessionSliding: readBoolean(env, 'SESSION_SLIDING', DEFAULTS.SESSION_SLIDING),
    maxSessionsPerUser: readInteger(
      env,
      'MAX_SESSIONS_PER_USER',
      DEFAULTS.MAX_SESSIONS_PER_USER,
      ...LIMITS.MAX_SESSIONS_PER_USER,
    ),
    loginRateLimit: readInteger(env, 'LOGIN_RATE_LIMIT', DEFAULTS.LOGIN_RATE_LIMIT, ...LIMITS.LOGIN_RATE_LIMIT),
    trustProxy: readBoolean(env, 'TRUST_PROXY', DEFAULTS.TRUST_PROXY),
    logLevel: readChoice(env, 'LOG_LEVEL', LOG_LEVELS, DEFAULTS.LOG_LEVEL),
    metrics: readBoolean(env, 'METRICS', DEFAULTS.METRICS),
    ...readConsole(env),
  }
}

function readConsole(env: Env): Pick<Config, 'webLogin' | 'adminOpenids' | 'loginEventsDays'> {
  const webLogin = readWebLogin(env)
  return {
    webLogin,
    adminOpenids: readAdminOpenids(env, webLogin),
    loginEventsDays: readInteger(env, 'LOGIN_EVENTS_DAYS', DEFAULTS.LOGIN_EVENTS_DAYS, ...LIMITS.LOGIN_EVENTS_DAYS),
  }
}
