import { describe, expect, test } from 'bun:test'
import { createCipheriv, createHash } from 'node:crypto'
import { createApp, createWechatClient, createWechatSimulator, openDatabase } from '../../../src/server'
import { APPID, captureWarnings, jsonRequest, SECRET, testApp } from '../../helpers'

/** These tests provoke WeChat failures on purpose: their warn lines are captured, not printed. */
captureWarnings([
  'WeChat unavailable',
  'login rate limit off: no client address (Elysia has no server to ask and TRUST_PROXY is off)',
])

type Ctx = Awaited<ReturnType<typeof testApp>>

async function login(ctx: Ctx, user = 'ann') {
  const response = await ctx.app.handle(jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode(user) }))
  expect(response.status).toBe(200)
  const { skey } = (await response.json()) as { skey: string }
  const openid = ctx.simulator.openidFor(user)
  return { skey, openid, sessionKey: ctx.simulator.sessionKeyFor(openid) as string }
}

/** Calls the app and returns status and parsed body; no response may ever carry an access_token. */
async function call(ctx: Ctx, method: string, path: string, skey: string | null, body?: unknown) {
  const response = await ctx.app.handle(jsonRequest(method, path, body, skey ? { skey } : {}))
  const text = await response.text()
  expect(text).not.toContain('sim-token')
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown> }
}

describe('POST /wechat/decrypt', () => {
  test("decrypts with this session's session_key", async () => {
    const ctx = await testApp()
    const { skey, openid } = await login(ctx)
    const encrypted = ctx.simulator.encryptFor(openid, { stepInfoList: [{ timestamp: 1, step: 4200 }] })
    const { status, body } = await call(ctx, 'POST', '/wechat/decrypt', skey, encrypted)
    expect(status).toBe(200)
    expect(body.data).toMatchObject({ stepInfoList: [{ timestamp: 1, step: 4200 }], watermark: { appid: APPID } })
  })

  test("data encrypted under a newer login's session_key fails on the old skey with a log-in-again hint", async () => {
    const ctx = await testApp()
    const old = await login(ctx)
    const fresh = await login(ctx)
    const encrypted = ctx.simulator.encryptFor(fresh.openid, { nickName: 'ann' })
    const failed = await call(ctx, 'POST', '/wechat/decrypt', old.skey, encrypted)
    expect(failed.status).toBe(400)
    expect(failed.body.code).toBe('DECRYPT_FAILED')
    expect(failed.body.msg).toContain('wx.login')
    expect((await call(ctx, 'POST', '/wechat/decrypt', fresh.skey, encrypted)).status).toBe(200)
  })

  test('watermark of another mini program → 400 WATERMARK_MISMATCH', async () => {
    const ctx = await testApp()
    const { skey, sessionKey } = await login(ctx)
    const iv = Buffer.alloc(16, 3)
    const cipher = createCipheriv('aes-128-cbc', Buffer.from(sessionKey, 'base64'), iv)
    const plain = JSON.stringify({ openId: 'x', watermark: { appid: 'wx-someone-else', timestamp: 1 } })
    const encryptedData = Buffer.concat([cipher.update(plain), cipher.final()]).toString('base64')
    const { status, body } = await call(ctx, 'POST', '/wechat/decrypt', skey, {
      encryptedData,
      iv: iv.toString('base64'),
    })
    expect([status, body.code]).toEqual([400, 'WATERMARK_MISMATCH'])
  })

  test('no skey → 401; a body missing iv → 400 VALIDATION; garbage base64 → 400 DECRYPT_FAILED', async () => {
    const ctx = await testApp()
    const { skey } = await login(ctx)
    expect((await call(ctx, 'POST', '/wechat/decrypt', null, { encryptedData: 'AA==', iv: 'AA==' })).body.code).toBe(
      'SKEY_MISSING',
    )
    expect((await call(ctx, 'POST', '/wechat/decrypt', skey, { encryptedData: 'AA==' })).body.code).toBe('VALIDATION')
    const garbage = await call(ctx, 'POST', '/wechat/decrypt', skey, {
      encryptedData: '%%%',
      iv: 'AAAAAAAAAAAAAAAAAAAAAA==',
    })
    expect([garbage.status, garbage.body.code]).toEqual([400, 'DECRYPT_FAILED'])
  })
})

describe('POST /wechat/verify', () => {
  test('a signature over rawData and this session_key is valid; anything else is 400 SIGNATURE_INVALID', async () => {
    const ctx = await testApp()
    const { skey, sessionKey } = await login(ctx)
    const rawData = '{"nickName":"安","gender":0}'
    const signature = createHash('sha1')
      .update(rawData + sessionKey)
      .digest('hex')
    const ok = await call(ctx, 'POST', '/wechat/verify', skey, { rawData, signature })
    expect(ok).toEqual({ status: 200, body: { valid: true, data: { nickName: '安', gender: 0 } } })
    const tampered = await call(ctx, 'POST', '/wechat/verify', skey, { rawData: rawData.replace('0', '1'), signature })
    expect([tampered.status, tampered.body.code]).toEqual([400, 'SIGNATURE_INVALID'])
    const other = await login(ctx, 'ben')
    const otherSession = await call(ctx, 'POST', '/wechat/verify', other.skey, { rawData, signature })
    expect(otherSession.body.code).toBe('SIGNATURE_INVALID')
  })
})

