import type { MaybePromise } from '../store/model'

/** One login attempt, as the admin console counts them. Never the full address: only its network (ipPrefixOf). */
export interface LoginEvent {
  /** Epoch ms. */
  at: number
  /** The answer's code: `OK`, or an error code such as `WECHAT_CODE_INVALID`, `RATE_LIMITED`. */
  outcome: string
  /** The user, when the attempt got as far as knowing one. */
  userId: number | null
  /** The client's /24 (IPv4) or /48 (IPv6); null when unknown. */
  ipPrefix: string | null
}

export interface StoredLoginEvent extends LoginEvent {
  id: number
}

export const HOUR_MS = 3_600_000

/**
 * Login events where the records live (SQLite or PostgreSQL; Redis sessions leave them there).
 * No foreign key to users: the events outlive the user they name. test/modules/login-events holds
 * the conformance suite both implementations pass.
 */
export interface LoginEventStore {
  /** Stores every event in one statement or one transaction: all of them or none. */
  add(events: readonly LoginEvent[]): MaybePromise<void>
  /** Retention: deletes the events before `beforeMs`; returns how many went. */
  deleteBefore(beforeMs: number): MaybePromise<number>
  /** Events since `sinceMs` (inclusive) by hour (hourStart = floor(at / HOUR_MS) * HOUR_MS) and outcome, in that order. */
  perHour(sinceMs: number): MaybePromise<{ hourStart: number; outcome: string; count: number }[]>
  /** Events since `sinceMs` (inclusive) by outcome: the most first, then by outcome. */
  byOutcome(sinceMs: number): MaybePromise<{ outcome: string; count: number }[]>
  /** At most `limit` events, the newest (highest id) first; only ids below `beforeId` when given (paging). */
  recent(limit: number, beforeId?: number): MaybePromise<StoredLoginEvent[]>
}

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/
const HEX_GROUP = /^[0-9A-Fa-f]{1,4}$/

/** The four bytes of a dotted-quad IPv4 address; null unless each is 0–255 written without a leading zero. */
function ipv4Bytes(address: string): number[] | null {
  const parts = IPV4.exec(address)?.slice(1)
  if (!parts || parts.some((part) => part.length > 1 && part.startsWith('0'))) return null
  const bytes = parts.map(Number)
  return bytes.every((byte) => byte <= 255) ? bytes : null
}

/** The groups of "a:b:c" (an empty string has none); null when one is not 1–4 hex digits. */
function hexGroups(text: string): number[] | null {
  if (text === '') return []
  const groups = text.split(':')
  return groups.every((group) => HEX_GROUP.test(group)) ? groups.map((group) => Number.parseInt(group, 16)) : null
}

/** The eight 16-bit groups of an IPv6 address (`::` expanded, a trailing dotted quad as two groups); null when malformed. */
function ipv6Groups(address: string): number[] | null {
  let text = address
  let tail: number[] = []
  const lastColon = text.lastIndexOf(':')
  if (text.includes('.', lastColon)) {
    const bytes = ipv4Bytes(text.slice(lastColon + 1))
    if (!bytes) return null
    const [a = 0, b = 0, c = 0, d = 0] = bytes
    tail = [(a << 8) | b, (c << 8) | d]
    // Keep the colon(s) before the dotted quad: "::1.2.3.4" → "::", "64:ff9b::1.2.3.4" → "64:ff9b::".
    text = text.slice(0, lastColon + 1)
    if (text.endsWith(':') && !text.endsWith('::')) text = text.slice(0, -1)
  }
  const halves = text.split('::')
  if (halves.length > 2) return null
  const head = hexGroups(halves[0] ?? '')
  const rest = halves.length === 2 ? hexGroups(halves[1] ?? '') : []
  if (!head || !rest) return null
  const given = [...head, ...rest, ...tail]
  if (halves.length === 1) return given.length === 8 ? given : null
  // `::` stands for at least one zero group.
  if (given.length > 7) return null
  return [...head, ...new Array<number>(8 - given.length).fill(0), ...rest, ...tail]
}

const ipv4Prefix = ([a, b, c]: number[]) => `${a}.${b}.${c}.0/24`

/**
 * The network an address belongs to, never the address itself: an IPv4 address's /24
 * (`203.0.113.0/24`), an IPv6 address's /48 (`2001:db8:1::/48`, RFC 5952 form). An IPv4-mapped
 * IPv6 address (`::ffff:203.0.113.7`, as dual-stack sockets report IPv4 clients) counts as IPv4.
 * A zone (`fe80::1%eth0`) is ignored. Null for null and anything that is not an IP address.
 */
export function ipPrefixOf(address: string | null): string | null {
  if (!address) return null
  const v4 = ipv4Bytes(address)
  if (v4) return ipv4Prefix(v4)
  const zone = address.indexOf('%')
  if (zone === address.length - 1) return null
  const groups = ipv6Groups(zone === -1 ? address : address.slice(0, zone))
  if (!groups) return null
  const [g0, g1, g2, g3, g4, g5 = 0, g6 = 0, g7 = 0] = groups
  if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0xffff) {
    return ipv4Prefix([g6 >> 8, g6 & 0xff, g7 >> 8])
  }
  // The last five groups are zero: the longest run of zeros always ends the address, so `::` goes there.
  const network = groups.slice(0, 3)
  while (network.at(-1) === 0) network.pop()
  return `${network.map((group) => group.toString(16)).join(':')}::/48`
}
