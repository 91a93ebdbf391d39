/** Where a request was sent, as the browser saw it; only what a reverse proxy you run says counts (TRUST_PROXY). */
export interface RequestPlace {
  /** `https://example.com` (the scheme from X-Forwarded-Proto when the proxy is trusted). */
  origin: string
  /** Plain HTTP to localhost, 127.0.0.0/8 or [::1]: the one case where a cookie may go without `Secure`. */
  loopbackHttp: boolean
}

const LOOPBACK_HOST = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/

export function requestPlace(request: Request, trustProxy: boolean): RequestPlace {
  const url = new URL(request.url)
  const forwarded = trustProxy ? request.headers.get('x-forwarded-proto')?.split(',')[0]?.trim().toLowerCase() : null
  const scheme = forwarded === 'https' || forwarded === 'http' ? `${forwarded}:` : url.protocol
  return { origin: `${scheme}//${url.host}`, loopbackHttp: scheme === 'http:' && LOOPBACK_HOST.test(url.hostname) }
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** POST, PUT, PATCH, DELETE, and any other method that is not defined as read-only. */
export function isUnsafeMethod(method: string): boolean {
  return !SAFE_METHODS.has(method.toUpperCase())
}

/**
 * The CSRF rule for cookie-authenticated writes: the browser's Origin must be this server's own origin
 * or one the operator listed. A missing Origin is refused: every browser sends one with a POST.
 */
export function isAllowedOrigin(request: Request, allowed: ReadonlySet<string>, trustProxy: boolean): boolean {
  const origin = request.headers.get('origin')
  if (!origin) return false
  return allowed.has(origin) || origin === requestPlace(request, trustProxy).origin
}

/** A cookie's value from the request, or null. */
export function cookieOf(request: Request, name: string): string | null {
  const header = request.headers.get('cookie')
  return header ? new Bun.CookieMap(header).get(name) : null
}
