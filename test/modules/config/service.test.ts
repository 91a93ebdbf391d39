import { describe, expect, test } from 'bun:test'
import { ConfigError, readConfig } from '../../../src/server'

const creds = { WECHAT_APPID: 'wx1', WECHAT_SECRET: 's1' }

describe('readConfig', () => {
  test('applies the documented defaults', () => {
    const config = readConfig(creds, 'start')
    expect(config).toEqual({
      port: 3000,
      host: '0.0.0.0',
      databasePath: './data/wxauth.db',
      storeTimeoutMs: 2000,
      wechat: { appid: 'wx1', secret: 's1', apiBase: 'https://api.weixin.qq.com', timeoutMs: 5000, tokenApi: 'stable' },
      sessionTtlSeconds: 7200,
      sweepIntervalSeconds: 60,
      sessionSliding: false,
      maxSessionsPerUser: 10,
      loginRateLimit: 20,
      trustProxy: false,
      logLevel: 'info',
      metrics: false,
      webLogin: null,
      adminOpenids: [],
      loginEventsDays: 30,
    })
  })

  test('admin console: ADMIN_OPENIDS (needs WEB_LOGIN=true) and LOGIN_EVENTS_DAYS', () => {
    const config = readConfig(
      { ...creds, WEB_LOGIN: 'true', ADMIN_OPENIDS: ' o-admin-1 ,o_admin-2 ', LOGIN_EVENTS_DAYS: '7' },
      'start',
    )
    expect(config.adminOpenids).toEqual(['o-admin-1', 'o_admin-2'])
    expect(config.loginEventsDays).toBe(7)
    expect(() => readConfig({ ...creds, ADMIN_OPENIDS: 'o-admin-1' }, 'start')).toThrow(
      'ADMIN_OPENIDS needs WEB_LOGIN=true',
    )
  })

  test('web login: off by default; WEB_LOGIN=true gives the documented defaults; every WEB_* variable is read', () => {
    expect(readConfig({ ...creds, WEB_LOGIN: 'false' }, 'start').webLogin).toBeNull()
    expect(readConfig({ ...creds, WEB_LOGIN: 'true' }, 'start').webLogin).toEqual({
      page: 'pages/web-login/index',
      envVersion: 'release',
      ttlSeconds: 120,
      origins: [],
    })
    const env = {
      ...creds,
      WEB_LOGIN: '1',
      WEB_LOGIN_PAGE: 'pages/auth/scan',
      WEB_LOGIN_ENV: 'trial',
      WEB_LOGIN_TTL: '300',
      WEB_ORIGINS: ' https://admin.example.com , http://localhost:5173 ',
    }
    expect(readConfig(env, 'start').webLogin).toEqual({
      page: 'pages/auth/scan',
      envVersion: 'trial',
      ttlSeconds: 300,
      origins: ['https://admin.example.com', 'http://localhost:5173'],
    })
  })

  test('reads every variable', () => {
    const config = readConfig(
      {
        ...creds,
        PORT: '8080',
        HOST: '127.0.0.1',
        DATABASE_PATH: ':memory:',
        WECHAT_API_BASE: 'http://127.0.0.1:9999/',
        WECHAT_TIMEOUT_MS: '250',
        WECHAT_TOKEN_API: 'classic',
        STORE_TIMEOUT_MS: '300',
        SESSION_TTL: '60',
        SWEEP_INTERVAL: '5',
        SESSION_SLIDING: 'true',
        MAX_SESSIONS_PER_USER: '3',
        LOGIN_RATE_LIMIT: '0',
        TRUST_PROXY: '1',
        LOG_LEVEL: 'warn',
        METRICS: 'TRUE',
      },
      'start',
    )
    expect(config.port).toBe(8080)
    expect(config.host).toBe('127.0.0.1')
    expect(config.databasePath).toBe(':memory:')
    expect(config.wechat.apiBase).toBe('http://127.0.0.1:9999')
    expect(config.wechat.timeoutMs).toBe(250)
    expect(config.wechat.tokenApi).toBe('classic')
    expect(config.storeTimeoutMs).toBe(300)
    expect(config.sessionTtlSeconds).toBe(60)
    expect(config.sweepIntervalSeconds).toBe(5)
    expect(config).toMatchObject({
      sessionSliding: true,
      maxSessionsPerUser: 3,
      loginRateLimit: 0,
      trustProxy: true,
      logLevel: 'warn',
      metrics: true,
    })
  })

  test('DATABASE_URL and REDIS_URL: unset means SQLite; postgres(ql):// and redis(s):// are taken as given', () => {
    expect(readConfig(creds, 'start')).toMatchObject({ databaseUrl: undefined, redisUrl: undefined })
    const config = readConfig(
      { ...creds, DATABASE_URL: 'postgresql://u:p@db:5432/app', REDIS_URL: 'rediss://cache:6380' },
      'start',
    )
    expect(config).toMatchObject({ databaseUrl: 'postgresql://u:p@db:5432/app', redisUrl: 'rediss://cache:6380' })
  })

  test.each([
    ['DATABASE_URL', 'mysql://u:hunter2@db/app'],
    ['DATABASE_URL', 'hunter2'],
    ['REDIS_URL', 'http://:hunter2@cache:6379'],
  ])('%s=%p is rejected by name, without echoing the value (it may hold a password)', (name, value) => {
    expect(() => readConfig({ ...creds, [name]: value }, 'start')).toThrow(ConfigError)
    try {
      readConfig({ ...creds, [name]: value }, 'start')
    } catch (error) {
      expect((error as Error).message).toContain(name)
      expect((error as Error).message).not.toContain('hunter2')
    }
  })

  test('names every missing credential in one message', () => {
    expect(() => readConfig({}, 'start')).toThrow('missing required environment variables: WECHAT_APPID, WECHAT_SECRET')
    expect(() => readConfig({ WECHAT_APPID: 'wx1', WECHAT_SECRET: '  ' }, 'start')).toThrow(
      'missing required environment variables: WECHAT_SECRET',
    )
  })

  test('dev mode needs no credentials and never uses real ones', () => {
    const config = readConfig({ WECHAT_APPID: 'real', WECHAT_SECRET: 'real' }, 'dev')
    expect(config.wechat.appid).not.toBe('real')
    expect(config.wechat.secret).not.toBe('real')
  })

  test('dev mode listens on 127.0.0.1 and keeps its own database unless HOST and DATABASE_PATH say otherwise', () => {
    expect(readConfig({}, 'dev')).toMatchObject({ host: '127.0.0.1', databasePath: './data/wxauth-dev.db' })
    expect(readConfig({ HOST: '0.0.0.0', DATABASE_PATH: '/tmp/x.db' }, 'dev')).toMatchObject({
      host: '0.0.0.0',
      databasePath: '/tmp/x.db',
    })
  })

  test('admin commands and migrate use the server’s database and need no credentials', () => {
    expect(readConfig({}, 'admin')).toMatchObject({ host: '0.0.0.0', databasePath: './data/wxauth.db' })
  })

  test.each([
    ['SESSION_TTL', 'two hours'],
    ['SESSION_TTL', '0'],
    ['SESSION_TTL', '1.5'],
    ['SESSION_TTL', '-5'],
    ['SESSION_TTL', '1e3'],
    ['PORT', '70000'],
    ['PORT', 'abc'],
    ['WECHAT_TIMEOUT_MS', '5s'],
    ['STORE_TIMEOUT_MS', '2s'],
    ['STORE_TIMEOUT_MS', '0'],
    ['SWEEP_INTERVAL', '0x10'],
    ['WECHAT_API_BASE', 'not a url'],
    ['WECHAT_API_BASE', 'ftp://example.com'],
    ['WECHAT_TOKEN_API', 'stabel'],
    ['SESSION_SLIDING', 'yes please'],
    ['MAX_SESSIONS_PER_USER', '0'],
    ['LOGIN_RATE_LIMIT', '-1'],
    ['TRUST_PROXY', 'maybe'],
    ['LOG_LEVEL', 'verbose'],
    ['METRICS', 'on'],
    ['WEB_LOGIN', 'yes'],
    ['WEB_LOGIN_PAGE', '/pages/web-login/index'],
    ['WEB_LOGIN_PAGE', 'pages/web-login/index?from=web'],
    ['WEB_LOGIN_ENV', 'dev'],
    ['WEB_LOGIN_TTL', '5'],
    ['WEB_LOGIN_TTL', '3601'],
    ['WEB_ORIGINS', 'admin.example.com'],
    ['WEB_ORIGINS', 'https://admin.example.com/'],
    ['WEB_ORIGINS', 'https://admin.example.com/console'],
    ['WEB_ORIGINS', 'https://ok.example.com,ftp://files.example.com'],
    ['ADMIN_OPENIDS', 'o-1,not an openid'],
    ['LOGIN_EVENTS_DAYS', '0'],
  ])('%s=%p is rejected with a message naming it', (name, value) => {
    let thrown: unknown
    try {
      readConfig({ ...creds, [name]: value }, 'start')
    } catch (error) {
      thrown = error
    }
    expect(thrown).toBeInstanceOf(ConfigError)
    expect((thrown as ConfigError).message).toContain(name)
  })

  test('PORT=0 asks the system for a free port', () => {
    expect(readConfig({ ...creds, PORT: '0' }, 'start').port).toBe(0)
  })
})
