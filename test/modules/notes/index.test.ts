import { describe, expect, test } from 'bun:test'
import { treaty } from '@elysiajs/eden'
import { jsonRequest, testApp } from '../../helpers'

async function twoUsers() {
  const ctx = await testApp()
  const api = treaty(ctx.app)
  const skeyOf = async (user: string) => {
    const { data, error } = await api.auth.login.post({ code: ctx.simulator.issueCode(user) })
    if (error) throw new Error(`login failed: ${error.status}`)
    return { headers: { skey: data.skey } }
  }
  return { ctx, api, alice: await skeyOf('alice'), bob: await skeyOf('bob') }
}

describe('notes', () => {
  test('create → 201 with id, list → 200 own notes in order, delete → 204', async () => {
    const { api, alice } = await twoUsers()
    const first = await api.notes.post({ text: 'buy milk' }, alice)
    expect(first.status).toBe(201)
    expect(first.data).toEqual({ id: expect.any(Number), text: 'buy milk', createdAt: expect.anything() }) // Eden revives ISO dates
    await api.notes.post({ text: 'call mum' }, alice)
    const list = await api.notes.get(alice)
    expect(list.status).toBe(200)
    expect(list.data?.map((note) => note.text)).toEqual(['buy milk', 'call mum'])
    const removed = await api.notes({ id: (first.data as { id: number }).id }).delete(undefined, alice)
    expect(removed.status).toBe(204)
    expect((await api.notes.get(alice)).data?.map((note) => note.text)).toEqual(['call mum'])
  })

  test('a user sees and deletes only their own notes', async () => {
    const { api, alice, bob } = await twoUsers()
    const note = await api.notes.post({ text: 'alice only' }, alice)
    expect((await api.notes.get(bob)).data).toEqual([])
    const stolen = await api.notes({ id: (note.data as { id: number }).id }).delete(undefined, bob)
    expect(stolen.status).toBe(404)
    expect(stolen.error?.value).toMatchObject({ code: 'NOT_FOUND' })
    expect((await api.notes.get(alice)).data).toHaveLength(1)
  })

  test('every method needs an skey', async () => {
    const { ctx } = await twoUsers()
    for (const request of [
      jsonRequest('GET', '/notes'),
      jsonRequest('POST', '/notes', { text: 'x' }),
      jsonRequest('DELETE', '/notes/1'),
    ]) {
      const response = await ctx.app.handle(request)
      expect(response.status).toBe(401)
      expect(await response.json()).toMatchObject({ code: 'SKEY_MISSING' })
    }
  })

  test.each([
    ['empty text', { text: '' }],
    ['text over 1000 characters', { text: 'x'.repeat(1001) }],
    ['a number', { text: 5 }],
  ])('%s → 400 VALIDATION', async (_name, body) => {
    const { ctx, alice } = await twoUsers()
    const response = await ctx.app.handle(jsonRequest('POST', '/notes', body, alice.headers))
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ code: 'VALIDATION' })
  })

  test.each([
    'abc',
    '0',
    '-1',
    '1.5',
    '01',
    '9007199254740992', // 2^53: past it Number() rounds ids onto their neighbours
    '99999999999999999',
  ])('DELETE /notes/%s → 400 VALIDATION', async (id) => {
    const { ctx, alice } = await twoUsers()
    const response = await ctx.app.handle(jsonRequest('DELETE', `/notes/${id}`, undefined, alice.headers))
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ code: 'VALIDATION' })
  })

  test.each([
    ['hexadecimal', (id: number) => `0x${id.toString(16)}`],
    ['binary', (id: number) => `0b${id.toString(2)}`],
    ['with a decimal point', (id: number) => `${id}.0`],
    ['with a plus sign', (id: number) => `+${id}`],
    ['with an exponent', (id: number) => `${id / 10}e1`],
    ['with a leading zero', (id: number) => `0${id}`],
  ])('a note id %s → 400 VALIDATION, and the note stays', async (_name, spell) => {
    const { api, ctx, alice } = await twoUsers()
    let id = 0 // note 39 on a fresh SQLite store: 0x27, 39.0, +39, 3.9e1, 0b100111, 039
    while (id < 39) id = ((await api.notes.post({ text: 'kept' }, alice)).data as { id: number }).id
    const response = await ctx.app.handle(jsonRequest('DELETE', `/notes/${spell(id)}`, undefined, alice.headers))
    expect(response.status).toBe(400)
    expect(await response.json()).toMatchObject({ code: 'VALIDATION' })
    expect((await api.notes.get(alice)).data?.map((note) => note.id)).toContain(id)
  })

  test('the largest id, 2^53 - 1, is well formed: 404 NOT_FOUND when there is no such note', async () => {
    const { ctx, alice } = await twoUsers()
    const response = await ctx.app.handle(jsonRequest('DELETE', '/notes/9007199254740991', undefined, alice.headers))
    expect(response.status).toBe(404)
    expect(await response.json()).toMatchObject({ code: 'NOT_FOUND' })
  })

  test('deleting a missing note → 404 NOT_FOUND', async () => {
    const { ctx, alice } = await twoUsers()
    const response = await ctx.app.handle(jsonRequest('DELETE', '/notes/999', undefined, alice.headers))
    expect(response.status).toBe(404)
    expect(await response.json()).toMatchObject({ code: 'NOT_FOUND' })
  })
})
