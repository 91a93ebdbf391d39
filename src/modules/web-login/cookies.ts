import type { RequestPlace } from '../../libs/origin'
import { SESSION_COOKIE } from './model'

/** A cookie only scripts on the page cannot read; `Secure` except over plain HTTP to a loopback host. */
export function cookieHeader(
  name: string,
  value: string,
  { path, maxAgeSeconds }: { path: string; maxAgeSeconds: number },
  place: RequestPlace,
): string {
  return new Bun.Cookie(name, value, {
    path,
    maxAge: maxAgeSeconds,
    httpOnly: true,
    sameSite: 'lax',
    secure: !place.loopbackHttp,
  }).serialize()
}

/** The Set-Cookie that ends a web session in the browser (POST /auth/logout with the cookie). */
export const clearedSessionCookie = (place: RequestPlace) => sessionCookie('', 0, place)

/** The web session's cookie: the whole site (Path=/), for the session's TTL. */
export const sessionCookie = (token: string, ttlSeconds: number, place: RequestPlace) =>
  cookieHeader(SESSION_COOKIE, token, { path: '/', maxAgeSeconds: ttlSeconds }, place)
