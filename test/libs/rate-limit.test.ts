import { describe, expect, test } from 'bun:test'
import { clientAddress, createRateLimiter } from '../../src/libs/rate-limit'

describe('createRateLimiter', () => {
  test('a full bucket to start, then one token every 60/perMinute seconds', () => {
    const limiter = createRateLimiter(6)
    for (let i = 0; i < 6; i++) expect(limiter.take('a', 0)).toBe(0)
    expect(limiter.take('a', 0)).toBe(10_000)
    expect(limiter.take('a', 9_999)).toBe(1)
    expect(limiter.take('a', 10_000)).toBe(0)
    expect(limiter.take('b', 10_000)).toBe(0)
  })

  test('memory stays bounded under a flood of distinct addresses', () => {
    const limiter = createRateLimiter(20, 1000)
    for (let i = 0; i < 100_000; i++) limiter.take(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, i)
    expect(limiter.size).toBe(1000)
  })

  test('an active address outlives idle ones when the map is full', () => {
    const limiter = createRateLimiter(1, 3)
    limiter.take('busy', 0)
    limiter.take('x', 1)
    limiter.take('y', 2)
    expect(limiter.take('busy', 3)).toBeGreaterThan(0) // still limited, and now most recently seen
    limiter.take('z', 4) // evicts x, not busy
    expect(limiter.take('busy', 5)).toBeGreaterThan(0)
  })
})

describe('clientAddress', () => {
  const server = { requestIP: () => ({ address: '192.0.2.7' }) }
  const request = (xff?: string) => new Request('http://x/', { headers: xff ? { 'x-forwarded-for': xff } : {} })

  test('the socket address unless the proxy is trusted', () => {
    expect(clientAddress(request('10.0.0.1'), server, false)).toBe('192.0.2.7')
    expect(clientAddress(request('6.6.6.6, 10.0.0.1'), server, true)).toBe('10.0.0.1')
    expect(clientAddress(request(), server, true)).toBe('192.0.2.7')
    expect(clientAddress(request(), null, false)).toBeNull()
  })
})
