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
export const clearedSessionCookie = (place: RequestPlace) =>
  cookieHeader(SESSION_COOKIE, '', { path: '/', maxAgeSeconds: 0 }, place)
