// One process of the cross-process lease test: 25 concurrent get() calls, then prints its fetch count and tokens.
import { connectDatabase } from '../../../src/modules/db/service'
import { createAccessTokenManager, sqliteTokenStore } from '../../../src/server'

const [path = '', startAt = '0'] = process.argv.slice(2)
const db = connectDatabase(path)
let fetches = 0
const wechat = {
  appid: 'wxtest',
  timeoutMs: 2000,
  async fetchAccessToken() {
    fetches++
    await Bun.sleep(200)
    return { accessToken: `T-${process.pid}`, expiresInSeconds: 7200 }
  },
}
const tokens = createAccessTokenManager({ store: sqliteTokenStore(db), wechat, clock: Date.now })
// Both processes start their calls at the same wall-clock moment.
await Bun.sleep(Math.max(0, Number(startAt) - Date.now()))
const got = await Promise.all(Array.from({ length: 25 }, () => tokens.get()))
console.log(JSON.stringify({ fetches, tokens: [...new Set(got)] }))
db.close()
// Elysia keeps a ~5-minute cache timer alive once any app is built; leave without waiting for it.
process.exit(0)
