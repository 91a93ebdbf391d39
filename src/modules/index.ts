export { type WxauthOptions, wxauth } from './auth'
export type { Config, Mode } from './config/model'
export { ConfigError, type Env, readConfig } from './config/service'
export { migrate, openDatabase } from './db/service'
export { createHealthRoutes } from './health'
export { createNotesRoutes } from './notes'
export { createNoteStore } from './notes/service'
export { createGuard } from './sessions'
export {
  createSessionStore,
  generateSessionToken,
  hashSessionToken,
  type SessionStore,
  startSweeper,
} from './sessions/service'
export { createUserStore } from './users/service'
export type { WechatClient } from './wechat/model'
export { createWechatClient } from './wechat/service'
export { createWechatSimulator, type WechatSimulator } from './wechat/simulator'
