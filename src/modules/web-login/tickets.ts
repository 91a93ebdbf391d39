import type { Database } from 'bun:sqlite'
import type { RedisClient, SQL } from 'bun'
import type { Redis } from '../db/redis'
import {
  EXPIRED_TICKET_GRACE_MS,
  type StoredTicketStatus,
  type Ticket,
  type TicketState,
  type TicketStore,
} from './model'

/** A row of web_login_tickets as SQLite and PostgreSQL give it (PostgreSQL's bigints as strings). */
interface TicketRow {
  id: string
  secret_hash: Uint8Array
  status: StoredTicketStatus
  user_id: number | string | null
  ip: string | null
  user_agent: string
  created_at: number | string
  expires_at: number | string
}

const COLUMNS = 'id, secret_hash, status, user_id, ip, user_agent, created_at, expires_at'

/** The row as a Ticket: a plain Uint8Array (not the driver's Buffer) and numbers. */
function ticketOf(row: TicketRow): Ticket {
  return {
    id: row.id,
    secretHash: new Uint8Array(row.secret_hash),
    status: row.status,
    userId: row.user_id === null ? null : Number(row.user_id),
    ip: row.ip,
    userAgent: row.user_agent,
    createdAt: Number(row.created_at),
    expiresAt: Number(row.expires_at),
  }
}

