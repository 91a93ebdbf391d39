import { createDecipheriv, timingSafeEqual } from 'node:crypto'
import { AppError } from '../../libs/errors'
import { isRecord } from '../../libs/json'
import { AES_BLOCK_BYTES } from './model'

/** The ASCII whitespace `Uint8Array.fromBase64` would skip; after the space restore below it is junk. */
const ASCII_WHITESPACE = /[\t\n\f\r]/
const utf8 = new TextDecoder('utf-8', { fatal: true })

const LOGIN_AGAIN_HINT =
  'the data was most likely encrypted under another session_key: call wx.login and log in again ' +
  'before fetching encrypted data, then send the new encryptedData and iv'

function decryptFailed(reason: string): AppError {
  return new AppError(400, 'DECRYPT_FAILED', reason)
}

/**
 * Standard base64, strictly: padding, alphabet, length and the unused bits of the last chunk are
 * checked (`lastChunkHandling: 'strict'`), so junk fails instead of decoding to garbage. A space can
 * only be a `+` that went through form decoding, so it is restored; any other whitespace is refused,
 * which `Uint8Array.fromBase64` alone would skip.
 */
export function decodeBase64Strict(value: string): Buffer | null {
  const restored = value.replaceAll(' ', '+')
  if (ASCII_WHITESPACE.test(restored)) return null
  try {
    const bytes = Uint8Array.fromBase64(restored, { lastChunkHandling: 'strict' })
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  } catch (error) {
    if (error instanceof SyntaxError) return null
    throw error
  }
}

function aes128CbcDecrypt(data: Buffer, key: Buffer, iv: Buffer): string | null {
  try {
    const decipher = createDecipheriv('aes-128-cbc', key, iv)
    return utf8.decode(Buffer.concat([decipher.update(data), decipher.final()]))
  } catch {
    return null // bad PKCS#7 padding or bytes that are not UTF-8
  }
}

function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text)
    return isRecord(value) ? value : null
  } catch {
    return null
  }
}

/**
 * Decrypts what wx.getUserProfile, wx.getWeRunData & co. hand the mini program: AES-128-CBC with
 * PKCS#7, keyed by the session's session_key. A wrong iv decrypts without error into garbage, so
 * only the JSON and watermark checks catch it.
 */
export function decryptOpenData(
  { encryptedData, iv }: { encryptedData: string; iv: string },
  sessionKey: string,
  appid: string,
): Record<string, unknown> {
  const key = decodeBase64Strict(sessionKey)
  if (key?.length !== AES_BLOCK_BYTES)
    throw decryptFailed(`this session's session_key is unusable; ${LOGIN_AGAIN_HINT}`)
  const ivBytes = decodeBase64Strict(iv)
  if (ivBytes?.length !== AES_BLOCK_BYTES) throw decryptFailed('iv must be 16 bytes in standard base64')
  const data = decodeBase64Strict(encryptedData)
  if (!data || data.length === 0 || data.length % AES_BLOCK_BYTES !== 0) {
    throw decryptFailed('encryptedData must be standard base64 of whole 16-byte AES blocks')
  }
  const plain = aes128CbcDecrypt(data, key, ivBytes)
  const decrypted = plain === null ? null : parseJsonObject(plain)
  if (!decrypted) throw decryptFailed(`could not decrypt: ${LOGIN_AGAIN_HINT}`)
  const watermark = decrypted.watermark
  if (!isRecord(watermark) || watermark.appid !== appid) {
    throw new AppError(400, 'WATERMARK_MISMATCH', 'the data was encrypted for another mini program (watermark.appid)')
  }
  return decrypted
}

/** `sha1(rawData + session_key)` in lowercase hex, the session_key being the base64 string itself. */
export function rawDataSignature(rawData: string, sessionKey: string): string {
  return new Bun.CryptoHasher('sha1').update(rawData + sessionKey).digest('hex')
}

/** Checks a rawData signature in constant time; returns rawData parsed. */
export function verifyRawData(rawData: string, signature: string, sessionKey: string): unknown {
  const expected = Buffer.from(rawDataSignature(rawData, sessionKey))
  const given = Buffer.from(signature)
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new AppError(400, 'SIGNATURE_INVALID', 'signature does not match rawData and this session’s session_key')
  }
  try {
    return JSON.parse(rawData)
  } catch {
    throw new AppError(400, 'VALIDATION', 'rawData is signed but is not JSON')
  }
}
