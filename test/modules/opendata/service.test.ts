import { describe, expect, test } from 'bun:test'
import { createCipheriv, createHash } from 'node:crypto'
import { AppError, decodeBase64Strict, decryptOpenData, rawDataSignature, verifyRawData } from '../../../src/server'

/** WeChat's published example (open data decryption docs). */
const OFFICIAL = {
  appid: 'wx4f4bc4dec97d474b',
  sessionKey: 'tiihtNczf5v6AKRyjwEUhQ==',
  iv: 'r7BXXKkLb8qrSNn05n0qiA==',
  encryptedData:
    'CiyLU1Aw2KjvrjMdj8YKliAjtP4gsMZMQmRzooG2xrDcvSnxIMXFufNstNGTyaGS9uT5geRa0W4oTOb1WT7fJlAC+oNPdbB+3hVbJSRgv+4lGOETKUQz6OYStslQ142dNCuabNPGBzlooOmB231qMM85d2/fV6ChevvXvQP8Hkue1poOFtnEtpyxVLW1zAo6/1Xx1COxFvrc2d7UL/lmHInNlxuacJXwu0fjpXfz/YqYzBIBzD6WUfTIF9GRHpOn/Hz7saL8xz+W//FRAUid1OksQaQx4CMs8LOddcQhULW4ucetDf96JcR3g0gfRK4PC7E/r7Z6xNrXd2UIeorGj5Ef7b1pJAYB6Y5anaHqZ9J6nKEBvB4DnNLIVWSgARns/8wR2SiRS7MNACwTyrGvt9ts8p12PKFdlqYTopNHR1Vf7XjfhQlVsAJdNiKdYmYVoKlaRv85IfVunYzO0IKXsyl7JCUjCpoG20f0a04COwfneQAGGwd5oa+T8yO5hzuyDb/XcxxmK01EpqOyuxINew==',
}

function encrypt(plain: string, key: Buffer, iv: Buffer): string {
  const cipher = createCipheriv('aes-128-cbc', key, iv)
  return Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]).toString('base64')
}

function failure(run: () => unknown): AppError {
  try {
    run()
  } catch (error) {
    if (error instanceof AppError) return error
    throw error
  }
  throw new Error('expected an AppError')
}

const KEY = Buffer.alloc(16, 7)
const IV = Buffer.alloc(16, 9)
const SESSION_KEY = KEY.toString('base64')
const watermarked = (appid: string) => JSON.stringify({ openId: 'o1', watermark: { appid, timestamp: 1 } })

describe('decodeBase64Strict', () => {
  test.each([
    ['abc'],
    ['ab=c'],
    ['a==='],
    ['YWJj\n'],
    ['YW\tJj'],
    ['\rYWJj'],
    ['YQ=\f='],
    ['YW*j'],
    ['-_8='],
    ['YWJj='],
    ['YQ==YQ=='],
  ])('%p is refused', (value) => {
    expect(decodeBase64Strict(value)).toBeNull()
  })

  test('non-zero unused bits in the last chunk are refused, not dropped', () => {
    expect(decodeBase64Strict('YR==')).toBeNull()
    expect(decodeBase64Strict('YWN=')).toBeNull()
    expect(decodeBase64Strict('YWM=')?.toString()).toBe('ac')
  })

  test('decodes padded base64 and restores a + that became a space', () => {
    expect(decodeBase64Strict('YWJj')?.toString()).toBe('abc')
    expect(decodeBase64Strict('YQ==')?.toString()).toBe('a')
    expect(decodeBase64Strict('+/8=')).toEqual(Buffer.from([0xfb, 0xff]))
    expect(decodeBase64Strict(' /8=')).toEqual(Buffer.from([0xfb, 0xff]))
  })
})