/** Tickets in the SQLite table web_login_tickets: every answer in the same tick. */
export function sqliteTicketStore(db: Database) {
  const insert = db.query<null, [string, Uint8Array, string, number | null, string | null, string, number, number]>(
    `INSERT INTO web_login_tickets (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  )
  const select = db.query<TicketRow, [string]>(`SELECT ${COLUMNS} FROM web_login_tickets WHERE id = ?`)
  // `IS` compares NULL as a value: a waiting ticket (no user) matches only from.userId = null.
  const compareAndSet = db.query<null, [string, number | null, string, string, number | null]>(
    'UPDATE web_login_tickets SET status = ?, user_id = ? WHERE id = ? AND status = ? AND user_id IS ?',
  )
  const take = db.query<TicketRow, [string]>(
    `DELETE FROM web_login_tickets WHERE id = ? AND status = 'confirmed' RETURNING ${COLUMNS}`,
  )
  const removeExpired = db.query<null, [number, number]>(
    `DELETE FROM web_login_tickets WHERE rowid IN
       (SELECT rowid FROM web_login_tickets WHERE expires_at < ? LIMIT ?)`,
  )
  return {
    create(ticket: Ticket): void {
      const { id, secretHash, status, userId, ip, userAgent, createdAt, expiresAt } = ticket
      insert.run(id, secretHash, status, userId, ip, userAgent, createdAt, expiresAt)
    },
    get(id: string): Ticket | null {
      const row = select.get(id)
      return row ? ticketOf(row) : null
    },
    update(id: string, from: TicketState, to: TicketState): boolean {
      return compareAndSet.run(to.status, to.userId, id, from.status, from.userId).changes > 0
    },
    takeConfirmed(id: string): Ticket | null {
      const row = take.get(id)
      return row ? ticketOf(row) : null
    },
    deleteExpired(beforeMs: number, limit: number): number {
      return removeExpired.run(beforeMs, limit).changes
    },
  } satisfies TicketStore
}

/** The same table in PostgreSQL, shared by every instance. */
export function postgresTicketStore(sql: SQL): TicketStore {
  return {
    async create({ id, secretHash, status, userId, ip, userAgent, createdAt, expiresAt }) {
      await sql`INSERT INTO web_login_tickets (id, secret_hash, status, user_id, ip, user_agent, created_at, expires_at)
                VALUES (${id}, ${secretHash}, ${status}, ${userId}, ${ip}, ${userAgent}, ${createdAt}, ${expiresAt})`
    },
    async get(id) {
      const [row] = await sql`SELECT id, secret_hash, status, user_id, ip, user_agent, created_at, expires_at
                              FROM web_login_tickets WHERE id = ${id}`
      return row ? ticketOf(row) : null
    },
    async update(id, from, to) {
      const moved = await sql`
        UPDATE web_login_tickets SET status = ${to.status}, user_id = ${to.userId}
        WHERE id = ${id} AND status = ${from.status} AND user_id IS NOT DISTINCT FROM ${from.userId}`
      return moved.count > 0
    },
    async takeConfirmed(id) {
      // One statement: of several concurrent callers, the row lock lets exactly one delete (and see) it.
      const [row] = await sql`
        DELETE FROM web_login_tickets WHERE id = ${id} AND status = 'confirmed'
        RETURNING id, secret_hash, status, user_id, ip, user_agent, created_at, expires_at`
      return row ? ticketOf(row) : null
    },
    async deleteExpired(beforeMs, limit) {
      // SKIP LOCKED: instances sweeping at the same moment take different rows instead of waiting on each other.
      const swept = await sql`
        DELETE FROM web_login_tickets WHERE id IN (
          SELECT id FROM web_login_tickets WHERE expires_at < ${beforeMs} LIMIT ${limit} FOR UPDATE SKIP LOCKED)`
      return swept.count
    },
  }
}

/**
 * Keys: wxauth:web-ticket:<id>, a hash with the fields below (secretHash in base64, userId '' for
 * null, ip absent for null). It expires by itself EXPIRED_TICKET_GRACE_MS after the ticket does.
 */
const TICKET = 'wxauth:web-ticket:'
/** The hash's fields, in the order HMGET (and the take script) returns them. */
const FIELDS = ['secretHash', 'status', 'userId', 'ip', 'userAgent', 'createdAt', 'expiresAt'] as const

/** KEYS: ticket. ARGV: TTL (ms), then field/value pairs. Refuses an id in use, as the SQL primary key does. */
const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.error_reply('web-login ticket id already in use') end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`

/** KEYS: ticket. ARGV: from status, from userId, to status, to userId. A missing ticket reads as false: no move. */
const UPDATE = `
local current = redis.call('HMGET', KEYS[1], 'status', 'userId')
if current[1] ~= ARGV[1] or current[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'userId', ARGV[4])
return 1`

/** KEYS: ticket. ARGV: FIELDS. The fields of a confirmed ticket, which is deleted; nil for any other. */
const TAKE_CONFIRMED = `
if redis.call('HGET', KEYS[1], 'status') ~= 'confirmed' then return nil end
local fields = redis.call('HMGET', KEYS[1], unpack(ARGV))
redis.call('DEL', KEYS[1])
return fields`

const userIdField = (userId: number | null) => (userId === null ? '' : String(userId))
const evalScript = (client: RedisClient, script: string, key: string, args: (string | number)[]) =>
  client.send('EVAL', [script, '1', key, ...args.map(String)])

/** The hash's FIELDS values as a Ticket; null for a missing (or foreign) key. */
function parseFields(id: string, values: unknown): Ticket | null {
  if (!Array.isArray(values)) return null
  const [secretHash, status, userId, ip, userAgent, createdAt, expiresAt] = values as (string | null)[]
  if (!secretHash || !status || userId == null || userAgent == null || !createdAt || !expiresAt) return null
  return {
    id,
    secretHash: new Uint8Array(Buffer.from(secretHash, 'base64')),
    status: status as StoredTicketStatus,
    userId: userId === '' ? null : Number(userId),
    ip: ip ?? null,
    userAgent,
    createdAt: Number(createdAt),
    expiresAt: Number(expiresAt),
  }
}

/** Tickets in Redis: each hash expires by itself, so nothing sweeps them (deleteExpired is 0). */
export function redisTicketStore(redis: Redis): TicketStore {
  return {
    async create({ id, secretHash, status, userId, ip, userAgent, createdAt, expiresAt }) {
      // A TTL relative to the ticket's own clock rather than PEXPIREAT: with a clock passed in (tests
      // moving time) the key still lives its lifetime plus the grace, not until a wall-clock instant.
      const ttlMs = Math.max(1, expiresAt + EXPIRED_TICKET_GRACE_MS - createdAt)
      const fields = [
        ['secretHash', Buffer.from(secretHash).toString('base64')],
        ['status', status],
        ['userId', userIdField(userId)],
        ...(ip === null ? [] : [['ip', ip]]),
        ['userAgent', userAgent],
        ['createdAt', String(createdAt)],
        ['expiresAt', String(expiresAt)],
      ].flat()
      await redis.run((client) => evalScript(client, CREATE, TICKET + id, [ttlMs, ...fields]))
    },
    async get(id) {
      return parseFields(id, await redis.run((client) => client.send('HMGET', [TICKET + id, ...FIELDS])))
    },
    async update(id, from, to) {
      const args = [from.status, userIdField(from.userId), to.status, userIdField(to.userId)]
      return Number(await redis.run((client) => evalScript(client, UPDATE, TICKET + id, args))) === 1
    },
    async takeConfirmed(id) {
      return parseFields(id, await redis.run((client) => evalScript(client, TAKE_CONFIRMED, TICKET + id, [...FIELDS])))
    },
    // Redis drops each ticket EXPIRED_TICKET_GRACE_MS after it expires: none waits for a sweep.
    deleteExpired: () => 0,
  }
}
