import { describe, expect, test } from 'bun:test'
import { isIP } from 'node:net'
import { ipPrefixOf } from '../../../src/modules/login-events/model'

describe('ipPrefixOf', () => {
  test('IPv4: the /24, never the host', () => {
    expect(ipPrefixOf('203.0.113.7')).toBe('203.0.113.0/24')
    expect(ipPrefixOf('203.0.113.255')).toBe('203.0.113.0/24')
    expect(ipPrefixOf('0.0.0.0')).toBe('0.0.0.0/24')
    expect(ipPrefixOf('255.255.255.255')).toBe('255.255.255.0/24')
    expect(ipPrefixOf('127.0.0.1')).toBe('127.0.0.0/24')
    expect(ipPrefixOf('10.1.2.3')).toBe('10.1.2.0/24')
  })

  test('IPv6: the /48 in RFC 5952 form (lower case, no leading zeros, `::` for the zeros)', () => {
    expect(ipPrefixOf('2001:db8:1::7')).toBe('2001:db8:1::/48')
    expect(ipPrefixOf('2001:0db8:0001:0002:0003:0004:0005:0006')).toBe('2001:db8:1::/48')
    expect(ipPrefixOf('2001:DB8:ABCD:12::1')).toBe('2001:db8:abcd::/48')
    expect(ipPrefixOf('2001:db8:1:ffff:ffff:ffff:ffff:ffff')).toBe('2001:db8:1::/48')
    expect(ipPrefixOf('2001:db8::1')).toBe('2001:db8::/48')
    expect(ipPrefixOf('2001::1')).toBe('2001::/48')
    expect(ipPrefixOf('2001:0:1::')).toBe('2001:0:1::/48')
    expect(ipPrefixOf('0:0:1::')).toBe('0:0:1::/48')
    expect(ipPrefixOf('0:1::')).toBe('0:1::/48')
    expect(ipPrefixOf('::1')).toBe('::/48')
    expect(ipPrefixOf('::')).toBe('::/48')
    expect(ipPrefixOf('fe80::1')).toBe('fe80::/48')
  })

  test('IPv6: `::` stands for as many zero groups as are missing, wherever it is', () => {
    expect(ipPrefixOf('1::')).toBe('1::/48')
    expect(ipPrefixOf('1:2::')).toBe('1:2::/48')
    expect(ipPrefixOf('1:2:3::')).toBe('1:2:3::/48')
    expect(ipPrefixOf('1:2:3:4:5:6:7::')).toBe('1:2:3::/48')
    expect(ipPrefixOf('::2:3:4:5:6:7:8')).toBe('0:2:3::/48')
    expect(ipPrefixOf('::3:4:5:6:7:8')).toBe('0:0:3::/48')
    expect(ipPrefixOf('1::3:4:5:6:7:8')).toBe('1:0:3::/48')
    expect(ipPrefixOf('1:2::4:5:6:7:8')).toBe('1:2::/48')
    expect(ipPrefixOf('1:2:3:4:5:6:7:8')).toBe('1:2:3::/48')
  })

  test('an IPv4-mapped IPv6 address is the IPv4 client it stands for', () => {
    expect(ipPrefixOf('::ffff:203.0.113.7')).toBe('203.0.113.0/24')
    expect(ipPrefixOf('::FFFF:203.0.113.7')).toBe('203.0.113.0/24')
    expect(ipPrefixOf('0:0:0:0:0:ffff:203.0.113.7')).toBe('203.0.113.0/24')
    expect(ipPrefixOf('::ffff:cb00:7107')).toBe('203.0.113.0/24')
    expect(ipPrefixOf('::ffff:0:0')).toBe('0.0.0.0/24')
  })

  test('other IPv6 addresses with a dotted quad at the end stay IPv6', () => {
    expect(ipPrefixOf('::1.2.3.4')).toBe('::/48')
    expect(ipPrefixOf('64:ff9b::203.0.113.7')).toBe('64:ff9b::/48')
    expect(ipPrefixOf('2001:db8:1:2:3:4:1.2.3.4')).toBe('2001:db8:1::/48')
    expect(ipPrefixOf('::ffff:0:1.2.3.4')).toBe('::/48')
    expect(ipPrefixOf('1:ffff::1.2.3.4')).toBe('1:ffff::/48')
  })

  test('a zone is ignored', () => {
    expect(ipPrefixOf('fe80::1%eth0')).toBe('fe80::/48')
    expect(ipPrefixOf('fe80:1:2::1%25')).toBe('fe80:1:2::/48')
  })

  const unparsable = [
    '',
    'localhost',
    'abc',
    'abcd',
    'unknown',
    '203.0.113',
    '203.0.113.7.1',
    '203.0.113.256',
    '203.0.113.-1',
    '203.0.113.07',
    '0203.0.113.7',
    '203.0.113.7 ',
    ' 203.0.113.7',
    '203.0.113.7:8080',
    '203.0.113.7/24',
    '1.2.3.4.',
    '[2001:db8::1]',
    '[2001:db8::1]:443',
    '2001:db8::1/64',
    ':',
    ':::',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4::5:6:7:8',
    '1::2::3',
    '::1::',
    '12345::',
    'g::1',
    '2001:db8::1 ',
    '::ffff:1.2.3',
    '::ffff:1.2.3.256',
    '::ffff:01.2.3.4',
    '1.2.3.4::',
    '::1.2.3.4:5',
    '1:2:3:4:5:6:7:1.2.3.4',
    '%eth0',
    '::%',
    '１.２.３.４',
  ]

  test('anything that is not an IP address is null, as is null', () => {
    expect(ipPrefixOf(null)).toBeNull()
    for (const address of unparsable) expect([address, ipPrefixOf(address)]).toEqual([address, null])
  })

  test('parses exactly what node:net calls an IP address', () => {
    const valid = [
      '203.0.113.7',
      '::ffff:203.0.113.7',
      '2001:db8:1::7',
      '1:2:3:4:5:6:7::',
      '::2:3:4:5:6:7:8',
      '2001:db8:1:2:3:4:1.2.3.4',
      '::1.2.3.4',
      'fe80::1%eth0',
    ]
    for (const address of valid)
      expect([address, isIP(address) !== 0, ipPrefixOf(address) !== null]).toEqual([address, true, true])
    for (const address of unparsable) {
      // node:net accepts an empty zone ('::%'); here a `%` must name one.
      if (address === '::%') continue
      expect([address, isIP(address)]).toEqual([address, 0])
    }
  })
})
