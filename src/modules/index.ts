export { type AccessTokenManager, createAccessTokenManager } from './access-token/service'
export { postgresTokenStore, redisTokenStore, sqliteTokenStore, type TokenStore } from './access-token/stores'
export { type WxauthOptions, wxauth } from './auth'
export type { Config, Mode } from './config/model'
export { ConfigError, type Env, readConfig } from './config/service'
export { connectPostgres, migratePostgres } from './db/postgres'
export { connectRedis } from './db/redis'
export { migrate, openDatabase } from './db/service'
export { createApiDocs } from './docs'
export { createHealthRoutes } from './health'
export { createNotesRoutes } from './notes'
export { createNoteStore, createPostgresNoteStore } from './notes/service'
export { decodeBase64Strict, decryptOpenData, rawDataSignature, verifyRawData } from './opendata/service'
export {
  createSessionStore,
  generateSessionToken,
  hashSessionToken,
  type SessionStore,
  startSweeper,
} from './sessions/service'
export {
  connectRemoteStores,
  type LocalStores,
  postgresStores,
  type RemoteStores,
  StoreConnectError,
  type Stores,
  sqliteStores,
  withRedis,
} from './store/service'
export { servedWithTelemetry, withTelemetry } from './telemetry'
export { createMetrics, type Metrics, timedFetch } from './telemetry/service'
export { createUserStore } from './users/service'
export type { PhoneInfo, TokenApi, WechatClient } from './wechat/model'
export { createWechatClient, sessionKeySignature } from './wechat/service'
export { createWechatSimulator, type WechatSimulator } from './wechat/simulator'
