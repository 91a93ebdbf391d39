import { t, type UnwrapSchema } from 'elysia'

export const UserModel = {
  user: t.Object({
    id: t.Integer(),
    openid: t.String(),
    unionid: t.Union([t.String(), t.Null()]),
    createdAt: t.String({ format: 'date-time' }),
  }),
} as const

export type PublicUser = UnwrapSchema<typeof UserModel.user>

/** A user as stored; times in epoch milliseconds. */
export interface User {
  id: number
  openid: string
  unionid: string | null
  createdAt: number
}

/** A user with the time of their latest login (epoch ms): what the admin commands list. */
export interface UserWithLogin extends User {
  lastLoginAt: number
}
