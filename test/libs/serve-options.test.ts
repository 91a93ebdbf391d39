/**
 * The server as src/index.ts builds it (SERVE_OPTIONS and servedWithTelemetry on a real port), driven
 * over a raw socket: fetch() and app.handle() cannot send a Content-Length they do not mean to honour.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { connect } from 'node:net'
import { createLogger } from '../../src/libs/log'
import { SERVE_OPTIONS } from '../../src/libs/serve-options'
import { servedWithTelemetry } from '../../src/server'
import { testApp } from '../helpers'

let server: ReturnType<typeof Bun.serve>

beforeAll(async () => {
  const { app } = await testApp()
  server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    ...SERVE_OPTIONS,
    ...servedWithTelemetry(app, { logger: createLogger('silent') }),
  })
  app.server = server
})

afterAll(() => server.stop(true))

interface RawResponse {
  status: number
  headers: Map<string, string>
  body: string
}

function parseResponse(raw: string): RawResponse | null {
  const end = raw.indexOf('\r\n\r\n')
  if (end === -1) return null
  const [statusLine = '', ...lines] = raw.slice(0, end).split('\r\n')
  const headers = new Map(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  )
  const body = raw.slice(end + 4)
  if (body.length < Number(headers.get('content-length') ?? 0)) return null
  return { status: Number(statusLine.split(' ')[1]), headers, body }
}

/** Sends `head` and `body` as they are and resolves with the first response (the rest of a declared body is never sent). */
function rawRequest(head: string, body = ''): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port ?? 0, '127.0.0.1')
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => {
      received += chunk
      const response = parseResponse(received)
      if (!response) return
      socket.destroy()
      resolve(response)
    })
    socket.on('error', reject)
    socket.on('close', () => reject(new Error(`connection closed after ${JSON.stringify(received)}`)))
    socket.write(`${head}\r\n\r\n${body}`)
  })
}

function expectJsonError(response: RawResponse, status: number, code: string): void {
  expect(response.status).toBe(status)
  expect(response.headers.get('content-type')).toStartWith('application/json')
  expect(response.headers.get('x-request-id')).toBeString()
  expect((JSON.parse(response.body) as { code: string }).code).toBe(code)
}

describe('bodies over the limit, on a real socket', () => {
  test('a declared length over Bun’s own 128 MiB default → the app’s JSON 413', async () => {
    for (const [path, length] of [
      ['/notes', 200 * 1024 * 1024],
      ['/auth/login', 1024 ** 4],
      ['/auth/login', '9999999999999999'],
    ] as const) {
      const head = `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${length}`
      expectJsonError(await rawRequest(head, '{"code":"'), 413, 'PAYLOAD_TOO_LARGE')
    }
  })

  test('a route that reads no body answers as usual, whatever length is declared', async () => {
    const head = `POST /auth/verify HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${200 * 1024 * 1024}`
    expectJsonError(await rawRequest(head, 'xxxx'), 401, 'SKEY_MISSING')
  })

  test('a chunked body over 64 KiB → the app’s JSON 413', async () => {
    const chunk = 'x'.repeat(16 * 1024)
    const chunks = Array.from({ length: 5 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`).join('')
    const head =
      'POST /notes HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked'
    expectJsonError(await rawRequest(head, chunks), 413, 'PAYLOAD_TOO_LARGE')
  })
})
