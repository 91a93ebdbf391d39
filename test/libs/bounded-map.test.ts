import { expect, test } from 'bun:test'
import { BoundedMap } from '../../src/libs/bounded-map'

test('forgets the oldest entries beyond its bound, and updates in place', () => {
  const map = new BoundedMap<string, number>(2)
  map.set('a', 1).set('b', 2).set('a', 10)
  expect([...map]).toEqual([
    ['a', 10],
    ['b', 2],
  ])
  map.set('c', 3)
  expect([...map.keys()]).toEqual(['b', 'c'])
  expect(map.size).toBe(2)
})
