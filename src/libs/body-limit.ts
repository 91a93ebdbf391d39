import { Elysia } from 'elysia'
import { AppError } from './errors'

export const MAX_BODY_BYTES = 64 * 1024
/** How deep a JSON body may nest arrays and objects; wxauth's own bodies are flat objects. */
export const MAX_JSON_DEPTH = 64

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

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d

/**
 * Whether JSON text nests arrays and objects deeper than `maxDepth`, in one pass over the text. Text
 * that is not JSON may get either answer: JSON.parse refuses it anyway.
 */
export function nestsDeeperThan(text: string, maxDepth: number): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i)
    if (inString) {
      if (char === BACKSLASH) i++
      else if (char === QUOTE) inString = false
    } else if (char === QUOTE) inString = true
    else if (char === OPEN_BRACKET || char === OPEN_BRACE) {
      if (++depth > maxDepth) return true
    } else if (char === CLOSE_BRACKET || char === CLOSE_BRACE) depth--
  }
  return false
}

/**
 * Refuses deep nesting before JSON.parse: Elysia's validation of a deeply nested value costs time
 * quadratic in its depth and, some thousands of levels down, overflows the stack (a 500).
 */
function parseJson(text: string): unknown {
  if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new AppError(400, 'VALIDATION', `request body nests deeper than ${MAX_JSON_DEPTH} levels`)
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new AppError(400, 'VALIDATION', 'request body is not valid JSON')
  }
}

/** application/json or a +json type, in any letter case (media types are case-insensitive), parameters or not. */
function isJsonMediaType(contentType: string): boolean {
  const essence = (contentType.split(';', 1)[0] ?? '').trim().toLowerCase()
  return essence === 'application/json' || essence.endsWith('+json')
}

/**
 * Caps the body at 64 KiB (and JSON's nesting at 64 levels) and parses JSON and text bodies, for the
 * routes of the instance that `.use()`s it (scoped): a host app's own routes keep the host's parsers
 * and limits.
 */
export const bodyLimit = () =>
  new Elysia().onParse({ as: 'scoped' }, async function parseBodyWithinLimit({ request }, contentType) {
    if (!request.body) return
    if (Number(request.headers.get('content-length') ?? 0) > MAX_BODY_BYTES) throw tooLarge()
    const text = await readBodyText(request)
    if (text === '') throw new AppError(400, 'VALIDATION', 'request body is empty')
    return isJsonMediaType(contentType) ? parseJson(text) : text
  })
