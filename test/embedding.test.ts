import { describe, expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { createHostApp, createShopApp, shop, shopError } from '../examples/embedding/host-app'
import { openDatabase, type WxauthOptions, wxauth } from '../src/server'
import { freshStores, reachableBackends } from './backends'
import { jsonRequest, manualClock, simulatedWechat } from './helpers'

/**
 * wxauth inside someone else's app: examples/embedding/host-app.ts (the README's example) with and
 * without wxauth. The host's routes must answer exactly as before; wxauth's routes keep their
 * `{ code, msg }`; logout, expiry and revocation reach the host's protected route at once.
 */

const BACKENDS = reachableBackends().filter((backend) => backend === 'sqlite' || backend === 'postgres+redis')
const TTL_SECONDS = 3600
const KIB_100 = 100 * 1024
const CHALLENGE = {
  SKEY_MISSING: 'Bearer realm="wxauth"',
  SKEY_INVALID: 'Bearer realm="wxauth", error="invalid_token"',
} as const

const url = (path: string) => `http://localhost${path}`

function form(fields: Record<string, string>): Request {
  return new Request(url('/contact'), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  })
}

function upload(bytes: number): Request {
  const body = new FormData()
  body.append('photo', new File([new Uint8Array(bytes).fill(7)], 'photo.jpg', { type: 'image/jpeg' }))
  return new Request(url('/upload'), { method: 'POST', body })
}

/** Everything a client sees of a response. */
async function seen(response: Response) {
  return { status: response.status, headers: Object.fromEntries(response.headers), body: await response.text() }
}

const BIG_MESSAGE = '好'.repeat(KIB_100 / 3 + 1) // > 100 KiB of UTF-8
const BIG_JSON = { padding: 'x'.repeat(KIB_100) }

/** [what, the request, the host's own status and body]. */
const HOST_CASES: [string, () => Request, number, unknown][] = [
  [
    'a urlencoded form',
    () => form({ name: 'Li Lei', message: 'a&b=c 你好' }),
    200,
    { name: 'Li Lei', message: 'a&b=c 你好' },
  ],
  [
    'a 100 KiB urlencoded form',
    () => form({ name: 'Li Lei', message: BIG_MESSAGE }),
    200,
    { name: 'Li Lei', message: BIG_MESSAGE },
  ],
  [
    'a form missing a field (the host’s validation error)',
    () => form({ name: 'Li Lei' }),
    422,
    { error: 'invalid input' },
  ],
  ['a 100 KiB multipart upload', () => upload(KIB_100), 200, { name: 'photo.jpg', bytes: KIB_100 }],
  ['a route that throws the host’s own error', () => new Request(url('/buy')), 409, { error: 'out of stock' }],
  ['an unknown route', () => new Request(url('/nope')), 404, { error: 'not found' }],
  ['an unknown route under /auth', () => jsonRequest('POST', '/auth/nope', { code: 'x' }), 404, { error: 'not found' }],
  [
    'a 100 KiB JSON body to an unknown route',
    () => jsonRequest('POST', '/nope', BIG_JSON),
    404,
    { error: 'not found' },
  ],
]

interface LoggedIn {
  skey: string
  user: { id: number; openid: string }
}

async function expectServed(response: Response, { user }: LoggedIn): Promise<void> {
  expect(response.status).toBe(200)
  expect(await response.json()).toEqual({ userId: user.id, openid: user.openid, orders: [] })
}

/** The guard's own 401, untouched by the host's onError: `{ code, msg }`, JSON, its challenge. */
async function expectRefused(response: Response, code: keyof typeof CHALLENGE): Promise<void> {
  expect(response.status).toBe(401)
  expect(response.headers.get('content-type')).toStartWith('application/json')
  expect(response.headers.get('www-authenticate')).toBe(CHALLENGE[code])
  expect(await response.json()).toEqual({ code, msg: expect.any(String) })
}

