/**
 * The fixed `Bun.serve` options of the server: src/index.ts adds the port, host and the app's handlers,
 * and the tests that drive a real socket build their server from this same object.
 */
export const SERVE_OPTIONS = {
  reusePort: false,
  development: false,
  idleTimeout: 30,
  // Bun answers a declared Content-Length over this limit itself (default 128 MiB), with a bare 413:
  // no JSON body, no x-request-id. Unlimited, every request reaches the app, whose routes that read a
  // body refuse one over MAX_BODY_BYTES from its declared length without reading it (body-limit.ts);
  // the other routes answer without waiting for the body.
  maxRequestBodySize: Number.POSITIVE_INFINITY,
} as const
