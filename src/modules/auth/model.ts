import { t, type UnwrapSchema } from 'elysia'
import { UserModel } from '../users/model'

export const AuthModel = {
  loginBody: t.Object({
    // wx.login codes are 32 characters today; leave headroom but refuse junk.
    code: t.String({ minLength: 1, maxLength: 128 }),
  }),
  loginResponse: t.Object({
    skey: t.String(),
    expiresAt: t.String({ format: 'date-time' }),
    user: UserModel.user,
  }),
  meResponse: t.Object({
    user: UserModel.user,
    expiresAt: t.String({ format: 'date-time' }),
  }),
} as const

export type LoginBody = UnwrapSchema<typeof AuthModel.loginBody>
export type LoginResponse = UnwrapSchema<typeof AuthModel.loginResponse>

/** How long WeChat keeps a wx.login code alive; the same code gets the same answer within it. */
export const LOGIN_CODE_LIFETIME_MS = 5 * 60 * 1000
export const MAX_REMEMBERED_LOGINS = 10_000
/** How much longer than WeChat's timeout an instance waits for another's answer to the same code. */
export const LOGIN_WAIT_MARGIN_MS = 2_000
