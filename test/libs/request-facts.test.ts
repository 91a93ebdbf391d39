import { expect, test } from 'bun:test'
import { beginHandlerCall, endHandlerCall, noteUserId, userIdNoted } from '../../src/libs/request-facts'

const request = () => new Request('http://x/auth/me')

test('a note made during the call lands in its slot; one made after it, for the same request, wins', async () => {
  const req = request()
  const call = beginHandlerCall(req)
  noteUserId(req, 1)
  endHandlerCall(call)
  expect(userIdNoted(call)).toBe(1)
  await Promise.resolve()
  noteUserId(req, 2)
  expect(userIdNoted(call)).toBe(2)
})

test("a note for another request never lands in this call's slot", () => {
  const mine = request()
  const other = request()
  const call = beginHandlerCall(mine)
  noteUserId(other, 7)
  endHandlerCall(call)
  expect(userIdNoted(call)).toBeUndefined()
  const otherCall = beginHandlerCall(other)
  endHandlerCall(otherCall)
  expect(userIdNoted(otherCall)).toBe(7)
})

test('nested calls: the inner call restores the outer one, and a note for the same request reaches both', () => {
  const req = request()
  const outer = beginHandlerCall(req)
  const inner = beginHandlerCall(req)
  noteUserId(req, 3)
  endHandlerCall(inner)
  const afterInner = request()
  noteUserId(afterInner, 4) // not the outer call's request: goes to the WeakMap, not the outer slot
  endHandlerCall(outer)
  expect(userIdNoted(inner)).toBe(3)
  expect(userIdNoted(outer)).toBe(3)
  expect(outer.userId).toBe(3)
})
