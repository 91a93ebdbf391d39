export interface UserSummary {
  id: number
  openid: string
  unionid: string | null
  createdAt: string
  lastLoginAt: string
  liveSessions: number
}

export interface SessionSummary {
  createdAt: string
  expiresAt: string
}

export interface Stats {
  users: number
  liveSessions: number
  expiredAwaitingSweep: number
  databaseBytes: number
}

/** `wxauth backup`'s report: the copy's size and what it holds. */
export interface BackupResult {
  file: string
  bytes: number
  users: number
  sessions: number
}

/** `wxauth restore`'s report: what the restored database holds, and the migration it needed. */
export interface RestoreResult {
  file: string
  databasePath: string
  users: number
  sessions: number
  schema: { from: number; to: number }
}

export const DEFAULT_USER_LIST_LIMIT = 50

export const USAGE = `wxauth — login server for WeChat Mini Programs

Usage:
  wxauth [serve]                          run the server (WECHAT_APPID, WECHAT_SECRET required)
  wxauth dev                              run the server on the built-in WeChat simulator
  wxauth migrate                          apply database migrations and exit
  wxauth users list [--limit N]           users, most recent login first, with live session counts
  wxauth users show <openid>              one user and their live sessions
  wxauth sessions revoke --user <openid>  end every session of one user now
  wxauth sessions revoke --all            end every session now
  wxauth stats                            users, live sessions, expired rows awaiting the sweep, database size
  wxauth admin-link <openid> [--base URL] a one-time link (10 minutes) that signs an ADMIN_OPENIDS admin in to /admin
  wxauth backup <file>                    a consistent copy of the SQLite database, taken while it runs
  wxauth restore <file> --yes             replace the SQLite database by a backup (stop the server first)
  wxauth help | --help | --version

Admin commands use the server's stores (DATABASE_PATH, or DATABASE_URL and REDIS_URL) and print
aligned text; add --json for scripts. Sessions revoked while the server runs stop working within 100 ms.
backup never overwrites a file; with DATABASE_URL use pg_dump and pg_restore instead (see README: Backups).`
