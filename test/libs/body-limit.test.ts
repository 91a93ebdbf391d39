import { describe, expect, test } from 'bun:test'
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../../src/libs/body-limit'
import { jsonRequest, testApp } from '../helpers'

type Ctx = Awaited<ReturnType<typeof testApp>>

/** `{"text": [[…"value"…]]}`: the note text wrapped in `depth - 1` arrays (the object is one level). */
function nested(depth: number, value = '"x"'): string {
  const arrays = depth - 1
  return `{"text":${'['.repeat(arrays)}${value}${']'.repeat(arrays)}}`
}

function post(path: string, body: string, contentType = 'application/json', headers: Record<string, string> = {}) {
  return new Request(`http://localhost${path}`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...headers },
    body,
  })
}

async function skeyOf(ctx: Ctx): Promise<string> {
  const response = await ctx.app.handle(jsonRequest('POST', '/auth/login', { code: ctx.simulator.issueCode('alice') }))
  return ((await response.json()) as { skey: string }).skey
}

describe('nestsDeeperThan', () => {
  test('counts arrays and objects, not brackets inside strings or after escaped quotes', () => {
    expect(nestsDeeperThan('{"a":[1,{"b":[]}]}', 4)).toBe(false)
    expect(nestsDeeperThan('{"a":[1,{"b":[]}]}', 3)).toBe(true)
    expect(nestsDeeperThan(`["${'['.repeat(100)}"]`, 1)).toBe(false)
    expect(nestsDeeperThan(`["\\"${'{'.repeat(100)}"]`, 1)).toBe(false)
    expect(nestsDeeperThan(`["\\\\",${'['.repeat(3)}]]]]`, 3)).toBe(true)
    expect(nestsDeeperThan('[[],[],[]]', 2)).toBe(false)
  })
})

describe('JSON nesting cap', () => {
  test(`a body nesting deeper than ${MAX_JSON_DEPTH} levels → 400 VALIDATION, before the skey check`, async () => {
    const ctx = await testApp()
    const deep = nested(10_000, '')
    for (const path of ['/notes', '/auth/login', '/wechat/decrypt']) {
      const response = await ctx.app.handle(post(path, deep))
      expect(response.status).toBe(400)
      expect(await response.json()).toEqual({
        code: 'VALIDATION',
        msg: `request body nests deeper than ${MAX_JSON_DEPTH} levels`,
      })
    }
    const justOver = await ctx.app.handle(post('/notes', nested(MAX_JSON_DEPTH + 1)))
    expect(((await justOver.json()) as { msg: string }).msg).toContain('nests deeper')
    expect(ctx.upstreamCalls()).toBe(0)
  })

  test(`${MAX_JSON_DEPTH} levels pass the cap; brackets inside strings are not nesting`, async () => {
    const ctx = await testApp()
    const skey = await skeyOf(ctx)
    const atCap = await ctx.app.handle(post('/notes', nested(MAX_JSON_DEPTH), 'application/json', { skey }))
    expect(atCap.status).toBe(400)
    expect(((await atCap.json()) as { msg: string }).msg).toStartWith('invalid request:')
    const text = `${'['.repeat(500)}\\"{{{`
    const created = await ctx.app.handle(post('/notes', JSON.stringify({ text }), 'application/json', { skey }))
    expect(created.status).toBe(201)
    expect(((await created.json()) as { text: string }).text).toBe(text)
  })
})

describe('content type', () => {
  test('JSON in any letter case and with parameters is parsed as JSON', async () => {
    const ctx = await testApp()
    for (const type of ['APPLICATION/JSON', 'Application/Json; charset=utf-8', 'application/json ; charset=UTF-8']) {
      const body = JSON.stringify({ code: ctx.simulator.issueCode('alice') })
      const response = await ctx.app.handle(post('/auth/login', body, type))
      expect(response.status).toBe(200)
    }
  })

  test('a body of another type is not parsed as JSON, whatever it contains', async () => {
    const ctx = await testApp()
    const body = JSON.stringify({ code: ctx.simulator.issueCode('alice') })
    for (const type of ['text/plain', 'text/plain; note=json']) {
      const response = await ctx.app.handle(post('/auth/login', body, type))
      expect(response.status).toBe(400)
      expect(((await response.json()) as { code: string }).code).toBe('VALIDATION')
    }
    expect(ctx.upstreamCalls()).toBe(0)
  })
})
