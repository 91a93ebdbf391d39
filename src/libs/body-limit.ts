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

/** Caps every request body at 64 KiB and parses JSON and text bodies. */
export const bodyLimit = new Elysia({ name: 'wxauth.body-limit' })
  .onRequest(function rejectDeclaredLargeBody({ request }) {
    const declared = Number(request.headers.get('content-length') ?? 0)
    if (declared > MAX_BODY_BYTES) throw tooLarge()
  })
  .onParse({ as: 'global' }, async function parseBodyWithinLimit({ request }, contentType) {
    if (!request.body) return
    const text = await readBodyText(request)
    if (text === '') throw new AppError(400, 'VALIDATION', 'request body is empty')
    return contentType.includes('json') ? parseJson(text) : text
  })
