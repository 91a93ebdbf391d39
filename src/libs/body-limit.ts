import { Elysia } from 'elysia'
import { AppError } from './errors'

export const MAX_BODY_BYTES = 64 * 1024

function tooLarge(): AppError {
  return new AppError(413, 'PAYLOAD_TOO_LARGE', `request body is larger than ${MAX_BODY_BYTES} bytes`)
}

/** Reads the body as text, giving up as soon as it passes the limit (chunked bodies carry no length). */
async function readTextWithinLimit(body: ReadableStream<Uint8Array>): Promise<string> {
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.byteLength
    if (size > MAX_BODY_BYTES) throw tooLarge()
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** With a declared length (already checked) Bun's native reader is fastest; chunked bodies are streamed. */
async function readBodyText(request: Request): Promise<string> {
  if (request.headers.get('content-length') === null) return readTextWithinLimit(request.body as ReadableStream)
  const text = await request.text()
  if (Buffer.byteLength(text) > MAX_BODY_BYTES) throw tooLarge()
  return text
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    throw new AppError(400, 'VALIDATION', 'request body is not valid JSON')
  }
}

/**
 * Caps the body at 64 KiB and parses JSON and text bodies, for the routes of the instance that
 * `.use()`s it (scoped): a host app's own routes keep the host's parsers and limits.
 */
export const bodyLimit = () =>
  new Elysia().onParse({ as: 'scoped' }, async function parseBodyWithinLimit({ request }, contentType) {
    if (!request.body) return
    if (Number(request.headers.get('content-length') ?? 0) > MAX_BODY_BYTES) throw tooLarge()
    const text = await readBodyText(request)
    if (text === '') throw new AppError(400, 'VALIDATION', 'request body is empty')
    return contentType.includes('json') ? parseJson(text) : text
  })