describe('POST /wechat/phone', () => {
  test("returns the number for this user's code, and stores it nowhere", async () => {
    const ctx = await testApp()
    const { skey, openid } = await login(ctx)
    const code = ctx.simulator.issuePhoneCode(openid, '13912345678')
    const { status, body } = await call(ctx, 'POST', '/wechat/phone', skey, { code })
    expect(status).toBe(200)
    expect(body).toEqual({ phoneNumber: '13912345678', purePhoneNumber: '13912345678', countryCode: '86' })
    // On SQLite the whole database file is searched; PostgreSQL's tables have no column it could land in.
    if (ctx.db) expect(Buffer.from(ctx.db.serialize()).includes('13912345678')).toBe(false)
  })

  test('a used code or one issued to another user → 400 PHONE_CODE_INVALID', async () => {
    const ctx = await testApp()
    const ann = await login(ctx)
    const ben = await login(ctx, 'ben')
    const code = ctx.simulator.issuePhoneCode(ann.openid)
    const stolen = await call(ctx, 'POST', '/wechat/phone', ben.skey, { code })
    expect([stolen.status, stolen.body.code, stolen.body.errcode]).toEqual([400, 'PHONE_CODE_INVALID', 40029])
    const again = ctx.simulator.issuePhoneCode(ann.openid)
    expect((await call(ctx, 'POST', '/wechat/phone', ann.skey, { code: again })).status).toBe(200)
    expect((await call(ctx, 'POST', '/wechat/phone', ann.skey, { code: again })).body.code).toBe('PHONE_CODE_INVALID')
  })

  test.each([
    ['errcode:45011', 429, 'WECHAT_RATE_LIMITED'],
    ['errcode:-1', 502, 'WECHAT_UNAVAILABLE'],
  ])('%s → %p %s', async (code, status, errorCode) => {
    const ctx = await testApp()
    const { skey } = await login(ctx)
    const result = await call(ctx, 'POST', '/wechat/phone', skey, { code })
    expect([result.status, result.body.code]).toEqual([status, errorCode])
  })

  test('the access_token is fetched once and reused; after a revocation one refetch and one retry', async () => {
    const ctx = await testApp()
    const { skey, openid } = await login(ctx)
    for (let i = 0; i < 3; i++) {
      const code = ctx.simulator.issuePhoneCode(openid)
      expect((await call(ctx, 'POST', '/wechat/phone', skey, { code })).status).toBe(200)
    }
    expect(ctx.callsTo('/cgi-bin/stable_token')).toBe(1)
    ctx.simulator.revokeAccessTokens()
    const code = ctx.simulator.issuePhoneCode(openid)
    expect((await call(ctx, 'POST', '/wechat/phone', skey, { code })).status).toBe(200)
    expect(ctx.callsTo('/cgi-bin/stable_token')).toBe(2)
    expect(ctx.callsTo('/wxa/business/getuserphonenumber')).toBe(5)
  })

  test('an empty code → 400 VALIDATION without calling WeChat', async () => {
    const ctx = await testApp()
    const { skey } = await login(ctx)
    expect((await call(ctx, 'POST', '/wechat/phone', skey, { code: '' })).body.code).toBe('VALIDATION')
    expect(ctx.callsTo('/wxa/business/getuserphonenumber')).toBe(0)
  })
})

describe('GET /wechat/session-key', () => {
  test("valid while this session's session_key is the user's latest; invalid after a newer login", async () => {
    const ctx = await testApp()
    const old = await login(ctx)
    expect(await call(ctx, 'GET', '/wechat/session-key', old.skey)).toEqual({ status: 200, body: { valid: true } })
    const fresh = await login(ctx)
    expect((await call(ctx, 'GET', '/wechat/session-key', old.skey)).body).toEqual({ valid: false })
    expect((await call(ctx, 'GET', '/wechat/session-key', fresh.skey)).body).toEqual({ valid: true })
  })

  test('WeChat refusing our credentials for a token → 502 with its errcode, no secret in the answer', async () => {
    const db = openDatabase(':memory:')
    const simulator = createWechatSimulator({ appid: APPID, secret: SECRET })
    const wechat = createWechatClient({
      appid: APPID,
      secret: SECRET,
      apiBase: 'http://wechat.invalid',
      timeoutMs: 1000,
      fetch: async (request) =>
        new URL(request.url).pathname === '/cgi-bin/stable_token'
          ? Response.json({ errcode: 40125, errmsg: 'invalid appsecret' })
          : simulator.fetch(request),
    })
    const app = createApp({ db, wechat })
    const login = await app.handle(jsonRequest('POST', '/auth/login', { code: simulator.issueCode('cat') }))
    const { skey } = (await login.json()) as { skey: string }
    const response = await app.handle(jsonRequest('GET', '/wechat/session-key', undefined, { skey }))
    const text = await response.text()
    expect(response.status).toBe(502)
    expect(JSON.parse(text)).toMatchObject({ code: 'WECHAT_UNAVAILABLE', errcode: 40125 })
    expect(text).not.toContain(SECRET)
  })

  test('a logged-out skey → 401', async () => {
    const ctx = await testApp()
    const { skey } = await login(ctx)
    expect((await ctx.app.handle(jsonRequest('POST', '/auth/logout', undefined, { skey }))).status).toBe(204)
    expect((await call(ctx, 'GET', '/wechat/session-key', skey)).body.code).toBe('SKEY_INVALID')
  })
})

test.each([
  ['POST', '/wechat/decrypt', { encryptedData: 'AA==', iv: 'AA==' }],
  ['POST', '/wechat/verify', { rawData: '{}', signature: 'x' }],
  ['POST', '/wechat/phone', { code: 'phone:13800138000' }],
  ['GET', '/wechat/session-key', undefined],
])('%s %s without an skey → 401 SKEY_MISSING, before WeChat is asked', async (method, path, body) => {
  const ctx = await testApp()
  const result = await call(ctx, method, path, null, body)
  expect([result.status, result.body.code]).toEqual([401, 'SKEY_MISSING'])
  expect(ctx.upstreamCalls()).toBe(0)
})
