import { Elysia, t } from 'elysia'
import {
  connectRemoteStores,
  createWechatClient,
  openDatabase,
  readConfig,
  startSweeper,
  type WxauthOptions,
  wxauth,
} from '../../src/server'

/** A failure of your own, which your error handler answers with 409. */
export class OutOfStock extends Error {}

/** Your error shape, as before wxauth: wxauth answers its own errors as `{ code, msg }`. */
export function shopError({ code, error, set }: { code: unknown; error: unknown; set: { status?: number | string } }) {
  if (error instanceof OutOfStock) {
    set.status = 409
    return { error: 'out of stock' }
  }
  if (code === 'NOT_FOUND') {
    set.status = 404
    return { error: 'not found' }
  }
  if (code === 'VALIDATION') {
    set.status = 422
    return { error: 'invalid input' }
  }
  set.status = 500
  return { error: 'something went wrong' }
}

/** Your routes, with Elysia's own body parsers and no size limit of wxauth's. */
export function shop() {
  return new Elysia()
    .post('/contact', ({ body }) => body, {
      body: t.Object({ name: t.String(), message: t.String() }), // an HTML form (urlencoded)
    })
    .post('/upload', ({ body }) => ({ name: body.photo.name, bytes: body.photo.size }), {
      body: t.Object({ photo: t.File({ maxSize: '5m' }) }), // multipart/form-data
    })
    .get('/buy', () => {
      throw new OutOfStock()
    })
}

/** A module in another file: `auth.guard` gives it `{ auth: true }` on the same sessions as wxauth's routes. */
export function orders(auth: ReturnType<typeof wxauth>) {
  return new Elysia({ prefix: '/orders' })
    .use(auth.guard)
    .get('/mine', ({ user }) => ({ userId: user.id, openid: user.openid, orders: [] }), { auth: true })
}

/** Your app before wxauth. */
export function createShopApp() {
  return new Elysia().onError(shopError).use(shop())
}

/** Your app with wxauth: the same app, with /auth/* and /wechat/* in front and your protected modules. */
export function createHostApp(options: WxauthOptions) {
  const auth = wxauth(options)
  // standardHostname: false finds the path after `http://`, whatever the Host header holds (see below).
  return new Elysia({ handler: { standardHostname: false } })
    .use(auth) // first: Elysia runs a hook on every route added after it, so your onError stays off wxauth's routes
    .onError(shopError)
    .use(shop())
    .use(orders(auth))
}

if (import.meta.main) {
  const config = readConfig(process.env, 'start') // the variables of "Configuration"; throws naming a bad one
  // SQLite at DATABASE_PATH, or PostgreSQL and/or Redis when DATABASE_URL / REDIS_URL are set.
  const stores = await connectRemoteStores(config, () => openDatabase(config.databasePath))
  const { sessionTtlSeconds, sessionSliding, maxSessionsPerUser, loginRateLimit, trustProxy } = config
  createHostApp({
    stores,
    wechat: createWechatClient(config.wechat),
    sessionTtlSeconds,
    sessionSliding,
    maxSessionsPerUser,
    loginRateLimit,
    trustProxy,
  }).listen(config.port)
  // Expired skeys are refused at once; the sweep only deletes their rows (Redis expires its own).
  if (stores.sessions.needsSweep) {
    startSweeper({ sessions: stores.sessions, intervalMs: config.sweepIntervalSeconds * 1000, clock: Date.now })
  }
}
