import { expect, test } from 'bun:test'
import { readSkey } from '../../../src/modules/sessions'
import { createApp, openDatabase } from '../../../src/server'
import { simulatedWechat } from '../../helpers'

test('the guard runs without an await: Elysia compiles protected routes to call it synchronously', () => {
  const app = createApp({
    db: openDatabase(':memory:'),
    wechat: simulatedWechat().wechat,
  })
  for (const path of ['/auth/me', '/auth/verify']) {
    const route = app.routes.find((candidate) => candidate.path === path && candidate.method === 'GET') as unknown as {
      compile(): unknown
    }
    const compiled = String(route.compile())
    expect(compiled, path).toContain('resolved=e.beforeHandle[0](c)')
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
