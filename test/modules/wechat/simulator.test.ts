import { describe, expect, test } from 'bun:test'
import { createWechatClient, createWechatSimulator } from '../../../src/server'

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
