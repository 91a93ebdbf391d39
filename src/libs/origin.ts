/** Where a request was sent, as the browser saw it; only what a reverse proxy you run says counts (TRUST_PROXY). */
export interface RequestPlace {
  /** `https://example.com` (scheme and host from X-Forwarded-Proto / X-Forwarded-Host when the proxy is trusted). */
  origin: string
  /** Plain HTTP to localhost, 127.0.0.0/8 or [::1]: the one case where a cookie may go without `Secure`. */
  loopbackHttp: boolean
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/

/** The entry your proxy wrote: the last one (as for X-Forwarded-For, earlier ones come from the client). */
function lastForwarded(request: Request, name: string): string | null {
  return request.headers.get(name)?.split(',').pop()?.trim().toLowerCase() || null
}

export function requestPlace(request: Request, trustProxy: boolean): RequestPlace {
  const url = new URL(request.url)
  const proto = trustProxy ? lastForwarded(request, 'x-forwarded-proto') : null
  const scheme = proto === 'https' || proto === 'http' ? `${proto}:` : url.protocol
  const forwardedHost = trustProxy ? lastForwarded(request, 'x-forwarded-host') : null
  const host = forwardedHost && URL.canParse(`http://${forwardedHost}`) ? new URL(`http://${forwardedHost}`) : url
  return {
    origin: `${scheme}//${host.host}`,
    loopbackHttp: scheme === 'http:' && LOOPBACK_HOST.test(host.hostname),
  }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const isSafe = (method: string | null) => method === null || SAFE_METHODS.has(method.toUpperCase())

/**
 * Whether the request may change something: its method, or the client's method a forward-auth proxy
 * names (Caddy and Traefik send X-Forwarded-Method, the nginx recipe X-Original-Method) when it asks
 * GET /auth/verify on behalf of a POST. Any method not defined as read-only counts.
 */
export function isWrite(request: Request): boolean {
  return (
    !isSafe(request.method) ||
    !isSafe(request.headers.get('x-forwarded-method')) ||
    !isSafe(request.headers.get('x-original-method'))
  )
}

/** `text` is exactly an origin: http(s)://host[:port], nothing after it. */
export function isExactOrigin(text: string): boolean {
  const url = URL.canParse(text) ? new URL(text) : null
  return url !== null && (url.protocol === 'http:' || url.protocol === 'https:') && url.origin === text
}

/**
 * The CSRF rule for writes a browser makes on its own credentials (cookies): the browser's Origin must be
 * the server's own origin or one the operator listed. A missing Origin is refused: every browser sends
 * one with a POST.
 */
export function createOriginCheck(origins: readonly string[], trustProxy: boolean): (request: Request) => boolean {
  const allowed = new Set(origins)
  return function isAllowedOrigin(request) {
    const origin = request.headers.get('origin')
    if (!origin) return false
    return allowed.has(origin) || origin === requestPlace(request, trustProxy).origin
  }
}

/** A cookie's value from the request, or null. */
export function cookieOf(request: Request, name: string): string | null {
  const header = request.headers.get('cookie')
  return header ? new Bun.CookieMap(header).get(name) : null
}
