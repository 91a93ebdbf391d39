import { describe, expect, test } from 'bun:test'
import { createWechatClient, createWechatSimulator, decryptOpenData } from '../../../src/server'
import { captureWarnings, manualClock } from '../../helpers'

/** These tests provoke WeChat failures on purpose: their warn lines are captured, not printed. */
captureWarnings(['WeChat unavailable'])

const simulator = createWechatSimulator({ appid: 'wxsim', secret: 'sim' })
const wechat = createWechatClient({
  appid: 'wxsim',
  secret: 'sim',
  apiBase: 'http://sim',
  timeoutMs: 1000,
  fetch: simulator.fetch,
})

describe('WeChat simulator', () => {
  test('maps a user to the same openid on every code', async () => {
    const first = await wechat.code2Session(simulator.issueCode('alice'))
    const second = await wechat.code2Session(simulator.issueCode('alice'))
    const bob = await wechat.code2Session(simulator.issueCode('bob'))
    expect(first.openid).toBe(second.openid)
    expect(first.openid).toBe(simulator.openidFor('alice'))
    expect(bob.openid).not.toBe(first.openid)
    expect(first.sessionKey).not.toBe(second.sessionKey)
    expect(Buffer.from(first.sessionKey, 'base64').byteLength).toBe(16)
    expect(simulator.sessionKeyFor(first.openid)).toBe(second.sessionKey)
  })

  test('adds a unionid when asked', async () => {
    const session = await wechat.code2Session(simulator.issueCode('carol', { unionid: true }))
    expect(session.unionid).toMatch(/^u/)
    expect(session.openid).toBe(simulator.openidFor('carol'))
  })

  test('accepts each code once, like WeChat', async () => {
    const code = simulator.issueCode('dave')
    await wechat.code2Session(code)
    await expect(wechat.code2Session(code)).rejects.toMatchObject({ code: 'WECHAT_CODE_INVALID', errcode: 40163 })
  })

  test('answers any errcode on request', async () => {
    await expect(wechat.code2Session('errcode:40226')).rejects.toMatchObject({ code: 'WECHAT_USER_BLOCKED' })
    await expect(wechat.code2Session('errcode:-1')).rejects.toMatchObject({ code: 'WECHAT_UNAVAILABLE', errcode: -1 })
  })

  test('checks appid and secret', async () => {
    const wrong = createWechatClient({
      appid: 'wxsim',
      secret: 'nope',
      apiBase: 'http://sim',
      timeoutMs: 1000,
      fetch: simulator.fetch,
    })
    await expect(wrong.code2Session('x')).rejects.toMatchObject({ errcode: 40125 })
  })

  test('serves over HTTP with Bun.serve, JSON labelled text/plain', async () => {
    const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: simulator.fetch })
    try {
      const response = await fetch(
        `http://127.0.0.1:${server.port}/sns/jscode2session?appid=wxsim&secret=sim&js_code=erin&grant_type=authorization_code`,
      )
      expect(response.headers.get('content-type')).toStartWith('text/plain')
      expect(await response.json()).toMatchObject({ openid: simulator.openidFor('erin') })
    } finally {
      server.stop(true)
    }
  })
})

describe('WeChat simulator: access_token APIs', () => {
  const clock = manualClock()
  const sim = createWechatSimulator({ appid: 'wxsim', secret: 'sim', now: clock })
  const client = (tokenApi: 'stable' | 'classic' = 'stable') =>
    createWechatClient({
      appid: 'wxsim',
      secret: 'sim',
      apiBase: 'http://sim',
      timeoutMs: 1000,
      tokenApi,
      fetch: sim.fetch,
    })

  async function loggedIn(user: string) {
    const { openid, sessionKey } = await client().code2Session(sim.issueCode(user))
    return { openid, sessionKey }
  }

  test('the stable token is reused until its last 5 minutes, then replaced', async () => {
    const first = await client().fetchAccessToken()
    expect(first.expiresInSeconds).toBe(7200)
    clock.advance(3600_000)
    const again = await client().fetchAccessToken()
    expect(again).toEqual({ accessToken: first.accessToken, expiresInSeconds: 3600 })
    clock.advance(3400_000)
    const next = await client().fetchAccessToken()
    expect(next.accessToken).not.toBe(first.accessToken)
    // The old token keeps working until it expires, then answers 42001.
    const { openid, sessionKey } = await loggedIn('tina')
    expect(await client().checkSessionKey(first.accessToken, openid, sessionKey)).toBe(true)
    clock.advance(300_000)
    await expect(client().checkSessionKey(first.accessToken, openid, sessionKey)).rejects.toMatchObject({
      errcode: 42001,
    })
  })

  test('classic tokens: each fetch is a new token; unknown or revoked tokens answer 40001', async () => {
    const a = await client('classic').fetchAccessToken()
    const b = await client('classic').fetchAccessToken()
    expect(a.accessToken).not.toBe(b.accessToken)
    const { openid, sessionKey } = await loggedIn('uma')
    expect(await client().checkSessionKey(b.accessToken, openid, sessionKey)).toBe(true)
    sim.revokeAccessTokens()
    await expect(client().checkSessionKey(b.accessToken, openid, sessionKey)).rejects.toMatchObject({ errcode: 40001 })
    await expect(client().checkSessionKey('made-up', openid, sessionKey)).rejects.toMatchObject({ errcode: 40001 })
  })

  test('checksession: only the latest session_key of the user is valid', async () => {
    const token = (await client().fetchAccessToken()).accessToken
    const old = await loggedIn('vera')
    const current = await loggedIn('vera')
    expect(await client().checkSessionKey(token, current.openid, current.sessionKey)).toBe(true)
    expect(await client().checkSessionKey(token, old.openid, old.sessionKey)).toBe(false)
  })

  test('phone codes: bound to the openid they were issued for, single use; free-form and errcode codes', async () => {
    const token = (await client().fetchAccessToken()).accessToken
    const { openid } = await loggedIn('walt')
    const code = sim.issuePhoneCode(openid, '13912345678')
    await expect(client().getPhoneNumber(token, code, 'o-someone-else')).rejects.toMatchObject({
      code: 'PHONE_CODE_INVALID',
    })
    const mine = sim.issuePhoneCode(openid, '13912345678')
    expect(await client().getPhoneNumber(token, mine, openid)).toEqual({
      phoneNumber: '13912345678',
      purePhoneNumber: '13912345678',
      countryCode: '86',
    })
    await expect(client().getPhoneNumber(token, mine, openid)).rejects.toMatchObject({ errcode: 40029 })
    expect((await client().getPhoneNumber(token, 'phone:13700000000#1', openid)).purePhoneNumber).toBe('13700000000')
    await expect(client().getPhoneNumber(token, 'phone:13700000000#1', openid)).rejects.toMatchObject({
      errcode: 40029,
    })
    await expect(client().getPhoneNumber(token, 'errcode:45011', openid)).rejects.toMatchObject({ status: 429 })
  })

  test('encryptFor produces what decryptOpenData reads back, watermarked with the appid', async () => {
    const { openid, sessionKey } = await loggedIn('xena')
    const encrypted = sim.encryptFor(openid, { nickName: '小程序', stepInfoList: [{ step: 1 }] })
    expect(decryptOpenData(encrypted, sessionKey, 'wxsim')).toMatchObject({
      nickName: '小程序',
      stepInfoList: [{ step: 1 }],
      watermark: { appid: 'wxsim' },
    })
    expect(() => sim.encryptFor('o-never-logged-in', {})).toThrow()
  })
})
