import { describe, expect, test } from 'bun:test'
import jsQR from 'jsqr'
import { PNG } from 'pngjs'
import type { WxaCodeRequest } from '../../../src/modules/wechat/model'
import { AppError, createAccessTokenManager, openDatabase, sqliteTokenStore } from '../../../src/server'
import { captureWarnings, manualClock, simulatedWechat } from '../../helpers'

/** These tests provoke WeChat failures on purpose: their warn lines are captured, not printed. */
captureWarnings(['WeChat unavailable'])

const { wechat } = simulatedWechat()

const request = (scene: string, more: Partial<WxaCodeRequest> = {}): WxaCodeRequest => ({
  scene,
  page: 'pages/index/index',
  checkPath: false,
  envVersion: 'develop',
  ...more,
})

/** What a phone's camera would read from the image. */
function scan(bytes: Uint8Array): string | undefined {
  const png = PNG.sync.read(Buffer.from(bytes))
  return jsQR(new Uint8ClampedArray(png.data), png.width, png.height)?.data
}

async function refusal(promise: Promise<unknown>): Promise<AppError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  if (!(error instanceof AppError)) throw new Error(`expected an AppError, got ${String(error)}`)
  return error
}

describe('WeChat simulator: getwxacodeunlimit', () => {
  test.each([
    'id=42',
    'a',
    "!#$&'()*+,/:;=?@-._~",
    'ABCDEFGHIJKLMNOPQRSTUVWXYZ012345', // 32 characters, the most WeChat takes
  ])('answers a PNG whose QR code reads back as the scene %p', async (scene) => {
    const token = (await wechat.fetchAccessToken()).accessToken
    const image = await wechat.getUnlimitedWxaCode(token, request(scene))
    expect(image.contentType).toBe('image/png')
    expect(scan(image.bytes)).toBe(scene)
  })

  test.each([
    ['33 characters', 40169, 'x'.repeat(33)],
    ['no characters', 40169, ''],
    ['a %', 40129, 'id%3D1'],
    ['a space', 40129, 'id 1'],
    ['Chinese', 40129, '编号=1'],
  ])('a scene with %s → 502 carrying errcode %p', async (_name, errcode, scene) => {
    const token = (await wechat.fetchAccessToken()).accessToken
    const error = await refusal(wechat.getUnlimitedWxaCode(token, request(scene)))
    expect([error.status, error.code, error.errcode]).toEqual([502, 'WECHAT_UNAVAILABLE', errcode])
  })

  test('a page with a leading slash → 41030', async () => {
    const token = (await wechat.fetchAccessToken()).accessToken
    const error = await refusal(wechat.getUnlimitedWxaCode(token, request('id=1', { page: '/pages/index/index' })))
    expect([error.status, error.errcode]).toEqual([502, 41030])
  })

  test('an env_version other than release, trial or develop → 40097', async () => {
    const token = (await wechat.fetchAccessToken()).accessToken
    const envVersion = 'beta' as WxaCodeRequest['envVersion']
    const error = await refusal(wechat.getUnlimitedWxaCode(token, request('id=1', { envVersion })))
    expect(error.errcode).toBe(40097)
    for (const ok of ['release', 'trial', 'develop'] as const) {
      expect(scan((await wechat.getUnlimitedWxaCode(token, request('id=1', { envVersion: ok }))).bytes)).toBe('id=1')
    }
  })

  test('an unknown or revoked access_token → 40001', async () => {
    const { simulator: sim, wechat: client } = simulatedWechat()
    const token = (await client.fetchAccessToken()).accessToken
    expect(scan((await client.getUnlimitedWxaCode(token, request('ok'))).bytes)).toBe('ok')
    sim.revokeAccessTokens()
    expect((await refusal(client.getUnlimitedWxaCode(token, request('ok')))).errcode).toBe(40001)
    expect((await refusal(client.getUnlimitedWxaCode('made-up', request('ok')))).errcode).toBe(40001)
  })

  test('the access_token manager fetches a new token and retries once when the stored one was revoked', async () => {
    const { simulator: sim, wechat: client, callsTo } = simulatedWechat()
    const tokens = createAccessTokenManager({
      store: sqliteTokenStore(openDatabase(':memory:')),
      wechat: client,
      clock: manualClock(Date.now()),
    })
    await tokens.get()
    sim.revokeAccessTokens()
    const image = await tokens.withToken((token) => client.getUnlimitedWxaCode(token, request('retried')))
    expect(scan(image.bytes)).toBe('retried')
    expect(callsTo('/cgi-bin/stable_token')).toBe(2)
  })
})
