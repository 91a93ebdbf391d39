import { describe, expect, test } from 'bun:test'
import {
  EXPIRED_TICKET_GRACE_MS,
  TICKET_ID_BYTES,
  TICKET_ID_PATTERN,
  type Ticket,
} from '../../../src/modules/web-login/model'
import { freshStores, reachableStoreBackends } from '../../backends'

/** One suite, unchanged, for the ticket store of every backend (tickets live where sessions live). */
const MINUTE = 60_000

/** Times from the wall clock: Redis expires a ticket's key by its own clock. */
function newTicket(fields: Partial<Ticket> = {}): Ticket {
  const now = Date.now()
  return {
    id: Buffer.from(crypto.getRandomValues(new Uint8Array(TICKET_ID_BYTES))).toString('base64url'),
    secretHash: Bun.SHA256.hash(crypto.randomUUID()) as Uint8Array,
    status: 'waiting',
    userId: null,
    ip: '203.0.113.7',
    userAgent: 'Mozilla/5.0 (Macintosh) wxauth-test',
    createdAt: now,
    expiresAt: now + 5 * MINUTE,
    ...fields,
  }
}

describe.each(reachableStoreBackends())('web-login tickets on %s', (backend) => {
  /** Tickets live where sessions live: with Redis, each key expires by itself rather than waiting for deleteExpired. */
  const inRedis = backend.endsWith('+redis')

  async function fresh() {
    const stores = await freshStores(backend)
    expect(stores.sessionsIn === 'redis').toBe(inRedis)
    const alice = await stores.users.upsert('o-alice', null, Date.now())
    const bob = await stores.users.upsert('o-bob', null, Date.now())
    return { stores, tickets: stores.tickets, alice: alice.id, bob: bob.id }
  }

  test('create → get gives back every field; the secret hash as the same bytes in a Uint8Array', async () => {
    const { tickets, alice } = await fresh()
    const full = newTicket({ status: 'scanned', userId: alice })
    const bare = newTicket({ ip: null })
    const empty = newTicket({ ip: '', userAgent: '' })
    for (const ticket of [full, bare, empty]) await tickets.create(ticket)
    expect(full.id).toMatch(TICKET_ID_PATTERN)
    for (const ticket of [full, bare, empty]) {
      const found = await tickets.get(ticket.id)
      expect(found).toEqual(ticket)
      expect(found?.secretHash).toBeInstanceOf(Uint8Array)
      expect(Buffer.from(found?.secretHash ?? []).equals(Buffer.from(ticket.secretHash))).toBe(true)
    }
  })

  test('get of an unknown id is null', async () => {
    const { tickets } = await fresh()
    await tickets.create(newTicket())
    expect(await tickets.get(newTicket().id)).toBeNull()
  })

  test('create refuses an id already in use and leaves the first ticket as it was', async () => {
    const { tickets, alice } = await fresh()
    const first = newTicket()
    await tickets.create(first)
    const again = newTicket({ id: first.id, status: 'confirmed', userId: alice })
    await expect((async () => tickets.create(again))()).rejects.toThrow()
    expect(await tickets.get(first.id)).toEqual(first)
  })

  test('get gives an expired ticket until it is swept', async () => {
    const { tickets } = await fresh()
    const now = Date.now()
    const expired = newTicket({ createdAt: now - 6 * MINUTE, expiresAt: now - MINUTE })
    await tickets.create(expired)
    expect(await tickets.get(expired.id)).toEqual(expired)
  })

  test('update moves a ticket only from its exact state (status and user, null included), once', async () => {
    const { tickets, alice, bob } = await fresh()
    const ticket = newTicket()
    const other = newTicket()
    await tickets.create(ticket)
    await tickets.create(other)
    const waiting = { status: 'waiting', userId: null } as const
    const scanned = { status: 'scanned', userId: alice } as const
    const confirmed = { status: 'confirmed', userId: alice } as const

    expect(await tickets.update(ticket.id, { status: 'scanned', userId: null }, scanned)).toBe(false) // wrong status
    expect(await tickets.update(ticket.id, { status: 'waiting', userId: bob }, scanned)).toBe(false) // a number, not null
    expect(await tickets.update(newTicket().id, waiting, scanned)).toBe(false) // unknown ticket
    expect(await tickets.get(ticket.id)).toEqual(ticket)

    expect(await tickets.update(ticket.id, waiting, scanned)).toBe(true)
    expect(await tickets.get(ticket.id)).toEqual({ ...ticket, ...scanned })
    expect(await tickets.update(ticket.id, waiting, scanned)).toBe(false) // already moved
    expect(await tickets.get(other.id)).toEqual(other) // only that ticket moved

    expect(await tickets.update(ticket.id, { status: 'scanned', userId: bob }, confirmed)).toBe(false) // wrong user
    expect(await tickets.update(ticket.id, { status: 'scanned', userId: null }, confirmed)).toBe(false) // null, not a number
    expect(await tickets.update(ticket.id, { status: 'waiting', userId: alice }, confirmed)).toBe(false) // wrong status
    expect(await tickets.get(ticket.id)).toEqual({ ...ticket, ...scanned })

    expect(await tickets.update(ticket.id, scanned, confirmed)).toBe(true)
    expect(await tickets.get(ticket.id)).toEqual({ ...ticket, ...confirmed })
    expect(await tickets.update(ticket.id, scanned, confirmed)).toBe(false)

    // Back to waiting: a user id becomes null again.
    expect(await tickets.update(ticket.id, confirmed, waiting)).toBe(true)
    expect(await tickets.get(ticket.id)).toEqual(ticket)
  })

  test('of concurrent updates from the same state, exactly one moves the ticket', async () => {
    const { tickets, alice, bob } = await fresh()
    const ticket = newTicket()
    await tickets.create(ticket)
    const from = { status: 'waiting', userId: null } as const
    const users = [alice, bob, alice, bob, alice, bob]
    const moved = await Promise.all(
      users.map(async (userId) => tickets.update(ticket.id, from, { status: 'scanned', userId })),
    )
    expect(moved.filter(Boolean)).toHaveLength(1)
    const winner = users[moved.indexOf(true)]
    expect(await tickets.get(ticket.id)).toEqual({ ...ticket, status: 'scanned', userId: winner ?? -1 })
  })

  test('takeConfirmed leaves a ticket that is not confirmed; it deletes and returns a confirmed one, once', async () => {
    const { tickets, alice } = await fresh()
    const waiting = newTicket()
    const scanned = newTicket({ status: 'scanned', userId: alice })
    const denied = newTicket({ status: 'denied', userId: alice })
    const confirmed = newTicket({ status: 'confirmed', userId: alice })
    for (const ticket of [waiting, scanned, denied, confirmed]) await tickets.create(ticket)
    for (const ticket of [waiting, scanned, denied]) {
      expect(await tickets.takeConfirmed(ticket.id)).toBeNull()
      expect(await tickets.get(ticket.id)).toEqual(ticket)
    }
    expect(await tickets.takeConfirmed(newTicket().id)).toBeNull()

    const taken = await tickets.takeConfirmed(confirmed.id)
    expect(taken).toEqual(confirmed)
    expect(taken?.secretHash).toBeInstanceOf(Uint8Array)
    expect(await tickets.get(confirmed.id)).toBeNull()
    expect(await tickets.takeConfirmed(confirmed.id)).toBeNull()
    expect(await tickets.get(waiting.id)).toEqual(waiting)
  })

  test('a ticket confirmed by update is taken by exactly one of several concurrent callers', async () => {
    const { tickets, alice } = await fresh()
    const ticket = newTicket({ status: 'scanned', userId: alice })
    await tickets.create(ticket)
    expect(await tickets.update(ticket.id, ticket, { status: 'confirmed', userId: alice })).toBe(true)
    const taken = await Promise.all(Array.from({ length: 6 }, async () => tickets.takeConfirmed(ticket.id)))
    const winners = taken.filter((found) => found !== null)
    expect(winners).toEqual([{ ...ticket, status: 'confirmed' }])
    expect(await tickets.get(ticket.id)).toBeNull()
  })

  test('deleteExpired deletes at most `limit` tickets expired before the cutoff and counts them', async () => {
    const { tickets } = await fresh()
    const now = Date.now()
    const cutoff = now - MINUTE
    const expired = [3, 2, 1.5].map((minutes) =>
      newTicket({ createdAt: now - 10 * MINUTE, expiresAt: now - minutes * MINUTE }),
    )
    const atCutoff = newTicket({ createdAt: now - 10 * MINUTE, expiresAt: cutoff })
    const live = newTicket()
    for (const ticket of [...expired, atCutoff, live]) await tickets.create(ticket)

    if (inRedis) {
      // Redis drops each ticket's key by itself EXPIRED_TICKET_GRACE_MS after the ticket expires: nothing to sweep.
      expect(await tickets.deleteExpired(now + 60 * MINUTE, 100)).toBe(0)
      for (const ticket of [...expired, atCutoff, live]) expect(await tickets.get(ticket.id)).toEqual(ticket)
      return
    }
    expect(await tickets.deleteExpired(cutoff, 2)).toBe(2)
    expect(await tickets.deleteExpired(cutoff, 2)).toBe(1)
    expect(await tickets.deleteExpired(cutoff, 2)).toBe(0)
    for (const ticket of expired) expect(await tickets.get(ticket.id)).toBeNull()
    expect(await tickets.get(atCutoff.id)).toEqual(atCutoff)
    expect(await tickets.get(live.id)).toEqual(live)
  })

  // SQLite and PostgreSQL keep a ticket until deleteExpired (above).
  test.if(inRedis)('in Redis, a ticket expires by itself EXPIRED_TICKET_GRACE_MS after the ticket does', async () => {
    const { stores, tickets } = await fresh()
    if (!stores.redis) throw new Error('no Redis on a +redis backend')
    const ticket = newTicket()
    await tickets.create(ticket)
    const key = `wxauth:web-ticket:${ticket.id}`
    const pttl = Number(await stores.redis.run((client) => client.send('PTTL', [key])))
    const expected = ticket.expiresAt + EXPIRED_TICKET_GRACE_MS - Date.now()
    expect(pttl).toBeLessThanOrEqual(expected + 50)
    expect(pttl).toBeGreaterThan(expected - 5000)
    // Updates keep that expiry.
    await tickets.update(ticket.id, ticket, { status: 'denied', userId: null })
    expect(Number(await stores.redis.run((client) => client.send('PTTL', [key])))).toBeGreaterThan(expected - 5000)
  })

  // Redis keeps no link to the users table: there a deleted user's tickets expire by themselves.
  test.skipIf(inRedis)("deleting a user deletes the tickets they scanned (in the users' database)", async () => {
    const { stores, tickets, alice, bob } = await fresh()
    const ofAlice = newTicket({ status: 'scanned', userId: alice })
    const ofBob = newTicket({ status: 'confirmed', userId: bob })
    const waiting = newTicket()
    for (const ticket of [ofAlice, ofBob, waiting]) await tickets.create(ticket)
    if (stores.sql) await stores.sql`DELETE FROM users WHERE id = ${alice}`
    else stores.db?.query('DELETE FROM users WHERE id = ?').run(alice)
    expect(await tickets.get(ofAlice.id)).toBeNull()
    expect(await tickets.get(ofBob.id)).toEqual(ofBob)
    expect(await tickets.get(waiting.id)).toEqual(waiting)
  })
})
