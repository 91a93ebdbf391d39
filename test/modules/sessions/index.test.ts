import { expect, test } from 'bun:test'
import { Elysia } from 'elysia'
import { plainAnswerOf } from '../../../src/libs/plain-route'
import { readSkey } from '../../../src/modules/sessions'
import { createApp, openDatabase, wxauth } from '../../../src/server'
import { simulatedWechat } from '../../helpers'

type CompiledRoute = { path: string; method: string; handler: unknown; compile(): unknown }
const compiledRoute = (app: { routes: unknown[] }, method: string, path: string) =>
  app.routes.find((route) => {
    const candidate = route as CompiledRoute
    return candidate.path === path && candidate.method === method
  }) as CompiledRoute

test('the guard runs without an await: Elysia compiles a protected route to call it synchronously', () => {
  const app = new Elysia()
    .use(wxauth({ db: openDatabase(':memory:'), wechat: simulatedWechat().wechat }))
    .get('/mine', ({ user }) => user.id, { auth: true })
  const compiled = String(compiledRoute(app, 'GET', '/mine').compile())
  expect(compiled).toContain('resolved=e.beforeHandle[0](c)')
  expect(compiled).not.toContain('await')
  expect(compiled).toStartWith('function')
})

test('/auth/me and /auth/verify are plain routes that Elysia also compiles without an await', () => {
  const app = createApp({ db: openDatabase(':memory:'), wechat: simulatedWechat().wechat })
  for (const path of ['/auth/me', '/auth/verify']) {
    const route = compiledRoute(app, 'GET', path)
    expect(plainAnswerOf(route.handler), path).toBeFunction()
    const compiled = String(route.compile())
    expect(compiled, path).not.toContain('await')
    expect(compiled, path).toStartWith('function')
  }
})

test('readSkey: the skey header first, then a case-insensitive Bearer, never anything else', () => {
  const headers = (init: Record<string, string>) => new Headers(init)
  expect(readSkey(headers({ skey: 'a' }))).toBe('a')
  expect(readSkey(headers({ skey: 'a', authorization: 'Bearer b' }))).toBe('a')
  expect(readSkey(headers({ authorization: 'bEaReR  b ' }))).toBe('b')
  expect(readSkey(headers({ authorization: 'Basic b' }))).toBeNull()
  expect(readSkey(headers({ authorization: 'Bearer ' }))).toBeNull()
  expect(readSkey(headers({}))).toBeNull()
})