describe.each(BACKENDS)('wxauth embedded in a host app, on %s', (backend) => {
  async function mount(options: Partial<WxauthOptions> = {}) {
    const stores = await freshStores(backend)
    const clock = manualClock()
    const { simulator, wechat } = simulatedWechat()
    const app = createHostApp({ stores, wechat, clock, sessionTtlSeconds: TTL_SECONDS, loginRateLimit: 0, ...options })
    async function login(name: string): Promise<LoggedIn> {
      const response = await app.handle(jsonRequest('POST', '/auth/login', { code: simulator.issueCode(name) }))
      expect(response.status).toBe(200)
      return (await response.json()) as LoggedIn
    }
    const mine = (skey?: string) =>
      app.handle(jsonRequest('GET', '/orders/mine', undefined, skey === undefined ? {} : { skey }))
    const post = async (path: string, skey: string) => {
      const response = await app.handle(jsonRequest('POST', path, undefined, { skey }))
      expect(response.status).toBe(204)
    }
    return { app, stores, clock, login, mine, post }
  }

  test.each(HOST_CASES)('%s: the same answer with wxauth mounted as without', async (_, request, status, body) => {
    const { app } = await mount()
    const without = await seen(await createShopApp().handle(request()))
    expect(without.status).toBe(status)
    expect(without.headers['content-type']).toStartWith('application/json')
    expect(JSON.parse(without.body)).toEqual(body)
    expect(await seen(await app.handle(request()))).toEqual(without)
  })

  test('wxauth’s own routes keep their { code, msg } answers beside the host’s onError', async () => {
    const { app } = await mount()
    const answers = [
      [jsonRequest('POST', '/auth/login', {}), 400, { code: 'VALIDATION', msg: expect.any(String) }],
      [
        new Request(url('/auth/login'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }),
        400,
        { code: 'VALIDATION', msg: expect.any(String) },
      ],
      [jsonRequest('POST', '/auth/login', BIG_JSON), 413, { code: 'PAYLOAD_TOO_LARGE', msg: expect.any(String) }],
      [
        jsonRequest('POST', '/auth/login', { code: 'errcode:40029' }),
        401,
        { code: 'WECHAT_CODE_INVALID', msg: expect.any(String), errcode: 40029 },
      ],
    ] as const
    for (const [request, status, body] of answers) {
      const response = await app.handle(request)
      expect({ status: response.status, body: await response.json() }).toEqual({ status, body })
      expect(response.headers.get('content-type')).toStartWith('application/json')
    }
  })

  test('the protected route: 401 SKEY_MISSING / SKEY_INVALID from the guard itself, the user for a live skey', async () => {
    const { app, login, mine } = await mount()
    await expectRefused(await mine(), 'SKEY_MISSING')
    await expectRefused(await mine('not-an-skey'), 'SKEY_INVALID')
    const alice = await login('alice')
    await expectServed(await mine(alice.skey), alice)
    const bearer = jsonRequest('GET', '/orders/mine', undefined, { authorization: `Bearer ${alice.skey}` })
    await expectServed(await app.handle(bearer), alice)
  })

  test('POST /auth/logout ends that skey on the host’s route at once, and only that one', async () => {
    const { login, mine, post } = await mount()
    const phone = await login('alice')
    const laptop = await login('alice')
    await expectServed(await mine(phone.skey), phone)
    await post('/auth/logout', phone.skey)
    await expectRefused(await mine(phone.skey), 'SKEY_INVALID')
    await expectServed(await mine(laptop.skey), laptop)
  })

  test('POST /auth/logout-all ends every skey of the user on the host’s route at once, nobody else’s', async () => {
    const { login, mine, post } = await mount()
    const phone = await login('alice')
    const laptop = await login('alice')
    const bob = await login('bob')
    for (const session of [phone, laptop, bob]) await expectServed(await mine(session.skey), session)
    await post('/auth/logout-all', phone.skey)
    await expectRefused(await mine(phone.skey), 'SKEY_INVALID')
    await expectRefused(await mine(laptop.skey), 'SKEY_INVALID')
    await expectServed(await mine(bob.skey), bob)
  })

  test('an expired skey is refused on the host’s route from its expiry on', async () => {
    const { clock, login, mine } = await mount()
    const alice = await login('alice')
    clock.advance(TTL_SECONDS * 1000 - 1)
    await expectServed(await mine(alice.skey), alice)
    clock.advance(1)
    await expectRefused(await mine(alice.skey), 'SKEY_INVALID')
  })

  test('an admin revoke through the same stores (as the admin CLI does) is refused at once', async () => {
    const { stores, login, mine } = await mount()
    const alice = await login('alice')
    const bob = await login('bob')
    await expectServed(await mine(alice.skey), alice) // now in the session cache
    expect(await stores.sessions.deleteForUser(alice.user.id)).toBe(1)
    await expectRefused(await mine(alice.skey), 'SKEY_INVALID')
    await expectServed(await mine(bob.skey), bob)
  })

  test('sessionSliding: a request to the host’s route in the second half of the life renews it', async () => {
    const { clock, login, mine } = await mount({ sessionSliding: true })
    const alice = await login('alice') // expires at 1 TTL
    const step = TTL_SECONDS * 550 // 0.55 TTL in ms: each request lands in the second half and renews
    clock.advance(step)
    await expectServed(await mine(alice.skey), alice) // now expires at 1.55 TTL
    clock.advance(step) // 1.1 TTL: past the first expiry
    await expectServed(await mine(alice.skey), alice) // now expires at 2.1 TTL
    clock.advance(TTL_SECONDS * 1000) // 2.1 TTL: one renewal lasts one TTL, no more
    await expectRefused(await mine(alice.skey), 'SKEY_INVALID')
  })
})

// Elysia runs a hook on every route added after it, a plugin's included: an onError registered
// before .use(wxauth(...)) answers wxauth's errors before wxauth does (hence the example mounts
// wxauth first). Drop `.failing` once wxauth answers its own errors without an onError.
test.failing('known limitation: a host onError registered before wxauth leaves wxauth’s errors alone', async () => {
  const { wechat } = simulatedWechat()
  const app = new Elysia()
    .onError(shopError)
    .use(wxauth({ db: openDatabase(':memory:'), wechat }))
    .use(shop())
  const response = await app.handle(jsonRequest('POST', '/auth/login', {}))
  expect({ status: response.status, body: await response.json() }).toEqual({
    status: 400,
    body: { code: 'VALIDATION', msg: expect.any(String) },
  })
})

test('the README’s “Embedding the plugin” example is examples/embedding/host-app.ts', async () => {
  const readme = await Bun.file(new URL('../README.md', import.meta.url)).text()
  const section = readme.split('\n## Embedding the plugin\n')[1]?.split('\n## ')[0] ?? ''
  const example = await Bun.file(new URL('../examples/embedding/host-app.ts', import.meta.url)).text()
  expect(section.match(/```ts\n([\s\S]*?)```/)?.[1]).toBe(example.replace("from '../../src/server'", "from 'wxauth'"))
})
