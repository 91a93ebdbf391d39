/**
 * A page wxauth serves itself (the web-login example, the admin console): one HTML file whose only code
 * is one inline <script> and one inline <style>. The Content-Security-Policy allows exactly those (by
 * hash), images and requests to this server, and nothing else: no other origin, no framing.
 */
export interface HtmlPage {
  html: string
  headers: Record<string, string>
}

function contentSecurityPolicy(html: string): string {
  const hashes = (tag: string) =>
    [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))]
      .map((match) => `'sha256-${Bun.SHA256.hash(match[1] ?? '', 'base64')}'`)
      .join(' ')
  return [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    "img-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/** `imported` is a file imported `with { type: 'text' }` (embedded in the binary too). */
export function htmlPage(imported: unknown, name: string): HtmlPage {
  if (typeof imported !== 'string') throw new Error(`${name} must be imported as text`)
  return {
    html: imported,
    headers: {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': contentSecurityPolicy(imported),
      'cache-control': 'no-cache',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
    },
  }
}

export const servePage = (page: HtmlPage) => new Response(page.html, { headers: page.headers })
