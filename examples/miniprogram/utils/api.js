// The wxauth routes this example calls, each resolving with its typed answer or rejecting with a WxAuthError.
import { WxAuthError } from '../libs/wxauth.js'
import { auth } from './auth.js'

/** @typedef {import('../libs/wxauth.js').User} User */
/** @typedef {{ id: number, text: string, createdAt: string }} Note */
/** @typedef {{ phoneNumber: string, purePhoneNumber: string, countryCode: string }} PhoneNumber */

/**
 * Sends a request with the skey (`auth.request` logs in first or again when needed) and returns the body
 * when the status is `expected`. `auth.request` resolves with any HTTP status: anything else becomes a
 * WxAuthError carrying the server's `{ code, msg }`.
 * @param {import('../libs/wxauth.js').RequestOptions} options
 * @param {number} expected
 * @returns {Promise<unknown>}
 */
async function call(options, expected) {
  const response = await auth.request(options)
  if (response.statusCode === expected) return response.data
  const data = /** @type {{ code?: unknown, msg?: unknown, errcode?: unknown } | null} */ (
    typeof response.data === 'object' ? response.data : null
  )
  if (data && typeof data.code === 'string') {
    const msg = typeof data.msg === 'string' ? data.msg : data.code
    const errcode = typeof data.errcode === 'number' ? data.errcode : null
    throw new WxAuthError(data.code, msg, response.statusCode, errcode)
  }
  throw new WxAuthError('BAD_RESPONSE', `${options.url} answered HTTP ${response.statusCode}`, response.statusCode)
}

/** GET /auth/me: who this skey belongs to. @returns {Promise<{ user: User, expiresAt: string }>} */
export async function me() {
  return /** @type {{ user: User, expiresAt: string }} */ (await call({ url: '/auth/me' }, 200))
}

/** GET /notes: this user's notes. @returns {Promise<Note[]>} */
export async function listNotes() {
  return /** @type {Note[]} */ (await call({ url: '/notes' }, 200))
}

/** POST /notes (1–1000 characters). @param {string} text @returns {Promise<Note>} */
export async function addNote(text) {
  return /** @type {Note} */ (await call({ url: '/notes', method: 'POST', data: { text } }, 201))
}

/** DELETE /notes/:id. @param {number} id @returns {Promise<void>} */
export async function deleteNote(id) {
  await call({ url: `/notes/${id}`, method: 'DELETE' }, 204)
}

/**
 * POST /wechat/phone with the code of `<button open-type="getPhoneNumber">`. The server asks WeChat for the
 * number and returns it; it does not store it.
 * @param {string} code
 * @returns {Promise<PhoneNumber>}
 */
export async function phoneNumber(code) {
  return /** @type {PhoneNumber} */ (await call({ url: '/wechat/phone', method: 'POST', data: { code } }, 200))
}
