import { statSync } from 'node:fs'
import { isoTime } from '../../libs/clock'
import { AdminLinkError, createAdminLink, toSummary } from '../console/service'
import type { SessionListing, SessionStore } from '../sessions/service'
import type { Stores } from '../store/service'
import type { UserWithLogin } from '../users/model'
import type { UserStore } from '../users/service'
import type { SessionSummary, Stats, UserSummary } from './model'

/** What the admin commands read and change. */
export interface AdminService {
  listUsers(nowMs: number, limit: number): Promise<UserSummary[]>
  showUser(openid: string, nowMs: number): Promise<{ user: UserSummary; sessions: SessionSummary[] } | null>
  /** Ends every session of the user; null when there is no such user. */
  revokeUser(openid: string): Promise<number | null>
  revokeAll(): Promise<number>
  stats(nowMs: number): Promise<Stats>
  /** A one-time console sign-in link's path, or why none can be made. */
  adminLink(openid: string, nowMs: number): Promise<{ path: string; expiresAt: number } | { refused: string }>
  /** Where the server listens, as a browser on this machine reaches it: the link's default base. */
  readonly serverUrl: string
}

export interface AdminServiceOptions {
  /** ADMIN_OPENIDS. */
  adminOpenids?: readonly string[]
  /** http://HOST:PORT of the server. */
  serverUrl?: string
}

const toSessionSummary = (session: SessionListing): SessionSummary => ({
  createdAt: isoTime(session.createdAt),
  expiresAt: isoTime(session.expiresAt),
})

function fileBytes(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

/** The size of the database the records live in: the SQLite file and its WAL, or PostgreSQL's pg_database_size. */
async function databaseBytes(stores: Stores): Promise<number> {
  if (stores.records === 'postgres' && stores.sql) {
    const [row] = await stores.sql`SELECT pg_database_size(current_database()) AS n`
    return Number(row?.n ?? 0)
  }
  const path = stores.db?.filename
  return path ? fileBytes(path) + fileBytes(`${path}-wal`) : 0
}

/** The admin commands over the server's own stores, whichever backend holds them. */
export function createAdminService(
  stores: Stores,
  { adminOpenids = [], serverUrl = 'http://127.0.0.1:3000' }: AdminServiceOptions = {},
): AdminService {
  const users: UserStore = stores.users
  const sessions: SessionStore = stores.sessions
  const summarize = async (user: UserWithLogin, nowMs: number) => {
    const live = await sessions.listForUser(user.id, nowMs)
    return { user: toSummary(user, live.length), sessions: live.map(toSessionSummary) }
  }

  return {
    async listUsers(nowMs, limit) {
      const found = await users.list(limit)
      return Promise.all(found.map(async (user) => (await summarize(user, nowMs)).user))
    },
    async showUser(openid, nowMs) {
      const user = await users.byOpenid(openid)
      return user ? summarize(user, nowMs) : null
    },
    async revokeUser(openid) {
      const user = await users.byOpenid(openid)
      return user ? sessions.deleteForUser(user.id) : null
    },
    revokeAll: async () => sessions.deleteAll(),
    serverUrl,
    async adminLink(openid, nowMs) {
      try {
        return await createAdminLink(stores, openid, { adminOpenids, nowMs })
      } catch (error) {
        if (error instanceof AdminLinkError) return { refused: error.message }
        throw error
      }
    },
    async stats(nowMs) {
      return {
        users: await users.count(),
        liveSessions: await sessions.countLive(nowMs),
        expiredAwaitingSweep: await sessions.countExpired(nowMs),
        databaseBytes: await databaseBytes(stores),
      }
    },
  }
}
