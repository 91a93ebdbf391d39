import { describe, expect, test } from 'bun:test'
import { WEB_SESSION_KEY } from '../../../src/modules/sessions/model'
import { generateSessionToken, hashSessionToken, type Stores } from '../../../src/server'
import { freshStores, reachableStoreBackends } from '../../backends'

/** One suite, unchanged, for every implementation of every store. */
const T0 = Date.UTC(2026, 0, 1)
const HOUR = 3600

/** A session's id in listForUser: base64url of its token hash. */
const idOf = (tokenHash: Uint8Array) => Buffer.from(tokenHash).toString('base64url')

async function userWithSession(stores: Stores, openid = 'o-alice', nowMs = T0, ttlSeconds = HOUR) {
  const user = await stores.users.upsert(openid, null, nowMs)
  const created = await stores.sessions.create({ userId: user.id, sessionKey: `key-of-${openid}`, nowMs, ttlSeconds })
  return { user, ...created }
}

describe.each(reachableStoreBackends())('stores on %s', (backend) => {
  const fresh = () => freshStores(backend)

  describe('users', () => {
    test('upsert creates once per openid, records the login, fills a missing unionid and never erases it', async () => {
      const { users } = await fresh()
      const first = await users.upsert('o1', null, T0)
      expect(first).toEqual({ id: expect.any(Number), openid: 'o1', unionid: null, createdAt: T0 })
      const again = await users.upsert('o1', 'u1', T0 + 1000)
      expect(again).toEqual({ ...first, unionid: 'u1' })
      expect(await users.upsert('o1', null, T0 + 2000)).toEqual({ ...first, unionid: 'u1' })
      const other = await users.upsert('o2', null, T0)
      expect(other.id).not.toBe(first.id)
      expect(await users.count()).toBe(2)
    })

    test('byId finds a user, also after the cache is dropped; unknown ids are null', async () => {
      const { users } = await fresh()
      const user = await users.upsert('o1', 'u1', T0)
      users.forgetCached()
      expect(await users.byId(user.id)).toEqual(user)
      expect(await users.byId(user.id + 1000)).toBeNull()
    })

    test('byOpenid finds a user with their latest login; unknown openids are null', async () => {
      const { users } = await fresh()
      const user = await users.upsert('o1', null, T0)
      await users.upsert('o1', 'u1', T0 + 5000)
      expect(await users.byOpenid('o1')).toEqual({ ...user, unionid: 'u1', lastLoginAt: T0 + 5000 })
      expect(await users.byOpenid('o-nobody')).toBeNull()
    })

    test('list gives at most `limit` users, the latest login first, then the highest id', async () => {
      const { users } = await fresh()
      const a = await users.upsert('o-a', null, T0)
      const b = await users.upsert('o-b', 'u-b', T0 + 1000)
      const c = await users.upsert('o-c', null, T0 + 1000)
      await users.upsert('o-a', null, T0 + 2000)
      expect(await users.list(10)).toEqual([
        { ...a, lastLoginAt: T0 + 2000 },
        { ...c, lastLoginAt: T0 + 1000 },
        { ...b, lastLoginAt: T0 + 1000 },
      ])
      expect((await users.list(2)).map((user) => user.openid)).toEqual(['o-a', 'o-c'])
    })

    describe('search', () => {
      /** ids 1.. in creation order; each user's last login later than their creation. */
      async function someUsers() {
        const { users } = await fresh()
        const made = []
        for (const [openid, unionid] of [
          ['oAbc1', 'uX1'],
          ['oAbd2', null],
          ['oabc3', 'uAbc'],
          ['o%_4', 'u_%'],
          ['o12', null],
          ['oXyz', '1234'],
        ] as const) {
          made.push(await users.upsert(openid, unionid, T0 + made.length))
        }
        await users.upsert('oAbc1', null, T0 + 100)
        return { users, made }
      }
      const openids = (found: { openid: string }[]) => found.map((user) => user.openid)

      test('an empty query lists everyone, the highest id first, with the latest login', async () => {
        const { users, made } = await someUsers()
        const found = await users.search('', 10)
        expect(openids(found)).toEqual(['oXyz', 'o12', 'o%_4', 'oabc3', 'oAbd2', 'oAbc1'])
        expect(found.map((user) => user.id)).toEqual(made.map((user) => user.id).reverse())
        expect(found.at(-1)).toMatchObject({ openid: 'oAbc1', unionid: 'uX1', createdAt: T0, lastLoginAt: T0 + 100 })
        expect(found[0]).toMatchObject({ openid: 'oXyz', unionid: '1234', createdAt: T0 + 5, lastLoginAt: T0 + 5 })
        expect(Object.keys(found[0] ?? {}).sort()).toEqual(['createdAt', 'id', 'lastLoginAt', 'openid', 'unionid'])
      })

      test('a prefix of the openid or of the unionid, case-sensitive; never a match in the middle', async () => {
        const { users } = await someUsers()
        expect(openids(await users.search('oAb', 10))).toEqual(['oAbd2', 'oAbc1'])
        expect(openids(await users.search('oAbc', 10))).toEqual(['oAbc1'])
        expect(openids(await users.search('oAbc1', 10))).toEqual(['oAbc1'])
        expect(openids(await users.search('uAb', 10))).toEqual(['oabc3'])
        expect(openids(await users.search('uX1', 10))).toEqual(['oAbc1'])
        expect(openids(await users.search('u', 10))).toEqual(['o%_4', 'oabc3', 'oAbc1'])
        expect(await users.search('Abc', 10)).toEqual([])
        expect(await users.search('oAbc1x', 10)).toEqual([])
      })

      test('digits match that id, and openids and unionids starting with them', async () => {
        const { users, made } = await someUsers()
        const [first, second] = made
        expect(openids(await users.search(String(second?.id), 10))).toEqual(['oAbd2'])
        // '1' is the first user's id and begins oXyz's unionid 1234.
        expect(openids(await users.search(String(first?.id), 10))).toEqual(['oXyz', 'oAbc1'])
        expect(openids(await users.search('123', 10))).toEqual(['oXyz'])
        expect(await users.search('99', 10)).toEqual([])
        expect(await users.search('99999999999999999999999', 10)).toEqual([])
      })

      test('% and _ are plain characters, not patterns', async () => {
        const { users } = await someUsers()
        expect(openids(await users.search('o%', 10))).toEqual(['o%_4'])
        expect(openids(await users.search('o%_', 10))).toEqual(['o%_4'])
        expect(openids(await users.search('u_%', 10))).toEqual(['o%_4'])
        expect(await users.search('%', 10)).toEqual([])
        expect(await users.search('_', 10)).toEqual([])
        expect(await users.search('o_', 10)).toEqual([])
        expect(await users.search('oA_c', 10)).toEqual([])
        expect(await users.search("o' OR ''='", 10)).toEqual([])
      })

      test('at most `limit`; beforeId pages through by id', async () => {
        const { users } = await someUsers()
        const page1 = await users.search('', 2)
        expect(openids(page1)).toEqual(['oXyz', 'o12'])
        const page2 = await users.search('', 2, page1.at(-1)?.id)
        expect(openids(page2)).toEqual(['o%_4', 'oabc3'])
        const page3 = await users.search('', 2, page2.at(-1)?.id)
        expect(openids(page3)).toEqual(['oAbd2', 'oAbc1'])
        expect(await users.search('', 2, page3.at(-1)?.id)).toEqual([])
        expect(openids(await users.search('o', 1, page1[0]?.id))).toEqual(['o12'])
        expect(openids(await users.search('oAb', 5, page3[0]?.id))).toEqual(['oAbc1'])
        expect(await users.search('', 0)).toEqual([])
      })
    })
  })

  describe('sessions', () => {
    test('create → validate gives the user and the expiry; the token is 32 random bytes, stored only hashed', async () => {
      const stores = await fresh()
      const { user, token, tokenHash, expiresAt } = await userWithSession(stores)
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(Buffer.from(tokenHash).equals(Buffer.from(hashSessionToken(token)))).toBe(true)
      expect(expiresAt).toBe(T0 + HOUR * 1000)
      const found = await stores.sessions.validate(token, T0 + 1)
      expect(found?.user).toEqual(user)
      expect(found?.session.userId).toBe(user.id)
      expect(found?.session.expiresAt).toBe(expiresAt)
      expect(await stores.sessions.sessionKeyOf(tokenHash)).toBe('key-of-o-alice')
    })

    test('a web session (no session_key) validates, and its session_key reads back empty rather than unknown', async () => {
      const stores = await fresh()
      const user = await stores.users.upsert('o-web', null, T0)
      const web = await stores.sessions.create({
        userId: user.id,
        sessionKey: WEB_SESSION_KEY,
        nowMs: T0,
        ttlSeconds: HOUR,
      })
      expect((await stores.sessions.validate(web.token, T0 + 1))?.user).toEqual(user)
      expect(await stores.sessions.sessionKeyOf(web.tokenHash)).toBe(WEB_SESSION_KEY)
    })

    test('unknown, malformed and expired tokens are null', async () => {
      const stores = await fresh()
      const { token, expiresAt } = await userWithSession(stores)
      expect(await stores.sessions.validate(generateSessionToken(), T0)).toBeNull()
      expect(await stores.sessions.validate('not a token', T0)).toBeNull()
      expect(await stores.sessions.validate(`${token}x`, T0)).toBeNull()
      expect(await stores.sessions.validate(token, expiresAt - 1)).not.toBeNull()
      expect(await stores.sessions.validate(token, expiresAt)).toBeNull()
    })

    test('delete ends one session; deleteForUser ends all of that user only', async () => {
      const stores = await fresh()
      const { sessions } = stores
      const a1 = await userWithSession(stores, 'o-a')
      const a2 = await userWithSession(stores, 'o-a')
      const a3 = await userWithSession(stores, 'o-a')
      const b = await userWithSession(stores, 'o-b')
      await sessions.delete(a1.tokenHash)
      expect(await sessions.validate(a1.token, T0)).toBeNull()
      expect(await sessions.sessionKeyOf(a1.tokenHash)).toBeNull()
      expect(await sessions.validate(a2.token, T0)).not.toBeNull()
      expect(await sessions.deleteForUser(a2.user.id)).toBe(2)
      expect(await sessions.validate(a2.token, T0)).toBeNull()
      expect(await sessions.validate(a3.token, T0)).toBeNull()
      expect(await sessions.validate(b.token, T0)).not.toBeNull()
      expect(await sessions.deleteForUser(a2.user.id)).toBe(0)
    })

    test('trimForUser keeps the newest `keep` sessions, never the one just made', async () => {
      const stores = await fresh()
      const made = []
      for (let i = 0; i < 5; i++) made.push(await userWithSession(stores, 'o-a', T0 + i * 1000))
      const other = await userWithSession(stores, 'o-b')
      const newest = made[4] as (typeof made)[number]
      expect(await stores.sessions.trimForUser(newest.user.id, 2, newest.tokenHash)).toBe(3)
      const alive = await Promise.all(
        made.map(async (s) => (await stores.sessions.validate(s.token, T0 + 5000)) !== null),
      )
      expect(alive).toEqual([false, false, false, true, true])
      expect(await stores.sessions.validate(other.token, T0)).not.toBeNull()
      expect(await stores.sessions.trimForUser(newest.user.id, 2, newest.tokenHash)).toBe(0)
    })

    test('extend moves the expiry of a live session', async () => {
      const stores = await fresh()
      const { token } = await userWithSession(stores)
      const found = await stores.sessions.validate(token, T0 + 1000)
      if (!found) throw new Error('session not found')
      const later = T0 + 5 * HOUR * 1000
      expect((await stores.sessions.extend(found.session, later, T0 + 1000)).expiresAt).toBe(later)
      expect((await stores.sessions.validate(token, T0 + 2 * HOUR * 1000))?.session.expiresAt).toBe(later)
      expect(await stores.sessions.validate(token, later)).toBeNull()
    })

    test('countLive counts sessions not yet expired', async () => {
      const stores = await fresh()
      await userWithSession(stores, 'o-a', T0, 60)
      await userWithSession(stores, 'o-b', T0, 120)
      expect(await stores.sessions.countLive(T0)).toBe(2)
      expect(await stores.sessions.countLive(T0 + 60_000)).toBe(1)
      expect(await stores.sessions.countLive(T0 + 120_000)).toBe(0)
    })

    test('countExpired counts sessions expired and not yet swept (none where the store expires them itself)', async () => {
      const stores = await fresh()
      await userWithSession(stores, 'o-a', T0, 60)
      await userWithSession(stores, 'o-b', T0, 120)
      expect(await stores.sessions.countExpired(T0)).toBe(0)
      const expected = (n: number) => (stores.sessions.needsSweep ? n : 0)
      expect(await stores.sessions.countExpired(T0 + 60_000)).toBe(expected(1))
      expect(await stores.sessions.countExpired(T0 + 120_000)).toBe(expected(2))
      if (stores.sessions.needsSweep) await stores.sessions.deleteExpired(T0 + 60_000, 100)
      expect(await stores.sessions.countExpired(T0 + 120_000)).toBe(expected(1))
    })

    test('listForUser gives the live sessions of one user, oldest first', async () => {
      const stores = await fresh()
      const later = await userWithSession(stores, 'o-a', T0 + 2000, 60)
      await userWithSession(stores, 'o-a', T0, 1) // expired by T0 + 2000
      const earlier = await userWithSession(stores, 'o-a', T0 + 1000, 60)
      await userWithSession(stores, 'o-b', T0, 60)
      expect(await stores.sessions.listForUser(later.user.id, T0 + 2000)).toEqual([
        { id: idOf(earlier.tokenHash), createdAt: T0 + 1000, expiresAt: T0 + 61_000, kind: 'miniprogram' },
        { id: idOf(later.tokenHash), createdAt: T0 + 2000, expiresAt: T0 + 62_000, kind: 'miniprogram' },
      ])
      expect(await stores.sessions.listForUser(later.user.id + 1000, T0)).toEqual([])
    })

    test('listForUser tells web sessions from mini program ones, and its id is what delete() takes', async () => {
      const stores = await fresh()
      const mini = await userWithSession(stores, 'o-a', T0)
      const web = await stores.sessions.create({
        userId: mini.user.id,
        sessionKey: WEB_SESSION_KEY,
        nowMs: T0 + 1000,
        ttlSeconds: HOUR,
      })
      const listed = await stores.sessions.listForUser(mini.user.id, T0 + 1000)
      expect(listed).toEqual([
        { id: idOf(mini.tokenHash), createdAt: T0, expiresAt: mini.expiresAt, kind: 'miniprogram' },
        { id: idOf(web.tokenHash), createdAt: T0 + 1000, expiresAt: web.expiresAt, kind: 'web' },
      ])
      // Neither the skey nor the session_key shows anywhere in a listing.
      const shown = JSON.stringify(listed)
      for (const secret of [mini.token, web.token, 'key-of-o-a']) expect(shown).not.toContain(secret)
      expect(Object.keys(listed[0] ?? {}).sort()).toEqual(['createdAt', 'expiresAt', 'id', 'kind'])

      await stores.sessions.delete(Buffer.from(listed[1]?.id ?? '', 'base64url'))
      expect(await stores.sessions.validate(web.token, T0 + 1000)).toBeNull()
      expect(await stores.sessions.validate(mini.token, T0 + 1000)).not.toBeNull()
      expect((await stores.sessions.listForUser(mini.user.id, T0 + 1000)).map((s) => s.kind)).toEqual(['miniprogram'])
    })

    test('deleteAll ends every session of every user', async () => {
      const stores = await fresh()
      const made = [
        await userWithSession(stores, 'o-a'),
        await userWithSession(stores, 'o-a'),
        await userWithSession(stores, 'o-b'),
      ]
      expect(await stores.sessions.deleteAll()).toBe(3)
      for (const { token } of made) expect(await stores.sessions.validate(token, T0)).toBeNull()
      expect(await stores.sessions.countLive(T0)).toBe(0)
      expect(await stores.sessions.listForUser(made[0]?.user.id ?? 0, T0)).toEqual([])
      // The cap still works for a user whose sessions were all removed.
      const fresh1 = await userWithSession(stores, 'o-a')
      expect(await stores.sessions.trimForUser(fresh1.user.id, 1, fresh1.tokenHash)).toBe(0)
      expect(await stores.sessions.deleteAll()).toBe(1)
    })

    test('deleteExpired removes only expired sessions, in batches (where the store sweeps at all)', async () => {
      const stores = await fresh()
      if (!stores.sessions.needsSweep) {
        // Redis drops each key when its own TTL (SET … EX) runs out: nothing to sweep.
        expect(await stores.sessions.deleteExpired(T0 + 10 * HOUR * 1000, 100)).toBe(0)
        return
      }
      for (let i = 0; i < 5; i++) await userWithSession(stores, `o-${i}`, T0, 60)
      const live = await userWithSession(stores, 'o-live', T0, HOUR)
      expect(await stores.sessions.deleteExpired(T0 + 60_000, 3)).toBe(3)
      expect(await stores.sessions.deleteExpired(T0 + 60_000, 3)).toBe(2)
      expect(await stores.sessions.deleteExpired(T0 + 60_000, 3)).toBe(0)
      expect(await stores.sessions.validate(live.token, T0 + 60_000)).not.toBeNull()
    })
  })

  describe('notes', () => {
    test('a user lists, adds and deletes only their own notes', async () => {
      const stores = await fresh()
      const a = await stores.users.upsert('o-a', null, T0)
      const b = await stores.users.upsert('o-b', null, T0)
      const first = await stores.notes.create(a.id, 'first', T0)
      expect(first).toEqual({ id: expect.any(Number), text: 'first', createdAt: new Date(T0).toISOString() })
      const second = await stores.notes.create(a.id, 'second', T0 + 1)
      await stores.notes.create(b.id, 'not yours', T0)
      expect((await stores.notes.list(a.id)).map((note) => note.text)).toEqual(['first', 'second'])
      expect(await stores.notes.delete(b.id, first.id)).toBe(false)
      expect(await stores.notes.delete(a.id, first.id)).toBe(true)
      expect(await stores.notes.delete(a.id, first.id)).toBe(false)
      expect(await stores.notes.list(a.id)).toEqual([second])
    })
  })

  describe('access_token store', () => {
    const APP = 'wx-app'
    const LEASE = 10_000

    test('one owner holds the lease; others wait until it saves or releases it', async () => {
      const { tokens } = await fresh()
      expect(await tokens.read(APP, T0)).toBeNull()
      expect(await tokens.claim(APP, 'A', T0, T0, LEASE)).toBe('refresh')
      expect(await tokens.claim(APP, 'B', T0, T0, LEASE)).toBe('wait')
      expect(await tokens.claim(APP, 'A', T0, T0, LEASE)).toBe('refresh')
      await tokens.release(APP, 'B') // not B's lease: no effect
      expect(await tokens.claim(APP, 'B', T0, T0, LEASE)).toBe('wait')
      await tokens.release(APP, 'A')
      expect(await tokens.claim(APP, 'B', T0, T0, LEASE)).toBe('refresh')
    })

    test('a saved token is read and claimed until it is no longer usable', async () => {
      const { tokens } = await fresh()
      expect(await tokens.claim(APP, 'A', T0, T0, LEASE)).toBe('refresh')
      await tokens.save(APP, 'TOKEN-1', T0 + 7200_000, 'A', T0)
      expect(await tokens.read(APP, T0)).toBe('TOKEN-1')
      expect(await tokens.claim(APP, 'B', T0, T0, LEASE)).toEqual({ token: 'TOKEN-1' })
      expect(await tokens.read(APP, T0 + 7200_000)).toBeNull()
      // The save released A's lease: B may refresh at once.
      expect(await tokens.claim(APP, 'B', T0, T0 + 7200_000, LEASE)).toBe('refresh')
    })

    test('dropIfCurrent forgets only the token it names', async () => {
      const { tokens } = await fresh()
      await tokens.claim(APP, 'A', T0, T0, LEASE)
      await tokens.save(APP, 'NEW', T0 + 7200_000, 'A', T0)
      await tokens.dropIfCurrent(APP, 'OLD')
      expect(await tokens.read(APP, T0)).toBe('NEW')
      await tokens.dropIfCurrent(APP, 'NEW')
      expect(await tokens.read(APP, T0)).toBeNull()
    })
  })
})
