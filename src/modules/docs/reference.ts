/// <reference path="./swagger-ui-dist.d.ts" />
import { Elysia } from 'elysia'
import swaggerUiPackage from 'swagger-ui-dist/package.json'
import stylesheetPath from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import bundlePath from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }

/**
 * The API reference at /openapi: Swagger UI from the swagger-ui-dist package, served by wxauth itself
 * (embedded in the compiled binary), so the page loads nothing from a CDN and works offline.
 */

/** In the assets' URLs: a new swagger-ui-dist is a new URL, so the assets may be cached for good. */
export const SWAGGER_UI_VERSION = swaggerUiPackage.version
export const ASSETS_PATH = `/openapi/assets/${SWAGGER_UI_VERSION}`

interface Asset {
  name: string
  path: string
  contentType: string
}

/** The only files served: fixed names, one exact route each. */
export const ASSETS = {
  bundle: { name: 'swagger-ui-bundle.js', path: bundlePath, contentType: 'text/javascript; charset=utf-8' },
  stylesheet: { name: 'swagger-ui.css', path: stylesheetPath, contentType: 'text/css; charset=utf-8' },
} as const satisfies Record<string, Asset>

const assetUrl = (asset: Asset) => `${ASSETS_PATH}/${asset.name}`

export const ASSET_CACHE_CONTROL = 'public, max-age=31536000, immutable'

/** Gzipped on first request, once per process: the bundle goes from 1.7 MB to 0.46 MB in about 30 ms. */
const gzipped = new Map<string, Promise<Uint8Array<ArrayBuffer>>>()
function gzippedBytes(asset: Asset): Promise<Uint8Array<ArrayBuffer>> {
  let bytes = gzipped.get(asset.name)
  if (!bytes) {
    bytes = Bun.file(asset.path)
      .bytes()
      .then((raw) => Bun.gzipSync(raw))
    gzipped.set(asset.name, bytes)
  }
  return bytes
}

/** True when Accept-Encoding takes gzip (by name or `*`) with a weight above 0. */
export function acceptsGzip(acceptEncoding: string | null): boolean {
  for (const part of acceptEncoding?.split(',') ?? []) {
    const [coding = '', ...params] = part.split(';').map((piece) => piece.trim().toLowerCase())
    if (coding !== 'gzip' && coding !== '*') continue
    const weight = params.find((param) => param.startsWith('q='))
    return weight === undefined || Number(weight.slice(2)) > 0
  }
  return false
}

function assetHandler(asset: Asset) {
  const headers = {
    'content-type': asset.contentType,
    'cache-control': ASSET_CACHE_CONTROL,
    'x-content-type-options': 'nosniff',
    vary: 'Accept-Encoding',
  }
  return async function swaggerUiAsset({ request }: { request: Request }): Promise<Response> {
    if (!acceptsGzip(request.headers.get('accept-encoding'))) return new Response(Bun.file(asset.path), { headers })
    return new Response(await gzippedBytes(asset), { headers: { ...headers, 'content-encoding': 'gzip' } })
  }
}

// Relative URLs, as the plugin's own page had: they resolve against /openapi, also behind a proxy
// that serves wxauth under a path prefix.
const relative = (path: string) => path.slice(1)
const INIT_SCRIPT = `SwaggerUIBundle({ url: ${JSON.stringify(relative('/openapi/json'))}, dom_id: '#swagger-ui', validatorUrl: null, deepLinking: true })`

/** The page: the two local assets, the document at /openapi/json, one inline script allowed by its hash. */
export const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wxauth API reference</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${relative(assetUrl(ASSETS.stylesheet))}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${relative(assetUrl(ASSETS.bundle))}"></script>
<script>${INIT_SCRIPT}</script>
</body>
</html>
`

/**
 * Nothing from another origin, no inline script but the init script (by hash), no inline style: Swagger
 * UI sets its styles through the CSSOM, which CSP allows (the browser test opens an operation, runs
 * "Try it out" and the Authorize dialog under this policy). Its stylesheet draws icons as data: images;
 * "Try it out" calls this server.
 */
export const PAGE_CSP = [
  "default-src 'self'",
  `script-src 'self' 'sha256-${Bun.SHA256.hash(INIT_SCRIPT, 'base64')}'`,
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'content-security-policy': PAGE_CSP,
  'cache-control': 'no-cache',
  'x-content-type-options': 'nosniff',
}

const toPageWithoutSlash = () => new Response(null, { status: 308, headers: { location: '../openapi' } })

/** GET /openapi and GET /openapi/assets/<version>/<name>: left out of the OpenAPI document. */
export function createReferencePage() {
  const hide = { detail: { hide: true } }
  return new Elysia({ name: 'wxauth.docs.reference' })
    .get(
      '/openapi',
      function referencePage({ request }) {
        // Elysia routes /openapi/ here too, where the page's relative URLs would miss.
        if (new URL(request.url).pathname.endsWith('/')) return toPageWithoutSlash()
        return new Response(PAGE, { headers: PAGE_HEADERS })
      },
      hide,
    )
    .get(assetUrl(ASSETS.bundle), assetHandler(ASSETS.bundle), hide)
    .get(assetUrl(ASSETS.stylesheet), assetHandler(ASSETS.stylesheet), hide)
}
