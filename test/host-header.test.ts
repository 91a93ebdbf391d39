import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { observedApp } from './helpers'

interface RawAnswer {
  status: number
  body: string
}

/** The app with metrics on, served the way src/index.ts serves it. */
function startServer() {
  const { app, served, simulator, lines } = observedApp()
  const server = Bun.serve({ port: 0, hostname: '127.0.0.1', ...served })
  app.server = server
  const { port } = server
  if (port === undefined) throw new Error('the server listens on no TCP port')
  return { app, server, port, simulator, lines }
}

function decodeChunked(body: string): string {
  let decoded = ''
  let rest = body
  for (;;) {
    const end = rest.indexOf('\r\n')
    const size = Number.parseInt(rest.slice(0, end), 16)
    if (!size) return decoded
    decoded += rest.slice(end + 2, end + 2 + size)
    rest = rest.slice(end + 2 + size + 2)
  }
}

/** One request written by hand (fetch sets its own Host header), answered and closed. */
function rawRequest(port: number, head: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head))
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk) => {
      received += chunk
    })
    socket.on('error', reject)
    socket.on('close', () => {
      const split = received.indexOf('\r\n\r\n')
      const headers = received.slice(0, split)
      const body = received.slice(split + 4)
      resolve({
        status: Number(headers.split(' ')[1]),
        body: /\r\ntransfer-encoding: chunked/i.test(headers) ? decodeChunked(body) : body,
      })
    })
  })
}

/** `GET path` with this Host header line (null: none), closing the connection after the answer. */
function get(port: number, path: string, host: string | null, headers: Record<string, string> = {}, version = '1.1') {
  const lines = [
    `GET ${path} HTTP/${version}`,
    ...(host === null ? [] : [`Host: ${host}`]),
    ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    'Connection: close',
  ]
  return rawRequest(port, `${lines.join('\r\n')}\r\n\r\n`)
}

let served: ReturnType<typeof startServer>
let skey: string

beforeAll(async () => {
  served = startServer()
  const login = await fetch(`http://127.0.0.1:${served.port}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code: served.simulator.issueCode('hana') }),
  })
  skey = ((await login.json()) as { skey: string }).skey
})

afterAll(() => served.server.stop(true))

const SHORT_AND_ODD_HOSTS = ['x', 'a:1', 'ab', 'abc', 'x:80', '[::1]', `${'h'.repeat(300)}.example`]

describe.each(SHORT_AND_ODD_HOSTS)('a real server, Host: %s', (host) => {
  test('GET /xx/auth/me and GET /xx/metrics → 404 NOT_FOUND', async () => {
    for (const path of ['/xx/auth/me', '/xx/metrics', '/xxxx/metrics', '/xx/notes']) {
      const answer = await get(served.port, path, host, { skey })
      expect([path, answer.status]).toEqual([path, 404])
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'NOT_FOUND' })
    }
  })

  test('the real paths answer as usual', async () => {
    const me = await get(served.port, '/auth/me', host, { skey })
    expect(me.status).toBe(200)
    expect(JSON.parse(me.body)).toMatchObject({ user: { id: expect.any(Number) } })
    const metrics = await get(served.port, '/metrics', host)
    expect(metrics.status).toBe(200)
    expect(metrics.body).toContain('# TYPE')
    // not a native route: found by Elysia's router in the URL
    const missing = await rawRequest(
      served.port,
      `DELETE /notes/999 HTTP/1.1\r\nHost: ${host}\r\nskey: ${skey}\r\nConnection: close\r\n\r\n`,
    )
    expect(missing.status).toBe(404)
    expect(JSON.parse(missing.body)).toMatchObject({ code: 'NOT_FOUND', msg: 'no such note' })
  })
})

// Bun gives request.url as the bare path for these: no host in it at all.
const HOSTLESS: [string, string | null, string][] = [
  ['an empty Host', '', '1.1'],
  ['a blank Host', '   ', '1.1'],
  ['Host: x/y', 'x/y', '1.1'],
  ['Host: a@b', 'a@b', '1.1'],
  ['HTTP/1.0 without Host', null, '1.0'],
]

describe.each(HOSTLESS)('a real server, %s', (_name, host, version) => {
  test('Bun native routes answer by the real path', async () => {
    const me = await get(served.port, '/auth/me', host, { skey }, version)
    expect(me.status).toBe(200)
    expect((await get(served.port, '/metrics', host, {}, version)).status).toBe(200)
  })

  test('anything else → 400 VALIDATION, logged with its real path', async () => {
    for (const path of ['/xx/auth/me', '/xx/metrics', '/xxxxxxxxxx/metrics', '/notes/1']) {
      served.lines.length = 0
      const answer = await get(served.port, path, host, { skey }, version)
      expect([path, answer.status]).toEqual([path, 400])
      expect(JSON.parse(answer.body)).toEqual({
        code: 'VALIDATION',
        msg: 'the Host header is missing, empty or malformed',
      })
      expect(served.lines).toEqual([expect.objectContaining({ msg: 'request', path, status: 400, code: 'VALIDATION' })])
    }
  })
})

describe('app.handle', () => {
  test.each(['x', 'a:1', 'ab', 'abc'])(
    'http://%s/xx/auth/me and /xx/metrics → 404; the real paths answer',
    async (host) => {
      const { app } = served
      for (const path of ['/xx/auth/me', '/xx/metrics']) {
        const response = await app.handle(new Request(`http://${host}${path}`, { headers: { skey } }))
        expect([path, response.status]).toEqual([path, 404])
        expect(await response.json()).toMatchObject({ code: 'NOT_FOUND' })
      }
      expect((await app.handle(new Request(`http://${host}/auth/me`, { headers: { skey } }))).status).toBe(200)
      expect((await app.handle(new Request(`http://${host}/metrics`))).status).toBe(200)
      const missing = await app.handle(new Request(`http://${host}/notes/999`, { method: 'DELETE', headers: { skey } }))
      expect(missing.status).toBe(404)
      expect(await missing.json()).toMatchObject({ msg: 'no such note' })
    },
  )
})
