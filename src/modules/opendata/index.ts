import { Elysia } from 'elysia'
import { routeDoc } from '../../libs/openapi'
import type { AccessTokenManager } from '../access-token/service'
import { type Guard, miniProgramSessionKey } from '../sessions'
import type { Session } from '../sessions/model'
import type { SessionStore } from '../sessions/service'
import type { WechatClient } from '../wechat/model'
import { OpenDataModel } from './model'
import { decryptOpenData, verifyRawData } from './service'

export interface OpenDataOptions {
  sessions: SessionStore
  guard: Guard
  wechat: WechatClient
  tokens: AccessTokenManager
}

/** What every route here may answer besides its own errors. */
const OPEN_DATA_ERRORS = { 403: ['MINIPROGRAM_SESSION_REQUIRED'] } as const

/** POST /wechat/decrypt, /wechat/verify, /wechat/phone and GET /wechat/session-key, all behind a mini program's skey. */
export function createOpenDataRoutes({ sessions, guard, wechat, tokens }: OpenDataOptions) {
  const sessionKeyOf = (session: Session) => miniProgramSessionKey(sessions, session)

  return (
    new Elysia({ name: 'wxauth.opendata', prefix: '/wechat' })
      // Only mounted inside wxauth(), after its error handler and body limit.
      .use(guard)
      .post(
        '/decrypt',
        async ({ body, session }) => ({ data: decryptOpenData(body, await sessionKeyOf(session), wechat.appid) }),
        {
          auth: true,
          body: OpenDataModel.decryptBody,
          response: { 200: OpenDataModel.decryptResponse },
          detail: routeDoc({
            summary: "Decrypt encryptedData with this session's session_key",
            description:
              'AES-128-CBC, PKCS#7; the watermark must carry our appid. DECRYPT_FAILED usually means the data was encrypted under another session_key: log in again, then fetch the data again.',
            tag: 'wechat',
            auth: true,
            body: true,
            errors: { 400: ['DECRYPT_FAILED', 'WATERMARK_MISMATCH'], ...OPEN_DATA_ERRORS },
          }),
        },
      )
      .post(
        '/verify',
        async ({ body, session }) => ({
          valid: true as const,
          data: verifyRawData(body.rawData, body.signature, await sessionKeyOf(session)),
        }),
        {
          auth: true,
          body: OpenDataModel.verifyBody,
          response: { 200: OpenDataModel.verifyResponse },
          detail: routeDoc({
            summary: 'Check a rawData signature',
            description: 'sha1(rawData + session_key) as lowercase hex, compared in constant time.',
            tag: 'wechat',
            auth: true,
            body: true,
            errors: { 400: ['SIGNATURE_INVALID'], ...OPEN_DATA_ERRORS },
          }),
        },
      )
      .post(
        '/phone',
        // The number is returned, never stored.
        async ({ body, user, session }) => {
          await sessionKeyOf(session)
          return tokens.withToken((token) => wechat.getPhoneNumber(token, body.code, user.openid))
        },
        {
          auth: true,
          body: OpenDataModel.phoneBody,
          response: { 200: OpenDataModel.phoneResponse },
          detail: routeDoc({
            summary: "The user's phone number for a getPhoneNumber code",
            description: 'Returned, never stored.',
            tag: 'wechat',
            auth: true,
            body: true,
            errors: {
              400: ['PHONE_CODE_INVALID'],
              429: ['WECHAT_RATE_LIMITED'],
              502: ['WECHAT_UNAVAILABLE'],
              ...OPEN_DATA_ERRORS,
            },
          }),
        },
      )
      .get(
        '/session-key',
        async ({ user, session }) => {
          const sessionKey = await sessionKeyOf(session)
          return { valid: await tokens.withToken((token) => wechat.checkSessionKey(token, user.openid, sessionKey)) }
        },
        {
          auth: true,
          response: { 200: OpenDataModel.sessionKeyResponse },
          detail: routeDoc({
            summary: "Is this session's session_key still the user's current one?",
            tag: 'wechat',
            auth: true,
            errors: { 429: ['WECHAT_RATE_LIMITED'], 502: ['WECHAT_UNAVAILABLE'], ...OPEN_DATA_ERRORS },
          }),
        },
      )
  )
}
