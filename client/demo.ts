/**
 * `bun run demo`: the whole flow, end to end. Starts wxauth in dev mode (the built-in WeChat
 * simulator) on a temporary database with 1-second sessions, then plays a mini program through
 * the client SDK and prints each step with the HTTP status it got. Exits 0 when every step went as expected.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { createWxAuth, type WxLike } from './dist/wxauth.js'
import { mapStorage, requestFailure, requestOverFetch } from './fetch-wx'

const ROOT = resolve(import.meta.dir, '..')
const SESSION_TTL_SECONDS = 1

function startServer(databasePath: string) {
  const server = Bun.spawn(['bun', 'src/index.ts', 'dev'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_PATH: databasePath,
      SESSION_TTL: String(SESSION_TTL_SECONDS),
    },
    stdout: 'pipe',
    stderr: 'ignore',
  })
  const baseUrl = (async () => {
    const decoder = new TextDecoder()
    let output = ''
    for await (const chunk of server.stdout) {
      output += decoder.decode(chunk)
      const url = /wxauth listening on (http:\/\/[^\s"]+)/.exec(output)?.[1]
      if (url) return url
    }
    throw new Error('the server exited before listening')
  })()
  return { server, baseUrl }
}

/** A mini program's `wx`, backed by fetch and a Map; prints every HTTP exchange. */
function demoWx(): WxLike {
  let logins = 0
  return {
    login({ success }) {
      logins++
      const code = `demo-user#${logins}` // the dev simulator maps every demo-user#… code to one openid
      console.log(`     wx.login() → code "${code}"`)
      success({ code })
    },
    request(options) {
      const path = new URL(options.url).pathname
      requestOverFetch(options).then(
        (answer) => {
          const code = (answer.data as { code?: string } | null)?.code
          console.log(`     ${options.method} ${path} → ${answer.statusCode}${code ? ` ${code}` : ''}`)
          options.success(answer)
        },
        (error: unknown) => options.fail(requestFailure(error)),
      )
    },
    ...mapStorage(new Map()),
  }
}

function expectStatus(what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`${what}: expected HTTP ${expected}, got ${actual}`)
}

const masked = (skey: string | null) => (skey ? `${skey.slice(0, 6)}…` : 'none')

async function playMiniProgram(baseUrl: string): Promise<void> {
  const auth = createWxAuth({ baseUrl, wx: demoWx() })

  console.log('1. log in: wx.login() → POST /auth/login {code} → skey kept in wx storage')
  const { user } = await auth.login()
  console.log(`   user #${user.id} (${user.openid}), skey ${masked(auth.skey())}`)

  console.log('2. who am I? GET /auth/me with the skey header')
  expectStatus('GET /auth/me', (await auth.request({ url: '/auth/me' })).statusCode, 200)

  console.log('3. use a protected resource: create and list notes')
  expectStatus(
    'POST /notes',
    (await auth.request({ url: '/notes', method: 'POST', data: { text: 'buy milk' } })).statusCode,
    201,
  )
  const notes = await auth.request<{ text: string }[]>({ url: '/notes' })
  expectStatus('GET /notes', notes.statusCode, 200)
  console.log(`   notes: ${JSON.stringify(notes.data.map((note) => note.text))}`)

  console.log(`4. wait ${SESSION_TTL_SECONDS + 0.5} s: the session expires on the server`)
  await Bun.sleep(SESSION_TTL_SECONDS * 1000 + 500)

  console.log('5. next request: 401 SKEY_INVALID → the client logs in again by itself and retries once')
  const expiredSkey = auth.skey()
  const after = await auth.request<{ text: string }[]>({ url: '/notes' })
  expectStatus('GET /notes after expiry', after.statusCode, 200)
  console.log(
    `   new skey ${masked(auth.skey())} (was ${masked(expiredSkey)}); notes still there: ${after.data.length}`,
  )

  console.log('6. log out: POST /auth/logout, the skey is forgotten')
  const lastSkey = auth.skey() as string
  await auth.logout()
  const dead = await fetch(`${baseUrl}/auth/me`, { headers: { skey: lastSkey } })
  expectStatus('GET /auth/me with the logged-out skey', dead.status, 401)
  console.log(`   stored skey: ${masked(auth.skey())}; the old skey now gets ${dead.status}`)
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'wxauth-demo-'))
  const { server, baseUrl } = startServer(join(dir, 'demo.db'))
  try {
    const url = await baseUrl
    console.log(
      `wxauth dev server on ${url} (WeChat simulator, temporary database, ${SESSION_TTL_SECONDS}-second sessions)\n`,
    )
    await playMiniProgram(url)
    console.log('\ndemo finished: every step answered as expected')
    return 0
  } catch (error) {
    console.error(`\ndemo failed: ${error instanceof Error ? error.message : String(error)}`)
    return 1
  } finally {
    server.kill('SIGTERM')
    await server.exited
    rmSync(dir, { recursive: true, force: true })
  }
}

process.exit(await main())
