/**
 * Versioned schema. Entry i brings the database to user_version i + 1.
 * Append new entries; never edit one that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    openid        TEXT    NOT NULL UNIQUE,
    unionid       TEXT,
    created_at    INTEGER NOT NULL,
    last_login_at INTEGER NOT NULL
  ) STRICT;

  CREATE TABLE sessions (
    token_hash  BLOB    PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    session_key TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX sessions_expires_at ON sessions(expires_at);
  CREATE INDEX sessions_user_id ON sessions(user_id);

  CREATE TABLE notes (
    id         INTEGER PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    text       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX notes_user_id ON notes(user_id, id);
  `,
  // 2: WeChat's access_token, shared by every process on this database. The lease lets one refresh it.
  `
  CREATE TABLE wechat_access_tokens (
    appid        TEXT    PRIMARY KEY,
    access_token TEXT,
    expires_at   INTEGER NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  INTEGER NOT NULL DEFAULT 0
  ) STRICT;
  `,
  // 3: a user's sessions by age straight from the index (WITHOUT ROWID indexes carry token_hash):
  // the per-login session cap and logout-all read no table rows and sort nothing.
  `
  DROP INDEX sessions_user_id;
  CREATE INDEX sessions_user_created ON sessions(user_id, created_at);
  `,
  // 4: web-login tickets ("scan a mini program code to log in on the web"), only the SHA-256 of the browser's secret.
  `
  CREATE TABLE web_login_tickets (
    id          TEXT    PRIMARY KEY,
    secret_hash BLOB    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('waiting', 'scanned', 'confirmed', 'denied')),
    user_id     INTEGER REFERENCES users(id) ON DELETE CASCADE,
    ip          TEXT,
    user_agent  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX web_login_tickets_expires_at ON web_login_tickets(expires_at);
  `,
  // 5: login attempts for the admin console, kept LOGIN_EVENTS_DAYS. No foreign key: events outlive their user.
  `
  CREATE TABLE login_events (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    outcome   TEXT    NOT NULL,
    user_id   INTEGER,
    ip_prefix TEXT
  ) STRICT;
  CREATE INDEX login_events_at ON login_events(at);
  `,
]