describe('decryptOpenData', () => {
  test("decrypts WeChat's published example", () => {
    const data = decryptOpenData(OFFICIAL, OFFICIAL.sessionKey, OFFICIAL.appid)
    expect(data).toMatchObject({ openId: 'oGZUI0egBJY1zhBYw2KhdUfwVJJE', watermark: { appid: OFFICIAL.appid } })
  })

  test('a + mangled into a space in encryptedData or iv still decrypts', () => {
    const mangled = { encryptedData: OFFICIAL.encryptedData.replaceAll('+', ' '), iv: OFFICIAL.iv }
    expect(decryptOpenData(mangled, OFFICIAL.sessionKey, OFFICIAL.appid).openId).toBe('oGZUI0egBJY1zhBYw2KhdUfwVJJE')
  })

  test('watermark for another appid → 400 WATERMARK_MISMATCH', () => {
    const error = failure(() => decryptOpenData(OFFICIAL, OFFICIAL.sessionKey, 'wx-mine'))
    expect([error.status, error.code]).toEqual([400, 'WATERMARK_MISMATCH'])
  })

  test('no watermark at all → WATERMARK_MISMATCH', () => {
    const encryptedData = encrypt('{"openId":"o1"}', KEY, IV)
    expect(failure(() => decryptOpenData({ encryptedData, iv: IV.toString('base64') }, SESSION_KEY, 'wx')).code).toBe(
      'WATERMARK_MISMATCH',
    )
  })

  test('another session_key → DECRYPT_FAILED telling the client to log in again', () => {
    const error = failure(() => decryptOpenData(OFFICIAL, SESSION_KEY, OFFICIAL.appid))
    expect([error.status, error.code]).toEqual([400, 'DECRYPT_FAILED'])
    expect(error.message).toContain('session_key')
    expect(error.message).toContain('wx.login')
  })

  test('a wrong iv raises no crypto error; the JSON check catches it', () => {
    const wrongIv = Buffer.alloc(16, 1).toString('base64')
    expect(failure(() => decryptOpenData({ ...OFFICIAL, iv: wrongIv }, OFFICIAL.sessionKey, OFFICIAL.appid)).code).toBe(
      'DECRYPT_FAILED',
    )
  })

  test.each([
    ['encryptedData not base64', { encryptedData: 'not*base64', iv: IV.toString('base64') }],
    [
      'encryptedData not whole blocks',
      { encryptedData: Buffer.alloc(20).toString('base64'), iv: IV.toString('base64') },
    ],
    ['iv not 16 bytes', { encryptedData: encrypt(watermarked('wx'), KEY, IV), iv: Buffer.alloc(8).toString('base64') }],
    ['iv unpadded', { encryptedData: encrypt(watermarked('wx'), KEY, IV), iv: 'CQkJCQkJCQkJCQkJCQkJCQ' }],
    ['plaintext not JSON', { encryptedData: encrypt('hello, not json', KEY, IV), iv: IV.toString('base64') }],
    ['plaintext a JSON array', { encryptedData: encrypt('[1,2]', KEY, IV), iv: IV.toString('base64') }],
  ])('%s → DECRYPT_FAILED', (_, body) => {
    expect(failure(() => decryptOpenData(body, SESSION_KEY, 'wx')).code).toBe('DECRYPT_FAILED')
  })

  test('a session_key that is not 16 bytes → DECRYPT_FAILED', () => {
    const body = { encryptedData: encrypt(watermarked('wx'), KEY, IV), iv: IV.toString('base64') }
    expect(failure(() => decryptOpenData(body, Buffer.alloc(24).toString('base64'), 'wx')).code).toBe('DECRYPT_FAILED')
  })

  test('round trip with its own data', () => {
    const body = { encryptedData: encrypt(watermarked('wx'), KEY, IV), iv: IV.toString('base64') }
    expect(decryptOpenData(body, SESSION_KEY, 'wx')).toEqual({ openId: 'o1', watermark: { appid: 'wx', timestamp: 1 } })
  })
})

describe('rawData signatures', () => {
  const rawData = '{"nickName":"Band","gender":1,"city":"Guangzhou"}'
  const expected = createHash('sha1')
    .update(rawData + OFFICIAL.sessionKey, 'utf8')
    .digest('hex')

  test('sha1(rawData + session_key) as lowercase hex, the key as its base64 string', () => {
    expect(rawDataSignature(rawData, OFFICIAL.sessionKey)).toBe(expected)
    expect(expected).toMatch(/^[0-9a-f]{40}$/)
  })

  test('a matching signature gives rawData parsed', () => {
    expect(verifyRawData(rawData, expected, OFFICIAL.sessionKey)).toEqual({
      nickName: 'Band',
      gender: 1,
      city: 'Guangzhou',
    })
  })

  test('non-ASCII rawData is hashed as UTF-8', () => {
    const chinese = '{"nickName":"小明"}'
    const signature = createHash('sha1')
      .update(chinese + SESSION_KEY, 'utf8')
      .digest('hex')
    expect(verifyRawData(chinese, signature, SESSION_KEY)).toEqual({ nickName: '小明' })
  })

  test.each([
    ['another key', (s: string) => s, SESSION_KEY],
    ['one character changed', (s: string) => `${s.slice(0, -1)}${s.endsWith('0') ? '1' : '0'}`, OFFICIAL.sessionKey],
    ['uppercase hex', (s: string) => s.toUpperCase(), OFFICIAL.sessionKey],
    ['too short', (s: string) => s.slice(0, 39), OFFICIAL.sessionKey],
    ['empty', () => '', OFFICIAL.sessionKey],
  ])('%s → 400 SIGNATURE_INVALID', (_, mangle, sessionKey) => {
    const error = failure(() => verifyRawData(rawData, mangle(expected), sessionKey))
    expect([error.status, error.code]).toEqual([400, 'SIGNATURE_INVALID'])
  })
})
